import { readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import { ConfigErrors } from "../../src/config/config.js";
import { ConfigError } from "../../src/config/config-error.js";
import { renderEnvTemplate, renderReadmeTable, withReadmeTable } from "../../src/config/settings-docs.js";
import { ALL_SETTINGS, loadSettings } from "../../src/settings.js";

const root = new URL("../../", import.meta.url);
const read = (path: string) => readFileSync(new URL(path, root), "utf8");

describe("the settings table", () => {
  it("generates systemd/cw-agent.env: run `npm run docs:settings` when this fails", () => {
    expect(read("systemd/cw-agent.env")).toBe(renderEnvTemplate(ALL_SETTINGS));
  });

  it("generates systemd/cw-agent@.env: run `npm run docs:settings` when this fails", () => {
    expect(read("systemd/cw-agent@.env")).toBe(renderEnvTemplate(ALL_SETTINGS, { instance: true }));
  });

  it("generates the README's configuration table: run `npm run docs:settings` when this fails", () => {
    const readme = read("README.md");
    expect(readme).toBe(withReadmeTable(readme, renderReadmeTable(ALL_SETTINGS)));
  });

  it("reports every invalid setting at once, each naming its variable", () => {
    let caught: unknown;
    try {
      loadSettings({
        CYBUS_AGENT_NAME: "gw-multi",
        CYBUS_MQTT_HOST: "cw.plant",
        CYBUS_MQTT_PORT: "eighty",
        CW_AGENT_TOPIC_PREFIX: "$SYS",
        CW_AGENT_DISPLAY_MODEL: "crt",
      });
    } catch (error) {
      caught = error;
    }
    expect(caught).toBeInstanceOf(ConfigErrors);
    const errors = (caught as ConfigErrors).errors;
    expect(errors.map((error) => error.variable)).toEqual([
      "CYBUS_MQTT_PORT",
      "CW_AGENT_TOPIC_PREFIX",
      "CW_AGENT_DISPLAY_MODEL",
    ]);
    expect((caught as ConfigError).message).toContain("CYBUS_MQTT_PORT");
    expect((caught as ConfigError).message).toContain("CW_AGENT_DISPLAY_MODEL");
  });

  it("reports a missing agent name once, not again as the username and topic prefix derived from it", () => {
    expect(() => loadSettings({ CYBUS_MQTT_HOST: "cw.plant" })).toThrow(ConfigError);
    try {
      loadSettings({ CYBUS_MQTT_HOST: "cw.plant" });
    } catch (error) {
      expect(error).not.toBeInstanceOf(ConfigErrors);
      expect((error as ConfigError).variable).toBe("CYBUS_AGENT_NAME");
    }
  });

  it("defaults are the table's: the port follows the scheme, names follow the agent name", () => {
    const { agent, indicators } = loadSettings({
      CYBUS_AGENT_NAME: "gw-defaults",
      CYBUS_MQTT_HOST: "cw.plant",
      CYBUS_MQTT_SCHEME: "mqtts",
    });
    expect(agent).toMatchObject({
      username: "gw-defaults",
      topicPrefix: "cw-agent/gw-defaults",
      mqtt: { port: 8883, reconnectMinMs: 1000, authRejectWindowMs: 60_000 },
    });
    expect(agent.registry.baseUrl.href).toBe("https://cw.plant/");
    expect(indicators.display.model).toBe("none");
    expect(indicators.identifySeconds).toBe(30);
  });
});
