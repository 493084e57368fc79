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
  if (!sim.isBrokerRunning()) await sim.startBroker();
  sim.lock();
  expect(findLeakedSecrets(agents.splice(0))).toEqual([]);
});

describe("MQTT session against the simulator", () => {
  it("a single rejection keeps the credentials; a rejection that persists over the window brings a new registration", async () => {
    sim.unlock(600_000);
    const stateDir = newStateDir();
    const agent = start(
      simEnv(sim, "gw-reject", { CW_AGENT_AUTH_REJECT_WINDOW_MS: "30000", CW_AGENT_AUTH_REJECT_COUNT: "3" }),
      stateDir,
    );
    const firstPairingId = await grantAndWaitOnline(sim, agent);

    // One transient rejection (e.g. the broker's auth backend restarting): reconnect, same credentials.
    let from = agent.lines.length;
    sim.rejectNextConnects(1);
    sim.dropMqttClient("gw-reject");
    await agent.waitForMessage("Broker rejected the credentials", { from });
    await agent.waitForState("online", { from });
    expect(storedCredentials(stateDir)?.pairingId).toBe(firstPairingId);
    expect(
      agent.lines.slice(from).some((line) => line.msg.startsWith("Asking for Connectware registration")),
    ).toBe(false);

    // The admin deletes the user: every login is rejected from now on.
    from = agent.lines.length;
    sim.deleteUser("gw-reject");
    await agent.waitForMessage("Broker keeps rejecting the cached credentials", { from, timeoutMs: 60_000 });
    const newPairingId = await loggedPairingId(agent, from);
    expect(newPairingId).not.toBe(firstPairingId);
    await agent.waitForMessage("with newly generated credentials...", { from });
    const rejections = agent.lines
      .slice(from)
      .filter((line) => line.msg.startsWith("Broker rejected the credentials"));
    expect(rejections.length).toBeGreaterThanOrEqual(3);
    const span = (rejections.at(-1)?.time ?? 0) - (rejections[0]?.time ?? 0);
    expect(span).toBeGreaterThanOrEqual(30_000);

    await grantAndWaitOnline(sim, agent, from);
    expect(storedCredentials(stateDir)).toMatchObject({ status: "granted", pairingId: newPairingId });
  }, 90_000);

  it("network loss: the broker publishes the last will, the agent reconnects on its own and is online again", async () => {
    sim.unlock();
    const agent = start(simEnv(sim, "gw-netloss"));
    await grantAndWaitOnline(sim, agent);
    const status = await watchTopic(sim, "cw-agent/gw-netloss/status");
    await until(() => status.payloads.at(-1) === "online", "online status");

    let from = agent.lines.length;
    sim.dropMqttClient("gw-netloss");
    await until(() => status.payloads.includes("offline"), "the last will");
    await agent.waitForState("online", { from });
    await until(() => status.payloads.at(-1) === "online", "online again");

    // The whole broker goes away for a while, then comes back on the same port.
    from = agent.lines.length;
    await sim.stopBroker();
    await agent.waitForState("reconnecting", { from });
    const attemptsWhileDown = () =>
      agent.lines.slice(from).filter((line) => /MQTT connection|Reconnecting/.test(line.msg)).length;
    await until(() => attemptsWhileDown() >= 2, "repeated reconnect attempts while the broker is down");
    await sim.startBroker();
    await agent.waitForState("online", { from });
    await status.close();
    const after = await watchTopic(sim, "cw-agent/gw-netloss/status");
    await until(() => after.payloads.at(-1) === "online", "retained online after the broker restart");
    await after.close();
  });
});
