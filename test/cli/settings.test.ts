import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { settingsEnvironment } from "../../src/cli/main.js";

describe("settingsEnvironment", () => {
  const envDir = mkdtempSync(join(tmpdir(), "cw-agent-settings-"));
  writeFileSync(
    join(envDir, "cw-agent.env"),
    "# the service's settings\nCYBUS_AGENT_NAME=line-7\nCYBUS_MQTT_HOST='cw.plant'\n",
  );
  writeFileSync(join(envDir, "cw-agent@line1.env"), "CYBUS_MQTT_HOST=cw.plant\n");
  const otherFile = join(envDir, "other.env");
  writeFileSync(otherFile, "CYBUS_AGENT_NAME=other\n");

  it("reads the default unit's file when the shell has no agent settings", () => {
    const env = settingsEnvironment({ PATH: "/usr/bin" }, {}, envDir);
    expect(env).toMatchObject({ PATH: "/usr/bin", CYBUS_AGENT_NAME: "line-7", CYBUS_MQTT_HOST: "cw.plant" });
  });

  it("leaves settings from the environment alone", () => {
    expect(settingsEnvironment({ CYBUS_AGENT_NAME: "shell" }, {}, envDir).CYBUS_MQTT_HOST).toBeUndefined();
  });

  it("prefers --env-file, and does without a default file that does not exist", () => {
    expect(settingsEnvironment({}, { envFile: otherFile }, envDir).CYBUS_AGENT_NAME).toBe("other");
    expect(settingsEnvironment({}, {}, join(envDir, "missing"))).toEqual({});
  });

  it("--instance targets cw-agent@NAME: its name, state and runtime directories and cw-agent@NAME.env", () => {
    const env = settingsEnvironment({ CYBUS_AGENT_NAME: "from-shell" }, { instance: "line1" }, envDir);
    expect(env).toMatchObject({
      CYBUS_AGENT_NAME: "line1",
      CYBUS_MQTT_HOST: "cw.plant",
      STATE_DIRECTORY: "/var/lib/cw-agent@line1",
      RUNTIME_DIRECTORY: "/run/cw-agent@line1",
    });
    expect(settingsEnvironment({}, { instance: "line1", envFile: otherFile }, envDir).CYBUS_AGENT_NAME).toBe(
      "other",
    );
    expect(() => settingsEnvironment({}, { instance: "../etc" }, envDir)).toThrow(/--instance/);
  });
});
