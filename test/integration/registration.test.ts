import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { type ConnectwareSimulator, startSimulator } from "../../scripts/connectware-sim/simulator.js";
import {
  type AgentProcess,
  findLeakedSecrets,
  newStateDir,
  startAgent,
  stopAllAgents,
} from "./agent-process.js";
import {
  grantAndWaitOnline,
  loggedPairingId,
  simEnv,
  storedCredentials,
  until,
  watchTopic,
} from "./fixtures.js";

let sim: ConnectwareSimulator;
const agents: AgentProcess[] = [];
const start = (env: Record<string, string>, stateDir?: string) => {
  const agent = startAgent(env, stateDir);
  agents.push(agent);
  return agent;
};

beforeAll(async () => {
  sim = await startSimulator();
});
afterAll(async () => {
  await sim.close();
});
afterEach(async () => {
  await stopAllAgents();
  sim.lock();
  expect(findLeakedSecrets(agents.splice(0))).toEqual([]);
});

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
    const env = simEnv(sim, "gw-fresh", {
      CW_AGENT_REGISTRY_URL: sim.registryHttpsUrl,
      CW_AGENT_CA_FILE: sim.caFile,
      CYBUS_MQTT_HOST: "localhost",
      CYBUS_MQTT_SCHEME: "mqtts",
      CYBUS_MQTT_PORT: String(sim.mqttsPort),
    });
    const agent = start(env, stateDir);

    await agent.waitForState("registry-locked");
    expect(
      sim
        .registerCalls()
        .filter((call) => call.username === "gw-fresh")
        .map((call) => call.status),
    ).toContain(423);
    sim.unlock();
    const pairingId = await grantAndWaitOnline(sim, agent);

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
    expect(sim.requests().find((request) => request.username === "gw-fresh")?.pairingId).toBe(pairingId);
    expect(storedCredentials(stateDir)).toMatchObject({ status: "granted", pairingId });

    const status = await watchTopic(sim, "cw-agent/gw-fresh/status");
    await until(() => status.payloads.at(-1) === "online", "retained online status");
    expect(await agent.kill("SIGTERM")).toBe(0);
    await until(() => status.payloads.at(-1) === "offline", "offline status after SIGTERM");

    // Restart: the cached, granted credentials are used silently.
    const callsBefore = sim.registerCalls().length;
    const restarted = start(env, stateDir);
    await restarted.waitForState("online");
    expect(sim.registerCalls().length).toBe(callsBefore);
    expect(restarted.lines.some((line) => line.msg.startsWith("Asking for Connectware registration"))).toBe(
      false,
    );
    await until(() => status.payloads.at(-1) === "online", "online again after restart");
    await status.close();
  });

  it("kill -9 while pending: the restarted agent shows the same pairing ID and the registry holds one request", async () => {
    sim.unlock();
    const stateDir = newStateDir();
    const env = simEnv(sim, "gw-crash");
    const first = start(env, stateDir);
    const pairingId = await loggedPairingId(first);
    await first.waitForState("pending");
    await first.kill("SIGKILL");

    const second = start(env, stateDir);
    expect(await loggedPairingId(second)).toBe(pairingId);
    await second.waitForMessage("with previously generated credentials...");
    await second.waitForState("pending");
    const requests = sim.requests().filter((request) => request.username === "gw-crash");
    expect(requests).toHaveLength(1);
    expect(requests[0]?.pairingId).toBe(pairingId);
    expect(requests[0]?.requestCount).toBeGreaterThanOrEqual(2);
    sim.grant(pairingId);
    await second.waitForState("online");
  });

  it("409 for a stale user: tells the operator, and registers once the admin deleted the user", async () => {
    sim.addUser("gw-stale", "the-old-password", []);
    sim.unlock();
    const agent = start(simEnv(sim, "gw-stale"));
    await agent.waitForState("conflict");
    const conflictLine = await agent.waitForMessage("409 Conflict");
    expect(conflictLine.level).toBe(50);
    expect(conflictLine.msg).toContain('user "gw-stale"');
    expect(conflictLine.msg).toMatch(/Delete that user/);

    const from = agent.lines.length;
    sim.deleteUser("gw-stale");
    await agent.waitForState("pending", { from });
    const pairingId = await loggedPairingId(agent);
    sim.grant(pairingId);
    await agent.waitForState("online", { from });
  });
});
