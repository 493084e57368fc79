import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type ConnectwareSimulator, startSimulator } from "../../scripts/connectware-sim/simulator.js";
import { loadConfig } from "../../src/config/config.js";
import { Lifecycle } from "../../src/lifecycle/lifecycle.js";
import { createLogger } from "../../src/logging/logger.js";
import { MqttSession } from "../../src/mqtt/session.js";
import type { StoredCredentials } from "../../src/storage/credential-store.js";
import { newStateDir } from "./agent-process.js";
import { agentTestBed, grantAndWaitOnline, simEnv, storedCredentials } from "./fixtures.js";

const WINDOW_MS = 30_000;

describe("granted credentials survive a broker that rejects for a moment at each restart", () => {
  const bed = agentTestBed();

  it("a rejection, the port closed for longer than the window, another rejection, repeatedly: credentials kept", async () => {
    bed.sim.unlock(600_000);
    const stateDir = newStateDir();
    const agent = bed.start(
      simEnv(bed.sim, "gw-restarts", {
        CW_AGENT_AUTH_REJECT_COUNT: "2",
        CW_AGENT_AUTH_REJECT_WINDOW_MS: String(WINDOW_MS),
        CW_AGENT_RECONNECT_MIN_MS: "500",
        CW_AGENT_RECONNECT_MAX_MS: "2000",
      }),
      stateDir,
    );
    const pairingId = await grantAndWaitOnline(bed.sim, agent);
    const granted = storedCredentials(stateDir);
    const from = agent.lines.length;

    // Each restart of the broker answers the first CONNECT with "not authorized" (its auth backend
    // is still coming up), then the broker goes down again; the first gap is longer than the window.
    let cursor = from;
    const nextRejection = async () => {
      const line = await agent.waitForMessage("Broker rejected the credentials", { from: cursor });
      cursor = agent.lines.indexOf(line) + 1;
    };
    bed.sim.rejectNextConnects(1);
    bed.sim.dropMqttClient("gw-restarts");
    for (const gapMs of [WINDOW_MS + 1_000, 2_000, 2_000]) {
      await nextRejection();
      await bed.sim.stopBroker();
      await new Promise((resolve) => setTimeout(resolve, gapMs));
      bed.sim.rejectNextConnects(1);
      await bed.sim.startBroker();
    }
    await nextRejection();
    await agent.waitForState("online", { from: cursor });

    const after = agent.lines.slice(from);
    expect(after.some((line) => line.msg.startsWith("Broker keeps rejecting"))).toBe(false);
    expect(after.some((line) => line.msg.startsWith("Asking for Connectware registration"))).toBe(false);
    expect(storedCredentials(stateDir)).toEqual(granted);
    expect(storedCredentials(stateDir)?.pairingId).toBe(pairingId);
  }, 90_000);
});

describe("the rejection window is measured on the monotonic clock", () => {
  let sim: ConnectwareSimulator;
  beforeAll(async () => {
    sim = await startSimulator();
  });
  afterAll(() => sim.close());

  it("a wall clock that jumps by an hour at every reading does not shorten the window", async () => {
    const windowMs = 1_500;
    const base = loadConfig(simEnv(sim, "gw-clock-jump", { CW_AGENT_STATE_DIR: "/nonexistent" }));
    const config = {
      ...base,
      mqtt: {
        ...base.mqtt,
        authRejectCount: 3,
        authRejectWindowMs: windowMs,
        reconnectMinMs: 50,
        reconnectMaxMs: 100,
      },
    };
    const lines: string[] = [];
    const logger = createLogger({
      level: "warn",
      destination: { write: (line: string) => lines.push(line) },
    });
    let wallClock = Date.now();
    const jumpingWallClock = () => {
      wallClock += 3_600_000;
      return wallClock;
    };
    const lifecycle = new Lifecycle(
      { agentName: "gw-clock-jump", username: "gw-clock-jump", broker: "sim", registry: "sim" },
      jumpingWallClock,
    );
    // Nobody granted this user: every CONNECT is rejected.
    const credentials: StoredCredentials = {
      username: "gw-clock-jump",
      password: "never-granted-password",
      pairingId: "000000",
      status: "granted",
      createdAt: 0,
      grantedAt: 0,
    };
    const session = new MqttSession({ config, lifecycle, logger, now: jumpingWallClock });
    const startedAt = performance.now();
    const end = await session.run(credentials, AbortSignal.timeout(20_000));
    const elapsedMs = performance.now() - startedAt;

    expect(end).toBe("credentials-rejected");
    expect(elapsedMs).toBeGreaterThanOrEqual(windowMs);
    const rejections = lines.filter((line) => line.includes("Broker rejected the credentials"));
    expect(rejections.length).toBeGreaterThan(3);
  });
});
