import { describe, expect, it } from "vitest";
import { newStateDir } from "./agent-process.js";
import {
  agentTestBed,
  grantAndWaitOnline,
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
  it("a single rejection keeps the credentials and reconnects", async () => {
    bed.sim.unlock(600_000);
    const stateDir = newStateDir();
    const agent = bed.start(simEnv(bed.sim, "gw-reject"), stateDir);
    const firstPairingId = await grantAndWaitOnline(bed.sim, agent);

    // One transient rejection (e.g. the broker's auth backend restarting): reconnect, same credentials.
    const from = agent.lines.length;
    bed.sim.rejectNextConnects(1);
    bed.sim.dropMqttClient("gw-reject");
    await agent.waitForMessage("Broker rejected the credentials", { from });
    await agent.waitForState("online", { from });
    expect(storedCredentials(stateDir)?.pairingId).toBe(firstPairingId);
    expect(
      agent.lines.slice(from).some((line) => line.msg.startsWith("Asking for Connectware registration")),
    ).toBe(false);

    // A rejection that persists over the window: test/integration/agent-loop.test.ts, on fake time.
  });

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
