import { readFileSync } from "node:fs";
import { connect as netConnect } from "node:net";
import mqtt, { type IClientOptions, type MqttClient } from "mqtt";
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from "vitest";
import { expectedPairingId } from "../../scripts/connectware-sim/pairing-id.js";
import { type ConnectwareSimulator, startSimulator } from "../../scripts/connectware-sim/simulator.js";

const READ_WRITE_ALL = [{ resourceType: "mqtt", resource: "#", operation: "readWrite" }];

let sim: ConnectwareSimulator;
const openClients: MqttClient[] = [];
const logLines: string[] = [];

function mqttUrl(): string {
  return `mqtt://127.0.0.1:${sim.mqttPort}`;
}

async function connect(
  username: string,
  password: string,
  options: IClientOptions = {},
): Promise<MqttClient> {
  const client = await mqtt.connectAsync(mqttUrl(), {
    username,
    password,
    reconnectPeriod: 0,
    connectTimeout: 5000,
    ...options,
  });
  openClients.push(client);
  return client;
}

/** The CONNACK return code a connection attempt was refused with. */
async function refusalCode(username: string, password: string): Promise<unknown> {
  const error = await connect(username, password).then(
    () => undefined,
    (caught: unknown) => caught,
  );
  return (error as { code?: unknown } | undefined)?.code;
}

function collect(client: MqttClient): { topic: string; payload: string }[] {
  const received: { topic: string; payload: string }[] = [];
  client.on("message", (topic, payload) => received.push({ topic, payload: payload.toString() }));
  return received;
}

/** The granted QoS per topic; 128 is a refusal (mqtt.js rejects the whole call in that case). */
async function subscribeGrants(client: MqttClient, topics: string[]): Promise<number[]> {
  try {
    const grants = await client.subscribeAsync(topics);
    return grants.map((grant) => grant.qos);
  } catch (error) {
    const granted = (error as { packet?: { granted?: unknown[] } }).packet?.granted;
    if (granted === undefined) throw error;
    return granted.map((grant) => Number(grant));
  }
}

function waitForClose(client: MqttClient): Promise<void> {
  return new Promise((resolve) => client.once("close", () => resolve()));
}

beforeAll(async () => {
  sim = await startSimulator({ log: (line) => logLines.push(line) });
});

afterAll(async () => {
  await sim.close();
});

afterEach(async () => {
  sim.lock();
  await Promise.all(openClients.splice(0).map((client) => client.endAsync(true)));
});

describe("authentication", () => {
  it("admits existing users with the right password, over MQTT and MQTTS", async () => {
    sim.addUser("plain-user", "plain-password");
    const plain = await connect("plain-user", "plain-password");
    expect(plain.connected).toBe(true);
    const secure = await mqtt.connectAsync(`mqtts://127.0.0.1:${sim.mqttsPort}`, {
      username: "plain-user",
      password: "plain-password",
      ca: readFileSync(sim.caFile),
      reconnectPeriod: 0,
    });
    openClients.push(secure);
    expect(secure.connected).toBe(true);
    expect(sim.mqttClients().filter((session) => session.username === "plain-user")).toHaveLength(2);
  });

  it("refuses a wrong password with 'bad username or password'", async () => {
    sim.addUser("known-user", "right-password");
    expect(await refusalCode("known-user", "wrong-password")).toBe(4);
  });

  it("refuses unknown users while locked without recording them", async () => {
    expect(await refusalCode("stranger", "some-password")).toBe(5);
    expect(sim.requests().find((request) => request.username === "stranger")).toBeUndefined();
  });

  it("records unknown users as pending while unlocked (implicit flow); granted, they connect without permissions", async () => {
    sim.unlock();
    expect(await refusalCode("implicit-user", "implicit-password")).toBe(5);
    expect(await refusalCode("implicit-user", "implicit-password")).toBe(5);
    expect(sim.requests().find((request) => request.username === "implicit-user")).toMatchObject({
      via: "mqtt",
      status: "pending",
      requestCount: 2,
      pairingId: expectedPairingId("implicit-user", "implicit-password"),
    });
    sim.lock();
    sim.grant("implicit-user");
    expect(sim.users()).toContainEqual({ username: "implicit-user", permissions: [] });

    const client = await connect("implicit-user", "implicit-password");
    expect(await subscribeGrants(client, ["anything/#"])).toEqual([128]);
  });

  it("rejects the next n CONNECTs as a transient rejection", async () => {
    sim.addUser("flaky-user", "flaky-password");
    sim.rejectNextConnects(1);
    expect(await refusalCode("flaky-user", "flaky-password")).toBe(5);
    const client = await connect("flaky-user", "flaky-password");
    expect(client.connected).toBe(true);
  });
});

describe("authorization", () => {
  it("enforces read and write permissions with wildcards and drops refused publishes", async () => {
    sim.addUser("observer", "observer-password", READ_WRITE_ALL);
    sim.addUser("agent-a", "agent-password", [
      { resourceType: "mqtt", resource: "cw-agent/agent-a/#", operation: "readWrite" },
      { resourceType: "mqtt", resource: "commands/+/agent-a", operation: "read" },
    ]);
    const observer = await connect("observer", "observer-password");
    const seen = collect(observer);
    await observer.subscribeAsync("#");

    const agent = await connect("agent-a", "agent-password");
    expect(await subscribeGrants(agent, ["cw-agent/agent-a/+", "commands/x/agent-a", "cw-agent/#"])).toEqual([
      0, 0, 128,
    ]);

    await agent.publishAsync("other/topic", "forbidden", { qos: 1 });
    await agent.publishAsync("commands/x/agent-a", "read-only", { qos: 1 });
    await agent.publishAsync("cw-agent/agent-a/status", "allowed", { qos: 1 });
    await vi.waitFor(() => expect(seen.map((message) => message.payload)).toContain("allowed"));
    expect(seen.map((message) => message.payload)).toEqual(["allowed"]);
    expect(agent.connected).toBe(true);
    expect(logLines.some((line) => line.includes("other/topic"))).toBe(true);
  });
});

describe("sessions, retained messages and last wills", () => {
  it("publishes the last will when a client is dropped, and keeps retained messages", async () => {
    sim.addUser("will-user", "will-password", READ_WRITE_ALL);
    const client = await connect("will-user", "will-password", {
      will: { topic: "cw-agent/will-user/status", payload: Buffer.from("offline"), qos: 1, retain: true },
    });
    await client.publishAsync("cw-agent/will-user/status", "online", { qos: 1, retain: true });
    await vi.waitFor(() => expect(sim.retained("cw-agent/will-user/status")).toBe("online"));

    const closed = waitForClose(client);
    sim.dropMqttClient("will-user");
    await closed;
    await vi.waitFor(() => expect(sim.retained("cw-agent/will-user/status")).toBe("offline"));
    expect(sim.mqttClients().some((session) => session.username === "will-user")).toBe(false);
    expect(sim.retained("no/such/topic")).toBeUndefined();
  });

  it("deleteUser disconnects the user's sessions at once", async () => {
    sim.addUser("doomed-user", "doomed-password");
    const client = await connect("doomed-user", "doomed-password");
    const closed = waitForClose(client);
    sim.deleteUser("doomed-user");
    await closed;
    expect(await refusalCode("doomed-user", "doomed-password")).toBe(5);
    expect(() => sim.deleteUser("doomed-user")).toThrow();
  });

  it("stops and starts the broker on the same ports, keeping retained messages", async () => {
    sim.addUser("restart-user", "restart-password", READ_WRITE_ALL);
    const port = sim.mqttPort;
    const client = await connect("restart-user", "restart-password");
    await client.publishAsync("restart/topic", "kept", { qos: 1, retain: true });
    await vi.waitFor(() => expect(sim.retained("restart/topic")).toBe("kept"));

    const closed = waitForClose(client);
    await sim.stopBroker();
    await closed;
    expect(sim.mqttClients()).toHaveLength(0);
    const refused = await new Promise<string | undefined>((resolve) => {
      const socket = netConnect(port, "127.0.0.1");
      socket.once("connect", () => {
        socket.destroy();
        resolve(undefined);
      });
      socket.once("error", (error: NodeJS.ErrnoException) => resolve(error.code));
    });
    expect(refused).toBe("ECONNREFUSED");

    await sim.startBroker();
    expect(sim.mqttPort).toBe(port);
    const again = await connect("restart-user", "restart-password");
    const seen = collect(again);
    await again.subscribeAsync("restart/topic");
    await vi.waitFor(() => expect(seen).toEqual([{ topic: "restart/topic", payload: "kept" }]));
    expect(sim.retained("restart/topic")).toBe("kept");
  });
});
