import { describe, expect, it } from "vitest";
import { newStateDir } from "./agent-process.js";
import {
  agentTestBed,
  grantAndWaitOnline,
  loggedPairingId,
  simEnv,
  storedCredentials,
  until,
  watchTopic,
} from "./fixtures.js";

const bed = agentTestBed({ resetAfterEach: (sim) => sim.lock() });

const FIVE_LINES = [
  "Starting in distributed (edge) mode",
  /^Asking for Connectware registration at .+ with newly generated credentials\.\.\.$/,
  "The registration process must be finished using the web-interface.",
  'Navigate to "User Management -> Client Registry", click unlock and authorize this client.',
  /^Username: gw-fresh, pairing ID \(should match in UI\): [0-9a-f]{6}$/,
];

describe("registration against the simulator", () => {
  it("fresh: locked -> unlock -> pending -> grant -> online, over HTTPS and MQTTS; restart with cached credentials sends no request", async () => {
    const stateDir = newStateDir();
    const env = simEnv(bed.sim, "gw-fresh", {
      CW_AGENT_REGISTRY_URL: bed.sim.registryHttpsUrl,
      CW_AGENT_CA_FILE: bed.sim.caFile,
      CYBUS_MQTT_HOST: "localhost",
      CYBUS_MQTT_SCHEME: "mqtts",
      CYBUS_MQTT_PORT: String(bed.sim.mqttsPort),
    });
    const agent = bed.start(env, stateDir);

    await agent.waitForState("registry-locked");
    expect(
      bed.sim
        .registerCalls()
        .filter((call) => call.username === "gw-fresh")
        .map((call) => call.status),
    ).toContain(423);
    bed.sim.unlock();
    const pairingId = await grantAndWaitOnline(bed.sim, agent);

    // The five lines of the Connectware documentation, in order, as pino JSON lines.
    const indices = FIVE_LINES.map((expected) =>
      agent.lines.findIndex((line) =>
        typeof expected === "string" ? line.msg === expected : expected.test(line.msg),
      ),
    );
    expect(indices.every((index) => index >= 0)).toBe(true);
    expect([...indices].sort((a, b) => a - b)).toEqual(indices);
    for (const index of indices) {
      const line = agent.lines[index];
      expect(line).toMatchObject({ level: 30, pid: agent.pid });
      expect(typeof line?.time).toBe("number");
      expect(typeof line?.hostname).toBe("string");
    }
    expect(bed.sim.requests().find((request) => request.username === "gw-fresh")?.pairingId).toBe(pairingId);
    expect(storedCredentials(stateDir)).toMatchObject({ status: "granted", pairingId });

    const status = await watchTopic(bed.sim, "cw-agent/gw-fresh/status");
    await until(() => status.payloads.at(-1) === "online", "retained online status");
    expect(await agent.kill("SIGTERM")).toBe(0);
    await until(() => status.payloads.at(-1) === "offline", "offline status after SIGTERM");

    // Restart: the cached, granted credentials are used silently.
    const callsBefore = bed.sim.registerCalls().length;
    const restarted = bed.start(env, stateDir);
    await restarted.waitForState("online");
    expect(bed.sim.registerCalls().length).toBe(callsBefore);
    expect(restarted.lines.some((line) => line.msg.startsWith("Asking for Connectware registration"))).toBe(
      false,
    );
    await until(() => status.payloads.at(-1) === "online", "online again after restart");
    await status.close();
  });

  it("kill -9 while pending: the restarted agent shows the same pairing ID and the registry holds one request", async () => {
    bed.sim.unlock();
    const stateDir = newStateDir();
    const env = simEnv(bed.sim, "gw-crash");
    const first = bed.start(env, stateDir);
    const pairingId = await loggedPairingId(first);
    await first.waitForState("pending");
    await first.kill("SIGKILL");

    const second = bed.start(env, stateDir);
    expect(await loggedPairingId(second)).toBe(pairingId);
    await second.waitForMessage("with previously generated credentials...");
    await second.waitForState("pending");
    const requests = bed.sim.requests().filter((request) => request.username === "gw-crash");
    expect(requests).toHaveLength(1);
    expect(requests[0]?.pairingId).toBe(pairingId);
    expect(requests[0]?.requestCount).toBeGreaterThanOrEqual(2);
    bed.sim.grant(pairingId);
    await second.waitForState("online");
  });

  it("409 for a stale user: tells the operator, and registers once the admin deleted the user", async () => {
    bed.sim.addUser("gw-stale", "the-old-password", []);
    bed.sim.unlock();
    const agent = bed.start(simEnv(bed.sim, "gw-stale"));
    await agent.waitForState("conflict");
    const conflictLine = await agent.waitForMessage("409 Conflict");
    expect(conflictLine.level).toBe(50);
    expect(conflictLine.msg).toContain('user "gw-stale"');
    expect(conflictLine.msg).toMatch(/Delete that user/);

    const from = agent.lines.length;
    bed.sim.deleteUser("gw-stale");
    await agent.waitForState("pending", { from });
    const pairingId = await loggedPairingId(agent);
    bed.sim.grant(pairingId);
    await agent.waitForState("online", { from });
  });
});
