import { EventEmitter } from "node:events";
import type { IClientOptions, MqttClient } from "mqtt";
import { describe, expect, it } from "vitest";
import { loadConfig } from "../../src/config/config.js";
import { Lifecycle } from "../../src/lifecycle/lifecycle.js";
import { createLogger } from "../../src/logging/logger.js";
import type { MqttClientFactory } from "../../src/mqtt/client.js";
import { type MessageHandler, MqttSession, type Publish } from "../../src/mqtt/session.js";
import type { StoredCredentials } from "../../src/storage/credential-store.js";

type Outcome = "reject" | "refuse" | "accept";

/** Just enough of an mqtt.js client for the session: scripted CONNACKs, publishes recorded. */
class FakeClient extends EventEmitter {
  connected = false;
  readonly published: { topic: string; payload: string }[] = [];
  readonly subscribed: string[] = [];

  constructor(outcome: Outcome) {
    super();
    setImmediate(() => {
      if (outcome === "accept") {
        this.connected = true;
        this.emit("connect");
        return;
      }
      const error =
        outcome === "reject"
          ? Object.assign(new Error("Connection refused: Not authorized"), { code: 5 })
          : Object.assign(new Error("connect ECONNREFUSED 127.0.0.1:1883"), { code: "ECONNREFUSED" });
      this.emit("error", error);
      this.emit("close");
    });
  }

  publish(topic: string, payload: string, _options: unknown, callback?: (error?: Error) => void) {
    this.published.push({ topic, payload: String(payload) });
    callback?.();
  }
  publishAsync(topic: string, payload: string) {
    this.published.push({ topic, payload: String(payload) });
    return Promise.resolve();
  }
  subscribe(topics: string[], _options: unknown, callback?: (error?: Error) => void) {
    this.subscribed.push(...topics);
    callback?.();
  }
  end() {
    this.connected = false;
  }
  endAsync() {
    this.connected = false;
    return Promise.resolve();
  }
  /** The broker goes away after `connectedForMs` of fake time. */
  drop() {
    this.connected = false;
    this.emit("close");
  }
}

function testBed(script: (attempt: number) => Outcome, configEnv: Record<string, string> = {}) {
  const config = loadConfig({
    CYBUS_AGENT_NAME: "gw-fake",
    CYBUS_MQTT_HOST: "127.0.0.1",
    CW_AGENT_STATE_DIR: "/nonexistent",
    CW_AGENT_AUTH_REJECT_COUNT: "3",
    CW_AGENT_AUTH_REJECT_WINDOW_MS: "30000",
    ...configEnv,
  });
  let monotonic = 0;
  const sleeps: number[] = [];
  const clients: FakeClient[] = [];
  const options: IClientOptions[] = [];
  const connect: MqttClientFactory = (_url, clientOptions) => {
    options.push(clientOptions);
    const client = new FakeClient(script(clients.length));
    clients.push(client);
    return client as unknown as MqttClient;
  };
  const lines: string[] = [];
  const logger = createLogger({ level: "warn", destination: { write: (line: string) => lines.push(line) } });
  const lifecycle = new Lifecycle({ agentName: "gw-fake", username: "gw-fake", broker: "b", registry: "r" });
  const bed = {
    config,
    clients,
    options,
    sleeps,
    lines,
    lifecycle,
    advance(ms: number) {
      monotonic += ms;
    },
    get monotonic() {
      return monotonic;
    },
    session(messages?: MessageHandler) {
      return new MqttSession({
        config,
        lifecycle,
        logger,
        connect,
        monotonicNow: () => monotonic,
        random: () => 0.5,
        // Fake time: a sleep only moves the monotonic clock on.
        sleep: async (ms) => {
          sleeps.push(ms);
          monotonic += ms;
        },
        ...(messages ? { messages } : {}),
      });
    },
  };
  return bed;
}

const credentials: StoredCredentials = {
  username: "gw-fake",
  password: "fake-password-for-tests",
  pairingId: "000000",
  status: "granted",
  createdAt: 0,
  grantedAt: 0,
};

describe("MqttSession on fake time", () => {
  it("rejections that persist over the 30 s window end the session, without 30 s of real time", async () => {
    const bed = testBed(() => "reject");
    const startedAt = performance.now();
    expect(await bed.session().run(credentials, new AbortController().signal)).toBe("credentials-rejected");
    expect(performance.now() - startedAt).toBeLessThan(5_000);
    expect(bed.monotonic).toBeGreaterThanOrEqual(30_000);
    expect(bed.clients.length).toBeGreaterThanOrEqual(3);
    // Backoff with jitter between the attempts: the first spread over [0, 4 s] (a whole site loses
    // its broker at once), then doubling up to the cap.
    expect(bed.sleeps.slice(0, 4)).toEqual([2000, 3000, 6000, 12000]);
  });

  it("a refused attempt between two rejections starts the count over: credentials kept for ever", async () => {
    const bed = testBed((attempt) => (attempt % 2 === 0 ? "reject" : "refuse"));
    const stop = new AbortController();
    const session = bed.session();
    const running = session.run(credentials, stop.signal);
    while (bed.clients.length < 40) await new Promise((resolve) => setImmediate(resolve));
    stop.abort();
    expect(await running).toBe("stopped");
    expect(bed.monotonic).toBeGreaterThan(10 * 30_000);
    expect(bed.lines.some((line) => line.includes("keeps rejecting"))).toBe(false);
  });

  it("30 s of stable connection start the backoff over; a shorter one does not", async () => {
    const bed = testBed((attempt) => (attempt < 4 ? "refuse" : "accept"));
    const stop = new AbortController();
    const running = bed.session().run(credentials, stop.signal);
    const connected = async (count: number) => {
      while (bed.clients.length < count || !bed.clients[count - 1]?.connected) {
        await new Promise((resolve) => setImmediate(resolve));
      }
    };
    await connected(5);
    bed.advance(10_000);
    bed.clients[4]?.drop();
    await connected(6);
    bed.advance(31_000);
    bed.clients[5]?.drop();
    await connected(7);
    stop.abort();
    await running;
    // Four refusals grow the delay; a 10 s connection keeps growing it; after 31 s it starts over.
    expect(bed.sleeps).toEqual([2000, 3000, 6000, 12000, 24000, 2000]);
  });

  it("subscribes the message handler's topics after each login, hands it the packet and lets it answer", async () => {
    const bed = testBed(() => "accept");
    const received: string[] = [];
    const logins: Publish[] = [];
    const handler: MessageHandler = {
      subscriptions: ["cw-agent/gw-fake/cmd/+"],
      onLogin(publish) {
        logins.push(publish);
        void publish("cw-agent/gw-fake/info", "{}", { retain: true });
      },
      onMessage(packet, publish) {
        received.push(`${packet.topic} ${packet.payload.toString()} retain=${packet.retain}`);
        void publish(`${packet.topic}/reply`, '{"ok":true}');
      },
    };
    const stop = new AbortController();
    const running = bed.session(handler).run(credentials, stop.signal);
    while (!bed.clients[0]?.connected) await new Promise((resolve) => setImmediate(resolve));
    const client = bed.clients[0];
    expect(client.subscribed).toEqual(["cw-agent/gw-fake/cmd/+"]);
    expect(logins).toHaveLength(1);
    expect(client.published).toContainEqual({ topic: "cw-agent/gw-fake/info", payload: "{}" });
    const payload = Buffer.from('{"id":"1"}');
    client.emit("message", "cw-agent/gw-fake/cmd/identify", payload, {
      cmd: "publish",
      topic: "cw-agent/gw-fake/cmd/identify",
      payload,
      retain: false,
      qos: 1,
      dup: false,
    });
    expect(received).toEqual(['cw-agent/gw-fake/cmd/identify {"id":"1"} retain=false']);
    expect(client.published).toContainEqual({
      topic: "cw-agent/gw-fake/cmd/identify/reply",
      payload: '{"ok":true}',
    });
    expect(bed.options[0]).toMatchObject({ clientId: "gw-fake", protocolVersion: 4, reconnectPeriod: 0 });
    // A publish function outlives its connection only to fail: nothing is queued for a dead one.
    client.drop();
    await expect(logins[0]?.("cw-agent/gw-fake/health", "{}")).rejects.toThrow("not connected");
    stop.abort();
    expect(await running).toBe("stopped");
  });
});
