import { dirname } from "node:path";
import mqtt from "mqtt";
import { afterAll, afterEach, describe, expect, it } from "vitest";
import { CredentialStore } from "../../src/storage/credential-store.js";
import { prepareStateDir } from "../../src/storage/state-dir.js";
import { FAKE_MODEL, type FakeMachine, fakeMachine } from "../fakes/fake-machine.js";
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
const machines: FakeMachine[] = [];

afterEach(async () => {
  await stopAllAgents();
  for (const broker of brokers.splice(0)) await broker.kill();
  for (const machine of machines.splice(0)) machine.remove();
  expect(findLeakedSecrets(started.splice(0))).toEqual([]);
});
afterAll(removeStateDirs);

// CI installs Mosquitto (.ci/run); elsewhere the test is skipped when the broker is not installed.
describe.skipIf(mosquitto === undefined && !process.env.CI)(
  "remote operations against a real Mosquitto",
  () => {
    it("publishes the retained birth record and health, and answers a command on its reply topic", async () => {
      if (mosquitto === undefined) throw new Error("mosquitto is not installed (apt-get install mosquitto)");
      const password = "granted-password-remote-0123456789";
      const broker = await Mosquitto.start(mosquitto, {
        "gw-mosq-remote": password,
        observer: "observer-password",
      });
      brokers.push(broker);
      const stateDir = newStateDir();
      prepareStateDir(stateDir);
      const store = CredentialStore.open(stateDir);
      const { pairingId } = store.saveNew("gw-mosq-remote", password);
      store.markGranted();
      store.close();
      const machine = fakeMachine({ storageFor: dirname(stateDir) });
      machines.push(machine);

      const agent = startAgent(
        {
          ...FAST_TIMINGS,
          CYBUS_AGENT_NAME: "gw-mosq-remote",
          CYBUS_MQTT_HOST: "127.0.0.1",
          CYBUS_MQTT_PORT: String(broker.port),
          CW_AGENT_REGISTRY_URL: "http://127.0.0.1:9",
          CW_AGENT_HEALTH_INTERVAL_S: "1",
          CW_AGENT_SYSFS_ROOT: machine.sysfsRoot,
          CW_AGENT_PROCFS_ROOT: machine.procfsRoot,
        },
        stateDir,
      );
      agent.secretsSeen.add(password);
      started.push(agent);
      await agent.waitForState("online");

      // Mosquitto without an ACL file lets every authenticated client write anywhere: here the observer
      // plays Connectware sending a command.
      const client = await mqtt.connectAsync(`mqtt://127.0.0.1:${broker.port}`, {
        username: "observer",
        password: "observer-password",
        reconnectPeriod: 0,
      });
      const seen: { topic: string; payload: string; retain: boolean }[] = [];
      client.on("message", (topic, payload, packet) =>
        seen.push({ topic, payload: payload.toString(), retain: packet.retain }),
      );
      await client.subscribeAsync("cw-agent/gw-mosq-remote/#", { qos: 1 });
      try {
        await until(() => seen.some((m) => m.topic.endsWith("/info")), "the birth record");
        // Subscribing again makes the broker send what it retained.
        await client.subscribeAsync("cw-agent/gw-mosq-remote/info", { qos: 1 });
        await until(
          () => seen.some((m) => m.topic.endsWith("/info") && m.retain),
          "the retained birth record",
        );
        const info = seen.find((m) => m.topic.endsWith("/info") && m.retain);
        expect(JSON.parse(info?.payload ?? "{}")).toMatchObject({
          pairingId,
          model: FAKE_MODEL,
          state: "online",
        });

        await until(() => seen.some((m) => m.topic.endsWith("/health")), "a health message");
        const health = JSON.parse(seen.find((m) => m.topic.endsWith("/health"))?.payload ?? "{}");
        expect(health).toMatchObject({ cpuTemperatureC: 48.25, registryRequests: 0, mqttReconnects: 0 });

        await client.publishAsync("cw-agent/gw-mosq-remote/cmd/status", '{"id":"m-1"}', { qos: 1 });
        await until(() => seen.some((m) => m.topic.endsWith("/cmd/status/reply")), "the status reply");
        const reply = JSON.parse(seen.find((m) => m.topic.endsWith("/cmd/status/reply"))?.payload ?? "{}");
        expect(reply).toMatchObject({
          id: "m-1",
          ok: true,
          result: { state: "online", agentName: "gw-mosq-remote" },
        });
      } finally {
        await client.endAsync(true);
      }
      expect(await agent.kill("SIGTERM")).toBe(0);
    });
  },
);
