import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type ConnectwareSimulator, startSimulator } from "../../scripts/connectware-sim/simulator.js";
import { Agent } from "../../src/agent/agent.js";
import { loadConfig } from "../../src/config/config.js";
import type { AgentState } from "../../src/lifecycle/lifecycle.js";
import { createLogger } from "../../src/logging/logger.js";
import { CredentialStore } from "../../src/storage/credential-store.js";
import { simEnv } from "./fixtures.js";

const HOUR = 60 * 60 * 1000;

/**
 * An expired client certificate, in-process against the simulator's real sockets, with the wall
 * clock the agent judges expiry by moved forward by the test and the clock's synchronization
 * reported by the test: the certificate is given up only once the clock is synchronized.
 */
describe("an expired client certificate", () => {
  let sim: ConnectwareSimulator;
  const dirs: string[] = [];
  beforeAll(async () => {
    sim = await startSimulator({ clientCertificates: true });
  });
  afterAll(async () => {
    await sim.close();
    for (const dir of dirs) rmSync(dir, { recursive: true, force: true });
  });

  it("waits for a synchronized clock, then registers anew with a new key", async () => {
    const stateDir = mkdtempSync(join(tmpdir(), "cw-agent-expiry-"));
    dirs.push(stateDir);
    const config = loadConfig(
      simEnv(sim, "gw-expiry", {
        CW_AGENT_STATE_DIR: stateDir,
        CYBUS_MQTT_SCHEME: "mqtts",
        CYBUS_MQTT_PORT: String(sim.mqttsPort),
        CW_AGENT_CA_FILE: sim.caFile,
        CYBUS_USE_MUTUAL_TLS: "true",
      }),
    );
    sim.setCertificateLifetime(2 * HOUR);
    const lines: string[] = [];
    let offset = 0;
    let synchronized = false;
    const agent = new Agent({
      config,
      logger: createLogger({ level: "info", destination: { write: (line: string) => lines.push(line) } }),
      now: () => Date.now() + offset,
      sleep: async (_ms, signal) => {
        if (!signal.aborted) await new Promise((resolve) => setTimeout(resolve, 5));
      },
      clockSynchronized: async () => synchronized,
    });
    const states: { state: AgentState; pairingId: string | undefined }[] = [];
    const waiters: (() => void)[] = [];
    const wake = () => {
      for (const waiter of waiters.splice(0)) waiter();
    };
    agent.observe((status) => {
      states.push({ state: status.state, pairingId: status.pairingId });
      wake();
    });
    const until = async (condition: () => boolean) => {
      while (!condition()) await new Promise<void>((resolve) => waiters.push(resolve));
    };
    const reach = async (state: AgentState, from: number) => {
      await until(() => states.slice(from).some((entry) => entry.state === state));
      return states.slice(from).find((entry) => entry.state === state);
    };
    const storedKey = () => {
      const store = CredentialStore.openReadOnly(stateDir);
      try {
        return store?.load()?.tls?.privateKey;
      } finally {
        store?.close();
      }
    };

    sim.unlock(600_000);
    agent.open();
    agent.start();
    try {
      const first = await reach("pending", 0);
      sim.grant(first?.pairingId as string);
      await reach("online", 0);
      const key = storedKey();
      expect(lines.some((line) => line.includes("The client certificate expires in"))).toBe(true);

      // Three hours later by the wall clock, which is not synchronized: kept, and said so once.
      offset = 3 * HOUR;
      const waiting = setInterval(wake, 10);
      try {
        await until(() => lines.some((line) => line.includes("the system clock is not synchronized yet")));
      } finally {
        clearInterval(waiting);
      }
      expect(states.at(-1)?.state).toBe("online");
      expect(storedKey()).toBe(key);

      const from = states.length;
      synchronized = true;
      const next = await reach("registering", from);
      expect(next?.pairingId).not.toBe(first?.pairingId);
      expect(lines.some((line) => line.includes("The client certificate expired at"))).toBe(true);
      expect(storedKey()).not.toBe(key);
    } finally {
      await agent.stop();
      agent.close();
      sim.setCertificateLifetime(undefined);
    }
  });
});
