import { ExponentialBackoff } from "../../src/util/backoff.js";

export interface ModelFigures {
  agents: number;
  downS: number;
  /** busiest 1 s window of CONNECTs after the broker is back (mean over the trials) */
  peakPerS: number;
  /** seconds after the broker is back until the last agent connected (mean over the trials) */
  allBackS: number;
}

/**
 * What the measured broker restarts predict for a larger fleet, with the MQTT session's reconnect
 * backoff: every agent loses its connection at the same instant, attempts while the broker is away
 * fail at once (connection refused), the first attempt after it is back succeeds. CPU time, network
 * and the broker's own latency are left out: the figures are the agents' schedule alone.
 */
export function modelBrokerRestart(
  agents: number,
  downMs: number,
  timings: { reconnectMinMs: number; reconnectMaxMs: number },
  trials = 20,
): ModelFigures {
  let peakSum = 0;
  let allBackSum = 0;
  for (let trial = 0; trial < trials; trial++) {
    const connectedAt: number[] = [];
    for (let agent = 0; agent < agents; agent++) {
      const backoff = new ExponentialBackoff(timings.reconnectMinMs, timings.reconnectMaxMs, Math.random, {
        spreadFirst: true,
      });
      let at = 0;
      do at += backoff.next();
      while (at < downMs);
      connectedAt.push(at);
    }
    connectedAt.sort((a, b) => a - b);
    let busiest = 0;
    let first = 0;
    for (let last = 0; last < connectedAt.length; last++) {
      while ((connectedAt[last] ?? 0) - (connectedAt[first] ?? 0) >= 1000) first++;
      busiest = Math.max(busiest, last - first + 1);
    }
    peakSum += busiest;
    allBackSum += ((connectedAt.at(-1) ?? downMs) - downMs) / 1000;
  }
  return { agents, downS: downMs / 1000, peakPerS: peakSum / trials, allBackS: allBackSum / trials };
}
