/**
 * Fleet benchmark: N real `cw-agent run` processes against one Connectware, played by the bundled
 * simulator's registry (HTTPS, on loopback) and a real Mosquitto (password file, on loopback).
 *
 *   npm run bench:fleet -- --agents 25              # one fleet size
 *   npm run bench:fleet -- --agents 25,50,100       # several, one after the other
 *   options: --broker-down-s 5,0 (how long the broker stays away, one restart per value),
 *            --settle-s 31 (online time before each broker restart, past the 30 s after which a
 *            connection counts as stable), --pending-s 10 (how long the fleet waits before the
 *            grant), --model-agents 500 (fleet sizes for the modelled broker restart)
 *
 * Phases, for each N:
 *  1. mass first boot: all agents start with empty state directories against an unlocked registry;
 *     registry requests per second until all are pending, and while they wait; then the
 *     administrator grants all at once (registry and broker): time until all are online.
 *  2. mass restart: all stop (SIGTERM) and start again with their cached credentials: time until
 *     all are online, registry requests (expected: none), CONNECTs per second at the broker.
 *  3. broker restarts: Mosquitto stops cleanly, stays away, starts again on the same port: CONNECTs
 *     per second (counted in the broker's log), time until all are online, credentials unchanged.
 * After each phase: summed RSS and CPU time of the agent processes, and the load average. At the
 * end, the broker restarts modelled for larger fleets with the agents' own reconnect schedule.
 *
 * The agents run with the production timings; only the registry URL, CA and broker port are set.
 */
import { mkdtempSync, rmSync } from "node:fs";
import { loadavg, tmpdir } from "node:os";
import { join } from "node:path";
import { parseArgs } from "node:util";
import { FleetAgent, type ResourceSample, sampleResources } from "./bench-fleet/fleet.js";
import { modelBrokerRestart } from "./bench-fleet/model.js";
import { BenchMosquitto, findMosquitto } from "./bench-fleet/mosquitto.js";
import { mebibytes, peak, perSecond, seconds } from "./bench-fleet/stats.js";
import { type ConnectwareSimulator, startSimulator } from "./connectware-sim/simulator.js";

interface Options {
  sizes: number[];
  brokerDownMs: number[];
  settleMs: number;
  pendingMs: number;
  modelSizes: number[];
}

/** CW_AGENT_RECONNECT_MIN_MS / _MAX_MS defaults, which the measured agents run with too. */
const DEFAULT_RECONNECT = { reconnectMinMs: 1_000, reconnectMaxMs: 60_000 };

interface Resources extends ResourceSample {
  load: string;
}

interface FleetFigures {
  agents: number;
  firstBoot: {
    registryPeakPerS: number;
    registryMeanPerS: number;
    firstRequestSpreadS: number;
    secondsUntilAllPending: number;
    pendingPeakPerS: number;
    pendingMeanPerS: number;
    perSecond: number[];
    secondsUntilAllOnlineAfterGrant: number;
    resourcesPending: Resources;
    resourcesOnline: Resources;
  };
  restart: {
    secondsUntilAllOnline: number;
    registryRequests: number;
    connectPeakPerS: number;
    resources: Resources;
  };
  brokerRestarts: BrokerRestartFigures[];
}

interface BrokerRestartFigures {
  downS: number;
  connects: number;
  connectPeakPerS: number;
  perSecond: number[];
  secondsUntilAllOnlineAfterStart: number;
  registryRequests: number;
  credentialsUnchanged: number;
  idleCpuSeconds: number;
  resources: Resources;
}

function parseOptions(): Options {
  const { values } = parseArgs({
    options: {
      agents: { type: "string", multiple: true, default: ["25"] },
      "broker-down-s": { type: "string", default: "5,0" },
      "settle-s": { type: "string", default: "31" },
      "pending-s": { type: "string", default: "10" },
      "model-agents": { type: "string", default: "500" },
    },
  });
  const counts = (name: string, list: string[], limit: number): number[] => {
    const numbers = list.flatMap((value) => value.split(",")).map((value) => Number(value.trim()));
    if (numbers.some((number) => !Number.isInteger(number) || number < 1 || number > limit)) {
      throw new Error(`--${name} takes whole numbers from 1 to ${limit}, e.g. --${name} 25,50,100`);
    }
    return numbers;
  };
  const milliseconds = (name: string, value: string): number => {
    const number = Number(value);
    if (value.trim() === "" || !Number.isFinite(number) || number < 0) {
      throw new Error(`--${name} takes a number of seconds`);
    }
    return number * 1000;
  };
  return {
    sizes: counts("agents", values.agents, 1_000),
    modelSizes: counts("model-agents", [values["model-agents"]], 100_000),
    brokerDownMs: values["broker-down-s"].split(",").map((value) => milliseconds("broker-down-s", value)),
    settleMs: milliseconds("settle-s", values["settle-s"]),
    pendingMs: milliseconds("pending-s", values["pending-s"]),
  };
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** The last agent's arrival in `state` at or after `since`; throws after `timeoutMs`. */
async function allReached(agents: readonly FleetAgent[], state: string, since: number, timeoutMs: number) {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const times = agents.map((agent) => agent.reached(state, since));
    if (times.every((at) => at !== undefined)) return Math.max(...(times as number[]));
    const failed = agents.find((agent) => agent.pid === undefined && agent.states.length > 0);
    if (failed !== undefined) {
      throw new Error(`${failed.name} exited: ${failed.messages.slice(-3).join(" | ")}`);
    }
    if (Date.now() > deadline) {
      const missing = agents.filter((_, index) => times[index] === undefined);
      const example = missing[0];
      throw new Error(
        `${missing.length} of ${agents.length} agents not ${state} after ${seconds(timeoutMs)} s` +
          (example ? ` (${example.name} is ${example.state ?? "silent"})` : ""),
      );
    }
    await sleep(50);
  }
}

function resources(agents: readonly FleetAgent[]): Resources {
  const pids = agents.map((agent) => agent.pid).filter((pid): pid is number => pid !== undefined);
  const load = loadavg()
    .map((value) => value.toFixed(2))
    .join(" ");
  return { ...sampleResources(pids), load };
}

function describeResources(label: string, sample: Resources): string {
  return (
    `  ${label}: ${sample.processes} processes, RSS ${mebibytes(sample.rssBytes)} MiB ` +
    `(${mebibytes(sample.rssBytes / Math.max(1, sample.processes))} MiB each), ` +
    `CPU ${sample.cpuSeconds.toFixed(1)} s since they started; load ${sample.load}`
  );
}

/**
 * Waits until the connections count as stable (the agents' backoff starts over after 30 s), stops
 * Mosquitto cleanly, keeps it away for `downMs` and starts it again on the same port.
 */
async function restartBroker(
  agents: readonly FleetAgent[],
  sim: ConnectwareSimulator,
  broker: BenchMosquitto,
  downMs: number,
  settleMs: number,
  waitMs: number,
): Promise<BrokerRestartFigures> {
  const settleFrom = resources(agents);
  await sleep(settleMs);
  const settleTo = resources(agents);
  const idleCpuSeconds = settleTo.cpuSeconds - settleFrom.cpuSeconds;
  console.log(
    `online and idle for ${seconds(settleMs)} s: fleet CPU ${idleCpuSeconds.toFixed(2)} s; load ${settleTo.load}`,
  );
  const fingerprintsBefore = agents.map((agent) => agent.credentialFingerprint());
  const callsBefore = sim.registerCalls().length;
  const logBefore = broker.logLines().length;
  const stopAt = Date.now();
  await broker.stop();
  await sleep(downMs);
  const startAt = Date.now();
  await broker.launch();
  const allOnlineAt = await allReached(agents, "online", stopAt, waitMs);
  await sleep(1_000);
  const connects = broker.connects(logBefore).map((line) => line.epochSecond * 1000);
  const buckets = perSecond(connects, Math.min(...connects));
  const registryRequests = sim.registerCalls().length - callsBefore;
  const fingerprintsAfter = agents.map((agent) => agent.credentialFingerprint());
  const credentialsUnchanged = fingerprintsAfter.filter(
    (after, index) => after !== undefined && after === fingerprintsBefore[index],
  ).length;
  console.log(
    `broker restart (down ${seconds(startAt - stopAt)} s): ${connects.length} CONNECTs, peak ${peak(buckets)}/s; ` +
      `all online ${seconds(allOnlineAt - startAt)} s after the broker was back; ${registryRequests} registry requests; ` +
      `credentials unchanged for ${credentialsUnchanged} of ${agents.length}`,
  );
  console.log(`  CONNECTs per second (broker clock): ${buckets.join(" ")}`);
  const after = resources(agents);
  console.log(describeResources("after broker restart", after));
  return {
    downS: (startAt - stopAt) / 1000,
    connects: connects.length,
    connectPeakPerS: peak(buckets),
    perSecond: buckets,
    secondsUntilAllOnlineAfterStart: (allOnlineAt - startAt) / 1000,
    registryRequests,
    credentialsUnchanged,
    idleCpuSeconds,
    resources: after,
  };
}

async function runFleet(
  size: number,
  options: Options,
  mosquittoBinaries: { broker: string; passwd: string },
) {
  const root = mkdtempSync(join(tmpdir(), "cw-agent-bench-fleet-"));
  const waitMs = 60_000 + size * 1_000;
  const sim = await startSimulator({ unlockWindowMs: 24 * 3600_000 });
  const broker = await BenchMosquitto.start(mosquittoBinaries, root);
  const agents: FleetAgent[] = [];
  try {
    sim.unlock();
    const env = {
      CYBUS_MQTT_HOST: "127.0.0.1",
      CYBUS_MQTT_PORT: String(broker.port),
      CW_AGENT_REGISTRY_URL: sim.registryHttpsUrl,
      CW_AGENT_CA_FILE: sim.caFile,
    };
    for (let index = 1; index <= size; index++) {
      const name = `bench-gw-${String(index).padStart(4, "0")}`;
      agents.push(new FleetAgent(name, join(root, name), env));
    }
    console.log(`\n== ${size} agents (registry ${sim.registryHttpsUrl}, Mosquitto on port ${broker.port})`);

    // 1. Mass first boot.
    const bootAt = Date.now();
    for (const agent of agents) agent.start();
    const allPendingAt = await allReached(agents, "pending", bootAt, waitMs);
    const bootCalls = sim.registerCalls().filter((call) => call.at >= bootAt && call.at <= allPendingAt);
    const firstCallAt = Math.min(...bootCalls.map((call) => call.at));
    const firstPerAgent = new Map<string, number>();
    for (const call of bootCalls)
      if (!firstPerAgent.has(call.username)) firstPerAgent.set(call.username, call.at);
    const bootBuckets = perSecond(
      bootCalls.map((call) => call.at),
      firstCallAt,
    );
    const registryMeanPerS = bootCalls.length / Math.max(1, (allPendingAt - firstCallAt) / 1000);
    console.log(
      `first boot: ${bootCalls.length} registry requests until all pending (${seconds(allPendingAt - bootAt)} s after the spawn), ` +
        `peak ${peak(bootBuckets)}/s, mean ${registryMeanPerS.toFixed(1)}/s; ` +
        `first requests spread over ${seconds(Math.max(...firstPerAgent.values()) - firstCallAt)} s`,
    );
    console.log(`  requests per second: ${bootBuckets.join(" ")}`);

    const holdFrom = Date.now();
    await sleep(options.pendingMs);
    const holdTo = Date.now();
    const holdCalls = sim.registerCalls().filter((call) => call.at >= holdFrom && call.at < holdTo);
    const holdBuckets = perSecond(
      holdCalls.map((call) => call.at),
      holdFrom,
    );
    const pendingMeanPerS = holdCalls.length / ((holdTo - holdFrom) / 1000);
    console.log(
      `while pending (${seconds(holdTo - holdFrom)} s): peak ${peak(holdBuckets)}/s, mean ${pendingMeanPerS.toFixed(1)}/s ` +
        `(${holdBuckets.join(" ")})`,
    );
    const resourcesPending = resources(agents);
    console.log(describeResources("pending", resourcesPending));

    const users = new Map<string, string>();
    for (const agent of agents) {
      const credentials = agent.credentials();
      if (credentials === undefined) throw new Error(`${agent.name} has no stored credentials`);
      users.set(credentials.username, credentials.password);
    }
    await broker.setUsers(users);
    const grantAt = Date.now();
    for (const request of sim.requests()) sim.grant(request.username);
    const allOnlineAt = await allReached(agents, "online", grantAt, waitMs);
    console.log(`grant of all ${size} at once: all online after ${seconds(allOnlineAt - grantAt)} s`);
    await sleep(2_000);
    const resourcesOnline = resources(agents);
    console.log(describeResources("online", resourcesOnline));

    // 2. Mass restart with cached credentials.
    const exitCodes = await Promise.all(agents.map((agent) => agent.stop("SIGTERM")));
    const unclean = agents
      .map((agent, index) => ({ agent, code: exitCodes[index] }))
      .filter(({ code }) => code !== 0);
    for (const { agent, code } of unclean) {
      console.log(`  ${agent.name} exited with ${code} on SIGTERM: ${agent.messages.slice(-2).join(" | ")}`);
    }
    const callsBeforeRestart = sim.registerCalls().length;
    const logBeforeRestart = broker.logLines().length;
    const restartAt = Date.now();
    for (const agent of agents) agent.start();
    const restartOnlineAt = await allReached(agents, "online", restartAt, waitMs);
    const restartCalls = sim.registerCalls().length - callsBeforeRestart;
    const restartConnects = broker.connects(logBeforeRestart).map((line) => line.epochSecond * 1000);
    const restartPeak = peak(perSecond(restartConnects, Math.min(...restartConnects)));
    console.log(
      `mass restart: all online after ${seconds(restartOnlineAt - restartAt)} s, ${restartCalls} registry requests, ` +
        `CONNECT peak ${restartPeak}/s`,
    );
    await sleep(2_000);
    const resourcesRestart = resources(agents);
    console.log(describeResources("after restart", resourcesRestart));

    // 3. Broker restarts, each after the connections have become stable.
    const brokerRestarts: BrokerRestartFigures[] = [];
    for (const downMs of options.brokerDownMs) {
      brokerRestarts.push(await restartBroker(agents, sim, broker, downMs, options.settleMs, waitMs));
    }

    return {
      agents: size,
      firstBoot: {
        registryPeakPerS: peak(bootBuckets),
        registryMeanPerS,
        firstRequestSpreadS: (Math.max(...firstPerAgent.values()) - firstCallAt) / 1000,
        secondsUntilAllPending: (allPendingAt - bootAt) / 1000,
        pendingPeakPerS: peak(holdBuckets),
        pendingMeanPerS,
        perSecond: bootBuckets,
        secondsUntilAllOnlineAfterGrant: (allOnlineAt - grantAt) / 1000,
        resourcesPending,
        resourcesOnline,
      },
      restart: {
        secondsUntilAllOnline: (restartOnlineAt - restartAt) / 1000,
        registryRequests: restartCalls,
        connectPeakPerS: restartPeak,
        resources: resourcesRestart,
      },
      brokerRestarts,
    } satisfies FleetFigures;
  } finally {
    await Promise.all(agents.map((agent) => agent.stop("SIGTERM")));
    await broker.stop();
    await sim.close();
    // The state directories hold the (benchmark) passwords.
    rmSync(root, { recursive: true, force: true });
  }
}

function summary(figures: FleetFigures[]): string {
  const rows = [
    "| agents | first boot: registry req/s peak / mean | pending: req/s peak / mean | grant → all online | restart → all online | restart: registry requests | broker restart (down): CONNECT/s peak, back → all online | credentials kept | RSS | CPU s |",
    "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |",
  ];
  for (const f of figures) {
    const last = f.brokerRestarts.at(-1);
    const restarts = f.brokerRestarts
      .map(
        (r) =>
          `(${r.downS.toFixed(1)} s) ${r.connectPeakPerS}/s, ${r.secondsUntilAllOnlineAfterStart.toFixed(1)} s`,
      )
      .join("; ");
    const kept = Math.min(...f.brokerRestarts.map((r) => r.credentialsUnchanged));
    rows.push(
      `| ${f.agents} | ${f.firstBoot.registryPeakPerS} / ${f.firstBoot.registryMeanPerS.toFixed(1)} | ` +
        `${f.firstBoot.pendingPeakPerS} / ${f.firstBoot.pendingMeanPerS.toFixed(1)} | ` +
        `${f.firstBoot.secondsUntilAllOnlineAfterGrant.toFixed(1)} s | ${f.restart.secondsUntilAllOnline.toFixed(1)} s | ` +
        `${f.restart.registryRequests} | ${restarts} | ${kept}/${f.agents} | ` +
        `${last ? `${mebibytes(last.resources.rssBytes)} MiB` : "-"} | ${last ? last.resources.cpuSeconds.toFixed(1) : "-"} |`,
    );
  }
  return rows.join("\n");
}

async function main(): Promise<number> {
  const options = parseOptions();
  const mosquitto = findMosquitto();
  if (mosquitto === undefined) {
    console.error("mosquitto and mosquitto_passwd are needed (apt-get install mosquitto)");
    return 69;
  }
  console.log(
    `load average at start: ${loadavg()
      .map((value) => value.toFixed(2))
      .join(" ")}`,
  );
  const figures: FleetFigures[] = [];
  for (const size of options.sizes) figures.push(await runFleet(size, options, mosquitto));
  console.log(`\n${summary(figures)}`);
  console.log(
    "\nModel of a broker restart with the agents' reconnect schedule (default timings, no CPU or network):",
  );
  for (const agents of [...options.sizes, ...options.modelSizes]) {
    const line = options.brokerDownMs
      .map((downMs) => modelBrokerRestart(agents, downMs, DEFAULT_RECONNECT))
      .map(
        (m) =>
          `down ${m.downS} s: peak ${m.peakPerS.toFixed(0)}/s, all back after ${m.allBackS.toFixed(1)} s`,
      )
      .join("; ");
    console.log(`  ${agents} agents: ${line}`);
  }
  return 0;
}

main().then(
  (code) => {
    process.exitCode = code;
  },
  (error: unknown) => {
    console.error(`bench-fleet failed: ${(error as Error).message}`);
    process.exitCode = 1;
  },
);
