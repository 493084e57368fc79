import { pino } from "pino";
import { describe, expect, it } from "vitest";
import { loadConfig } from "../../src/config/config.js";
import { Lifecycle } from "../../src/lifecycle/lifecycle.js";
import { Registration } from "../../src/registration/registration.js";
import type { RegistrationOutcome, RegistryClient } from "../../src/registration/registry-client.js";
import type { StoredCredentials } from "../../src/storage/credential-store.js";
import { ExponentialBackoff, FLEET_SPREAD_STEPS, spreadOver } from "../../src/util/backoff.js";

/** A seeded generator (mulberry32), so the fleet-sized checks below are the same on every run. */
function seeded(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** The busiest 1 s window of a set of instants (ms). */
function busiestSecond(times: number[]): number {
  const sorted = [...times].sort((a, b) => a - b);
  let busiest = 0;
  let first = 0;
  for (let last = 0; last < sorted.length; last++) {
    while ((sorted[last] ?? 0) - (sorted[first] ?? 0) >= 1000) first++;
    busiest = Math.max(busiest, last - first + 1);
  }
  return busiest;
}

describe("ExponentialBackoff with spreadFirst", () => {
  it("spreads the first delay over [0, min·2^steps], then goes on from that step", () => {
    expect(FLEET_SPREAD_STEPS).toBe(2);
    const low = new ExponentialBackoff(1000, 60_000, () => 0, { spreadFirst: true });
    const high = new ExponentialBackoff(1000, 60_000, () => 1, { spreadFirst: true });
    expect([1, 2, 3, 4].map(() => low.next())).toEqual([0, 2000, 4000, 8000]);
    expect([1, 2, 3, 4].map(() => high.next())).toEqual([4000, 4000, 8000, 16_000]);
    high.reset();
    expect(high.next()).toBe(4000);
  });

  it("never exceeds the cap, even in the spread step", () => {
    const backoff = new ExponentialBackoff(1000, 3000, () => 1, { spreadFirst: true });
    expect([1, 2, 3].map(() => backoff.next())).toEqual([3000, 3000, 3000]);
  });

  it("keeps a fleet that lost its broker together out of lockstep, and brings all back within a few steps", () => {
    const random = seeded(7);
    const agents = 1000;
    const firstRetries = Array.from({ length: agents }, () =>
      new ExponentialBackoff(1000, 60_000, random, { spreadFirst: true }).next(),
    );
    const lockstep = Array.from({ length: agents }, () =>
      new ExponentialBackoff(1000, 60_000, random).next(),
    );
    // Without the spread every agent knocks within the same half second.
    expect(busiestSecond(lockstep)).toBe(agents);
    expect(busiestSecond(firstRetries)).toBeLessThan(agents * 0.3);
    expect(Math.max(...firstRetries)).toBeLessThanOrEqual(4000);
  });
});

describe("spreadOver", () => {
  it("picks a phase within one interval", () => {
    expect(spreadOver(2000, () => 0)).toBe(0);
    expect(spreadOver(2000, () => 0.5)).toBe(1000);
    expect(spreadOver(2000, () => 1)).toBe(2000);
  });
});

describe("Registration's first request", () => {
  it("waits a random phase of one pending interval before it asks", async () => {
    const config = loadConfig({ CYBUS_AGENT_NAME: "press-line-7", CYBUS_MQTT_HOST: "connectware.local" });
    const events: string[] = [];
    const client = {
      register: async (): Promise<RegistrationOutcome> => {
        events.push("register");
        return { kind: "granted", body: "{}" } as RegistrationOutcome;
      },
    } as unknown as RegistryClient;
    const registration = new Registration({
      config,
      lifecycle: new Lifecycle({
        agentName: "press-line-7",
        username: "press-line-7",
        broker: "connectware.local:1883",
        registry: "https://connectware.local",
      }),
      logger: pino({ level: "silent" }),
      client,
      random: () => 0.25,
      sleep: async (ms) => {
        events.push(`sleep ${ms}`);
      },
    });
    const credentials: StoredCredentials = {
      username: "press-line-7",
      password: "a-password-of-the-test",
      pairingId: "abcdef",
      status: "pending",
      createdAt: 0,
      grantedAt: undefined,
    };
    expect(await registration.run(credentials, true, new AbortController().signal)).toEqual({ body: "{}" });
    expect(events).toEqual([`sleep ${config.registry.pendingPollMs / 4}`, "register"]);
  });
});
