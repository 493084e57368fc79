import { type AddressInfo, createServer, type Socket } from "node:net";
import mqtt from "mqtt";
import { afterAll, afterEach, describe, expect, it } from "vitest";
import { CredentialStore } from "../../src/storage/credential-store.js";
import { prepareStateDir } from "../../src/storage/state-dir.js";
import {
  type AgentProcess,
  FAST_TIMINGS,
  findLeakedSecrets,
  newStateDir,
  removeStateDirs,
  startAgent,
  stopAllAgents,
} from "./agent-process.js";
import { until } from "./fixtures.js";
import { findMosquitto, Mosquitto } from "./mosquitto.js";

const mosquitto = findMosquitto();
const started: AgentProcess[] = [];
const brokers: Mosquitto[] = [];

afterEach(async () => {
  await stopAllAgents();
  for (const broker of brokers.splice(0)) await broker.kill();
  expect(findLeakedSecrets(started.splice(0))).toEqual([]);
});
afterAll(removeStateDirs);

function seedGrantedCredentials(stateDir: string, username: string, password: string): void {
  prepareStateDir(stateDir);
  const store = CredentialStore.open(stateDir);
  store.saveNew(username, password);
  store.markGranted();
  store.close();
}

/** Collects every retained/live payload of one topic, as a second client sees it. */
async function watchTopic(
  port: number,
  topic: string,
): Promise<{ payloads: string[]; client: mqtt.MqttClient }> {
  const payloads: string[] = [];
  const client = await mqtt.connectAsync(`mqtt://127.0.0.1:${port}`, {
    username: "observer",
    password: "observer-password",
    reconnectPeriod: 100,
  });
  client.on("message", (_topic, payload) => payloads.push(payload.toString()));
  await client.subscribeAsync(topic, { qos: 1 });
  return { payloads, client };
}

// CI installs Mosquitto (.ci/run); elsewhere the test is skipped when the broker is not installed.
describe.skipIf(mosquitto === undefined && !process.env.CI)("against a real Mosquitto broker", () => {
  it("connects with cached credentials, publishes its retained status and reconnects after a kill -9", async () => {
    if (mosquitto === undefined) throw new Error("mosquitto is not installed (apt-get install mosquitto)");
    const password = "granted-password-0123456789";
    const broker = await Mosquitto.start(mosquitto, { "gw-mosq": password, observer: "observer-password" });
    brokers.push(broker);
    const stateDir = newStateDir();
    seedGrantedCredentials(stateDir, "gw-mosq", password);

    const agent = startAgent(
      {
        ...FAST_TIMINGS,
        CYBUS_AGENT_NAME: "gw-mosq",
        CYBUS_MQTT_HOST: "127.0.0.1",
        CYBUS_MQTT_PORT: String(broker.port),
        // Nothing listens here: any registration attempt would show up as a failure in the log.
        CW_AGENT_REGISTRY_URL: "http://127.0.0.1:9",
      },
      stateDir,
    );
    agent.secretsSeen.add(password);
    started.push(agent);
    await agent.waitForState("online");
    expect(agent.lines.some((line) => line.msg.includes("Asking for Connectware registration"))).toBe(false);

    const watcher = await watchTopic(broker.port, "cw-agent/gw-mosq/status");
    await until(() => watcher.payloads.includes("online"), "the retained online status");

    const beforeKill = agent.lines.length;
    await broker.kill();
    await agent.waitForState("reconnecting", { from: beforeKill });
    await broker.launch();
    await agent.waitForState("online", { from: beforeKill });
    const afterRestart = watcher.payloads.length;
    await until(
      () => watcher.payloads.slice(afterRestart).includes("online") || watcher.payloads.at(-1) === "online",
      "online again",
    );

    const beforeStop = agent.lines.length;
    expect(await agent.kill("SIGTERM")).toBe(0);
    expect(agent.lines.slice(beforeStop).some((line) => line.state === "stopped")).toBe(true);
    await until(() => watcher.payloads.at(-1) === "offline", "the offline status after a clean stop");
    await watcher.client.endAsync();
  });
});

describe("a broker that accepts TCP connections and never answers", () => {
  it("times out each attempt, keeps retrying with backoff and keeps the credentials", async () => {
    const silent = createServer((socket) => {
      sockets.push(socket);
    });
    const sockets: Socket[] = [];
    await new Promise<void>((resolve) => silent.listen(0, "127.0.0.1", resolve));
    const port = (silent.address() as AddressInfo).port;
    const stateDir = newStateDir();
    seedGrantedCredentials(stateDir, "gw-silent", "granted-password-silent-0123");
    const agent = startAgent(
      {
        ...FAST_TIMINGS,
        CYBUS_AGENT_NAME: "gw-silent",
        CYBUS_MQTT_HOST: "127.0.0.1",
        CYBUS_MQTT_PORT: String(port),
        CW_AGENT_MQTT_CONNECT_TIMEOUT_MS: "1000",
        CW_AGENT_REGISTRY_URL: "http://127.0.0.1:9",
      },
      stateDir,
    );
    agent.secretsSeen.add("granted-password-silent-0123");
    started.push(agent);
    await agent.waitForState("reconnecting");
    await until(() => sockets.length >= 3, "three connection attempts");
    expect(agent.lines.find((line) => line.state === "reconnecting")?.msg).toContain("connack timeout");
    expect(agent.lines.some((line) => line.msg.startsWith("Asking for Connectware registration"))).toBe(
      false,
    );
    expect(agent.lines.some((line) => line.msg.includes("Broker rejected"))).toBe(false);
    expect(await agent.kill("SIGTERM")).toBe(0);
    for (const socket of sockets) socket.destroy();
    await new Promise((resolve) => silent.close(resolve));
  });
});
