import { describe, expect, it } from "vitest";
import { connectMqtt } from "../../src/mqtt/client.js";
import { connectListener } from "./connect-listener.js";

describe("connectMqtt", () => {
  it.each([
    ["an IPv4 address", "127.0.0.1", (port: number) => `mqtt://127.0.0.1:${port}`],
    ["an IPv6 literal in brackets", "::1", (port: number) => `mqtt://[::1]:${port}`],
  ])("reaches the broker's host and port from the URL: %s", async (_what, host, url) => {
    const warnings: Error[] = [];
    const collect = (warning: Error) => warnings.push(warning);
    process.on("warning", collect);
    const { port, connected } = await connectListener(host);
    const client = connectMqtt(url(port), { clientId: "gw-url", reconnectPeriod: 0, connectTimeout: 5_000 });
    try {
      const connect = await connected;
      // The CONNECT packet (type 1) carries the client ID the options gave.
      expect(connect[0]).toBe(0x10);
      expect(connect.includes(Buffer.from("gw-url"))).toBe(true);
    } finally {
      client.end(true);
      process.off("warning", collect);
    }
    // Node 24 warns (DEP0169) when mqtt.js parses a URL string with url.parse().
    expect(warnings.map((warning) => warning.name)).not.toContain("DeprecationWarning");
  });
});
