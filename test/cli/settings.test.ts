import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { publicMessage, settingsOrExit } from "../../src/cli/context.js";
import { settingsEnvironment } from "../../src/cli/main.js";
import { describeOrigin, originOf, type ResolvedSettings, resolveSettings } from "../../src/cli/sources.js";
import { ConfigError } from "../../src/config/config-error.js";

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

describe("where the settings came from", () => {
  const envDir = mkdtempSync(join(tmpdir(), "cw-agent-sources-"));
  const serviceFile = join(envDir, "cw-agent.env");
  writeFileSync(serviceFile, "CYBUS_AGENT_NAME=line-7\nCYBUS_MQTT_PORT=abc\nCYBUS_LOG_LEVEL=\n");
  writeFileSync(join(envDir, "cw-agent@line1.env"), "CYBUS_MQTT_HOST=cw.plant\n");
  const lines = (resolved: ResolvedSettings) => {
    const output = { text: [] as string[], out: () => {}, err: (text: string) => output.text.push(text) };
    expect(settingsOrExit(resolved.env, output, resolved)).toBe(78);
    return output.text;
  };

  it("names the file or the environment that supplied each invalid value, and the files read", () => {
    const resolved = resolveSettings({ CYBUS_MQTT_HOST: "bad host" }, {}, envDir);
    expect(originOf(resolved, "CYBUS_AGENT_NAME")).toEqual({ kind: "file", path: serviceFile });
    expect(originOf(resolved, "CYBUS_MQTT_HOST")).toEqual({ kind: "environment" });
    expect(originOf(resolved, "CYBUS_MQTT_SCHEME")).toEqual({ kind: "default" });
    expect(describeOrigin(originOf(resolved, "CYBUS_LOG_LEVEL"))).toBe(
      `default (empty in file ${serviceFile})`,
    );
    expect(lines(resolved)).toEqual([
      'cw-agent: invalid configuration: CYBUS_MQTT_HOST="bad host" is invalid: expected a host name or IP address without scheme, port or path (from the environment)',
      `cw-agent: invalid configuration: CYBUS_MQTT_PORT="abc" is invalid: expected an integer from 1 to 65535 (from ${serviceFile})`,
      `cw-agent: settings read from the environment and ${serviceFile}; "cw-agent config" shows where each one came from`,
    ]);
  });

  it("advises --env-file only when no file was read, and says why none was", () => {
    const named = resolveSettings({ CYBUS_AGENT_NAME: "from-shell" }, {}, envDir);
    expect(named.files).toEqual([]);
    expect(lines(named)).toEqual([
      "cw-agent: invalid configuration: CYBUS_MQTT_HOST is required but not set: expected a non-empty value",
      `cw-agent: settings read from the environment only (it sets CYBUS_AGENT_NAME, so the service's ${serviceFile} was not read); for the service's settings pass --env-file ${serviceFile}, or --instance NAME for cw-agent@NAME`,
    ]);
    const missingDir = join(envDir, "missing");
    expect(lines(resolveSettings({}, {}, missingDir)).at(-1)).toBe(
      `cw-agent: settings read from the environment only (${join(missingDir, "cw-agent.env")} does not exist); set them in the environment, or pass --env-file FILE, or --instance NAME for cw-agent@NAME`,
    );
  });

  it("an instance: the unit sets the agent name and directories, its file the rest", () => {
    const resolved = resolveSettings({ CYBUS_MQTT_PORT: "0" }, { instance: "line1" }, envDir);
    expect(originOf(resolved, "CYBUS_AGENT_NAME")).toEqual({ kind: "unit", unit: "cw-agent@line1" });
    expect(originOf(resolved, "CYBUS_MQTT_HOST")).toEqual({
      kind: "file",
      path: join(envDir, "cw-agent@line1.env"),
    });
    expect(lines(resolved)).toEqual([
      'cw-agent: invalid configuration: CYBUS_MQTT_PORT="0" is invalid: expected an integer from 1 to 65535 (from the environment)',
      `cw-agent: settings read from the environment and ${join(envDir, "cw-agent@line1.env")}; "cw-agent config --instance line1" shows where each one came from`,
    ]);
    expect(() => resolveSettings({}, { instance: "line2" }, envDir)).toThrow(
      `cannot read the settings of cw-agent@line2, ${join(envDir, "cw-agent@line2.env")}: no such file (ENOENT)`,
    );
  });

  it("never prints the value of a secret, nor the password of a URL", () => {
    const secret = new ConfigError("CW_AGENT_ENROLMENT_TOKEN", "tok-123456", "a token");
    expect(publicMessage(secret)).toBe(
      "CW_AGENT_ENROLMENT_TOKEN is invalid (value not shown): expected a token",
    );
    const url = new ConfigError("CW_AGENT_REGISTRY_URL", "https://admin:hunter2@cw.plant", "a URL");
    expect(publicMessage(url)).toBe(
      'CW_AGENT_REGISTRY_URL="https://admin:***@cw.plant" is invalid: expected a URL',
    );
  });
});
