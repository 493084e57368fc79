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

const bed = agentTestBed({
  resetAfterEach: async (sim) => {
    if (!sim.isBrokerRunning()) await sim.startBroker();
    sim.lock();
  },
});

describe("MQTT session against the simulator", () => {
  it("a single rejection keeps the credentials; a rejection that persists over the window brings a new registration", async () => {
    bed.sim.unlock(600_000);
    const stateDir = newStateDir();
    const agent = bed.start(
      simEnv(bed.sim, "gw-reject", {
        CW_AGENT_AUTH_REJECT_WINDOW_MS: "30000",
        CW_AGENT_AUTH_REJECT_COUNT: "3",
      }),
      stateDir,
    );
    const firstPairingId = await grantAndWaitOnline(bed.sim, agent);

    // One transient rejection (e.g. the broker's auth backend restarting): reconnect, same credentials.
    let from = agent.lines.length;
    bed.sim.rejectNextConnects(1);
    bed.sim.dropMqttClient("gw-reject");
    await agent.waitForMessage("Broker rejected the credentials", { from });
    await agent.waitForState("online", { from });
    expect(storedCredentials(stateDir)?.pairingId).toBe(firstPairingId);
    expect(
      agent.lines.slice(from).some((line) => line.msg.startsWith("Asking for Connectware registration")),
    ).toBe(false);

    // The admin deletes the user: every login is rejected from now on.
    from = agent.lines.length;
    bed.sim.deleteUser("gw-reject");
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

    await grantAndWaitOnline(bed.sim, agent, from);
    expect(storedCredentials(stateDir)).toMatchObject({ status: "granted", pairingId: newPairingId });
  }, 90_000);

  it("network loss: the broker publishes the last will, the agent reconnects on its own and is online again", async () => {
    bed.sim.unlock();
    const agent = bed.start(simEnv(bed.sim, "gw-netloss"));
    await grantAndWaitOnline(bed.sim, agent);
    const status = await watchTopic(bed.sim, "cw-agent/gw-netloss/status");
    await until(() => status.payloads.at(-1) === "online", "online status");

    let from = agent.lines.length;
    bed.sim.dropMqttClient("gw-netloss");
    await until(() => status.payloads.includes("offline"), "the last will");
    await agent.waitForState("online", { from });
    await until(() => status.payloads.at(-1) === "online", "online again");

    // The whole broker goes away for a while, then comes back on the same port.
    from = agent.lines.length;
    await bed.sim.stopBroker();
    await agent.waitForState("reconnecting", { from });
    const attemptsWhileDown = () =>
      agent.lines.slice(from).filter((line) => /MQTT connection|Reconnecting/.test(line.msg)).length;
    await until(() => attemptsWhileDown() >= 2, "repeated reconnect attempts while the broker is down");
    await bed.sim.startBroker();
    await agent.waitForState("online", { from });
    await status.close();
    const after = await watchTopic(bed.sim, "cw-agent/gw-netloss/status");
    await until(() => after.payloads.at(-1) === "online", "retained online after the broker restart");
    await after.close();
  });
});
