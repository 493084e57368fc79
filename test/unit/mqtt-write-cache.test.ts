import { createRequire } from "node:module";
import { describe, expect, it } from "vitest";
import { loadConfig } from "../../src/config/config.js";
import { clientOptions, connectMqtt } from "../../src/mqtt/client.js";
import { connectListener } from "./connect-listener.js";

// A file of its own: the cache is global to the process, and any client with mqtt.js's default
// options builds it.

describe("the agent's MQTT clients", () => {
  it("leaves mqtt-packet's number cache unbuilt: no 65,536 buffers held for the life of the agent", async () => {
    const numbers = createRequire(createRequire(import.meta.url).resolve("mqtt")).resolve(
      "mqtt-packet/numbers",
    );
    const cache = (createRequire(import.meta.url)(numbers) as { cache: Record<number, Buffer> }).cache;
    const { port, connected } = await connectListener("127.0.0.1");
    const config = loadConfig({ CYBUS_AGENT_NAME: "gw-cache", CYBUS_MQTT_HOST: "127.0.0.1" });
    const login = { clientId: "gw-cache", username: "gw-cache", password: "pw-of-the-test" };
    const client = connectMqtt(
      `mqtt://127.0.0.1:${port}`,
      clientOptions(config, login, { connectTimeout: 5_000 }),
    );
    try {
      // The CONNECT went out: mqtt-packet would have built the cache before writing it.
      expect((await connected)[0]).toBe(0x10);
      expect(Object.keys(cache)).toHaveLength(0);
    } finally {
      client.end(true);
    }
  });
});
