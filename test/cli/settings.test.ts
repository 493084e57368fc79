import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { settingsEnvironment } from "../../src/cli/main.js";

describe("settingsEnvironment", () => {
  const dir = mkdtempSync(join(tmpdir(), "cw-agent-settings-"));
  const serviceFile = join(dir, "cw-agent.env");
  writeFileSync(
    serviceFile,
    "# the service's settings\nCYBUS_AGENT_NAME=line-7\nCYBUS_MQTT_HOST='cw.plant'\n",
  );
  const otherFile = join(dir, "other.env");
  writeFileSync(otherFile, "CYBUS_AGENT_NAME=other\n");

  it("reads the installed service's file when the shell has no agent settings", () => {
    const env = settingsEnvironment({ PATH: "/usr/bin" }, undefined, serviceFile);
    expect(env).toMatchObject({ PATH: "/usr/bin", CYBUS_AGENT_NAME: "line-7", CYBUS_MQTT_HOST: "cw.plant" });
  });

  it("leaves settings from the environment alone", () => {
    expect(
      settingsEnvironment({ CYBUS_AGENT_NAME: "shell" }, undefined, serviceFile).CYBUS_MQTT_HOST,
    ).toBeUndefined();
  });

  it("prefers --env-file, and does without a default file that does not exist", () => {
    expect(settingsEnvironment({}, otherFile, serviceFile).CYBUS_AGENT_NAME).toBe("other");
    expect(settingsEnvironment({}, undefined, join(dir, "missing.env"))).toEqual({});
  });
});
