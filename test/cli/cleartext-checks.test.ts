import { describe, expect, it } from "vitest";
import { checkTls } from "../../src/cli/check/network-checks.js";
import { loadConfig } from "../../src/config/config.js";

const config = loadConfig({ CYBUS_AGENT_NAME: "gw-plain", CYBUS_MQTT_HOST: "127.0.0.1" });

describe("TLS checks of plain transports", () => {
  it.each([
    ["registry", "http://", "https://"],
    ["broker", "mqtt://", "CYBUS_MQTT_SCHEME=mqtts"],
  ] as const)(
    "%s: a warning that the password goes in cleartext, with the fix",
    async (role, scheme, fix) => {
      const result = await checkTls(
        { role, host: "cw.plant", port: 1, tls: false, settings: "" },
        config,
        Date.now(),
        1000,
      );
      expect(result.outcome).toBe("warning");
      expect(result.message).toContain(`${scheme} is configured`);
      expect(result.message).toContain("cleartext");
      expect(result.hint).toContain(fix);
    },
  );
});
