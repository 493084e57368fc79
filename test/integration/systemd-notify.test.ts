import { afterEach, describe, expect, it } from "vitest";
import { HAVE_PYTHON, HAVE_SYSTEMD_NOTIFY, NotifyListener } from "../systemd/notify-listener.js";
import { agentTestBed, loggedPairingId, simEnv } from "./fixtures.js";

const bed = agentTestBed({ resetAfterEach: (sim) => sim.lock() });
const listeners: NotifyListener[] = [];
afterEach(async () => {
  for (const listener of listeners.splice(0)) await listener.stop();
});

describe.skipIf(!HAVE_PYTHON || !HAVE_SYSTEMD_NOTIFY)("cw-agent run under a notify socket", () => {
  it("is READY before MQTT, reports every state in STATUS=, pings the watchdog and says STOPPING", async () => {
    const listener = await NotifyListener.start();
    listeners.push(listener);
    bed.sim.unlock();
    const agent = bed.start(
      simEnv(bed.sim, "gw-notify", { NOTIFY_SOCKET: listener.socketPath, WATCHDOG_USEC: "1000000" }),
    );
    const pairingId = await loggedPairingId(agent);
    const pendingStatus = `STATUS=Waiting for authorization, pairing ID ${pairingId}`;
    await listener.until((l) => l.messages.includes(pendingStatus));
    // READY while still waiting for the administrator: startup does not wait for MQTT.
    expect(listener.messages.filter((message) => message === "READY=1")).toHaveLength(1);

    bed.sim.grant(pairingId);
    await listener.until((l) => l.messages.includes(`STATUS=Online (127.0.0.1:${bed.sim.mqttPort})`));
    await listener.until((l) => l.messages.filter((message) => message === "WATCHDOG=1").length >= 2);

    expect(await agent.kill("SIGTERM")).toBe(0);
    await listener.until((l) => l.messages.includes("STOPPING=1"));
    const statuses = listener.messages.filter((message) => message.startsWith("STATUS="));
    expect(statuses.indexOf(pendingStatus)).toBeLessThan(
      statuses.indexOf(`STATUS=Online (127.0.0.1:${bed.sim.mqttPort})`),
    );
    expect(listener.messages.filter((message) => message === "READY=1")).toHaveLength(1);
  });
});
