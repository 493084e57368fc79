import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type ConnectwareSimulator, startSimulator } from "../../scripts/connectware-sim/simulator.js";
import { Agent } from "../../src/agent/agent.js";
import { loadConfig } from "../../src/config/config.js";
import type { AgentState } from "../../src/lifecycle/lifecycle.js";
import { createLogger } from "../../src/logging/logger.js";
import { simEnv } from "./fixtures.js";

/**
 * The agent's registration and session loops in-process against the simulator's real sockets, on a
 * fake monotonic clock: every sleep moves the clock on instead of waiting, so a 30 s rule takes
 * milliseconds.
 */
describe("the agent loop on fake time", () => {
  let sim: ConnectwareSimulator;
  const dirs: string[] = [];
  beforeAll(async () => {
    sim = await startSimulator();
  });
  afterAll(async () => {
    await sim.close();
    for (const dir of dirs) rmSync(dir, { recursive: true, force: true });
  });

  it("a user deleted in Connectware: rejections over the 30 s window bring a new registration", async () => {
    const stateDir = mkdtempSync(join(tmpdir(), "cw-agent-loop-"));
    dirs.push(stateDir);
    const config = loadConfig(
      simEnv(sim, "gw-loop", {
        CW_AGENT_STATE_DIR: stateDir,
        CW_AGENT_AUTH_REJECT_COUNT: "3",
        CW_AGENT_AUTH_REJECT_WINDOW_MS: "30000",
      }),
    );
    const lines: string[] = [];
    let monotonic = 0;
    const agent = new Agent({
      config,
      logger: createLogger({ level: "info", destination: { write: (line: string) => lines.push(line) } }),
      monotonicNow: () => monotonic,
      sleep: async (ms) => {
        monotonic += ms;
        await new Promise((resolve) => setTimeout(resolve, 5));
      },
    });
    const states: { state: AgentState; pairingId: string | undefined }[] = [];
    const waiters: (() => void)[] = [];
    agent.observe((status) => {
      states.push({ state: status.state, pairingId: status.pairingId });
      for (const wake of waiters.splice(0)) wake();
    });
    const reach = async (state: AgentState, from: number) => {
      while (!states.slice(from).some((entry) => entry.state === state)) {
        await new Promise<void>((resolve) => waiters.push(resolve));
      }
      return states.slice(from).find((entry) => entry.state === state);
    };

    sim.unlock(600_000);
    agent.open();
    agent.start();
    try {
      const first = await reach("pending", 0);
      sim.grant(first?.pairingId as string);
      await reach("online", 0);

      const from = states.length;
      const startedAt = performance.now();
      const monotonicAt = monotonic;
      sim.deleteUser("gw-loop");
      const next = await reach("pending", from);
      expect(next?.pairingId).not.toBe(first?.pairingId);
      expect(monotonic - monotonicAt).toBeGreaterThanOrEqual(30_000);
      expect(performance.now() - startedAt).toBeLessThan(20_000);
      expect(lines.some((line) => line.includes("Broker keeps rejecting the cached credentials"))).toBe(true);
      const rejections = lines.filter((line) => line.includes("Broker rejected the credentials"));
      expect(rejections.length).toBeGreaterThanOrEqual(3);
      // Each subsystem logs under its own component, for `jq 'select(.component=="mqtt")'`.
      const componentOf = (fragment: string) =>
        (JSON.parse(lines.find((line) => line.includes(fragment)) ?? "{}") as { component?: string })
          .component;
      expect(componentOf("Broker rejected the credentials")).toBe("mqtt");
      expect(componentOf("Asking for Connectware registration")).toBe("registration");
      expect(componentOf('"state":"pending"')).toBe("agent");

      sim.grant(next?.pairingId as string);
      await reach("online", from);
    } finally {
      await agent.stop();
      agent.close();
    }
  });
});
