import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { type ConfigEntry, type ConfigReport, configCommand, configReport } from "../../src/cli/config.js";
import { resolveSettings } from "../../src/cli/sources.js";
import { integer, type Setting } from "../../src/config/settings.js";
import { ALL_SETTINGS } from "../../src/settings.js";

const envDir = mkdtempSync(join(tmpdir(), "cw-agent-config-"));
const file = join(envDir, "gateway.env");
writeFileSync(
  file,
  "CYBUS_AGENT_NAME=gw-config\nCYBUS_MQTT_HOST=cw.plant\nCYBUS_MQTT_SCHEME=mqtts\nCW_AGENT_LED_STATUS=gpio:17\n",
);

function run(env: NodeJS.ProcessEnv, json: boolean) {
  const lines = { out: [] as string[], err: [] as string[] };
  const code = configCommand(
    resolveSettings(env, { envFile: file }, envDir),
    { json },
    { out: (text) => lines.out.push(text), err: (text) => lines.err.push(text) },
  );
  return { code, stdout: lines.out.join("\n"), stderr: lines.err.join("\n") };
}

const entry = (report: ConfigReport, name: string) =>
  report.settings.find((setting) => setting.name === name);

describe("cw-agent config", () => {
  it("every setting of the table, its effective value and where it came from", () => {
    const result = run({ CYBUS_LOG_LEVEL: "debug", STATE_DIRECTORY: "/var/lib/cw-agent" }, true);
    expect(result).toMatchObject({ code: 0, stderr: "" });
    const report = JSON.parse(result.stdout) as ConfigReport;
    expect(report.settings.map((setting) => setting.name)).toEqual(Object.keys(ALL_SETTINGS));
    expect(report).toMatchObject({ files: [file], instance: null, valid: true });
    expect(entry(report, "CYBUS_AGENT_NAME")).toEqual<ConfigEntry>({
      name: "CYBUS_AGENT_NAME",
      value: "gw-config",
      source: "file",
      file,
      unit: null,
      default: "(required)",
      secret: false,
      error: null,
    });
    expect(entry(report, "CYBUS_LOG_LEVEL")).toMatchObject({
      value: "debug",
      source: "environment",
      file: null,
    });
    // Defaults as the agent computes them: mqtts implies 8883, the registry follows the broker host.
    expect(entry(report, "CYBUS_MQTT_PORT")).toMatchObject({ value: "8883", source: "default" });
    expect(entry(report, "CW_AGENT_REGISTRY_URL")).toMatchObject({
      value: "https://cw.plant/",
      source: "default",
    });
    expect(entry(report, "CYBUS_MQTT_USERNAME")).toMatchObject({ value: "gw-config", source: "default" });
    expect(entry(report, "CW_AGENT_LED_STATUS")).toMatchObject({ value: "gpio:17", source: "file" });
    expect(entry(report, "CW_AGENT_LED_FAULT")).toMatchObject({ value: "none", source: "default" });
    expect(entry(report, "CW_AGENT_CA_FILE")).toMatchObject({ value: null, default: "system CAs" });
    // systemd's STATE_DIRECTORY sets the state directory where CW_AGENT_STATE_DIR does not.
    expect(entry(report, "CW_AGENT_STATE_DIR")).toMatchObject({
      value: "/var/lib/cw-agent",
      source: "environment",
    });
  });

  it("as text: one line per setting, invalid ones marked, exit 78", () => {
    const result = run({ CYBUS_MQTT_PORT: "99999", CW_AGENT_LED_FAULT: "gpio:17" }, false);
    expect(result.code).toBe(78);
    const lines = result.stdout.split("\n");
    expect(lines[0]).toBe(`cw-agent gw-config: settings read from the environment and ${file}`);
    expect(lines).toContainEqual(
      expect.stringMatching(new RegExp(`^  CYBUS_AGENT_NAME +gw-config +file ${file}$`)),
    );
    expect(lines).toContainEqual(expect.stringMatching(/^ {2}CYBUS_MQTT_PORT +99999 +environment$/));
    expect(lines[lines.findIndex((line) => line.includes("CYBUS_MQTT_PORT")) + 1]).toMatch(
      /^ +! invalid: expected an integer from 1 to 65535$/,
    );
    // A rule across two settings marks the one it names.
    expect(lines[lines.findIndex((line) => line.includes("CW_AGENT_LED_FAULT ")) + 1]).toMatch(
      /^ +! invalid: expected a different LED than CW_AGENT_LED_STATUS$/,
    );
    expect(lines).toContainEqual(expect.stringMatching(/^ {2}CW_AGENT_CA_FILE +\(system CAs\) +default$/));
    expect(result.stderr).toBe("cw-agent: invalid configuration: 2 settings are invalid (marked above)");
  });

  it("never shows a secret or the password of a URL", () => {
    const table: Record<string, Setting<unknown>> = {
      CW_AGENT_ENROLMENT_CODE: { group: "Agent", help: "", defaultText: "", parse: (value) => value },
      CW_AGENT_PROXY: { group: "Agent", help: "", defaultText: "", secret: true, parse: (value) => value },
      CW_AGENT_UPSTREAM: { group: "Agent", help: "", defaultText: "", parse: (value) => value },
      CW_AGENT_LIMIT: { group: "Agent", help: "", defaultText: "1", secret: true, parse: integer(1, 9, 1) },
    };
    const env = {
      CW_AGENT_ENROLMENT_CODE: "code-4711-secret",
      CW_AGENT_PROXY: "proxy-secret-value",
      CW_AGENT_UPSTREAM: "http://user:pass-secret@proxy.plant:3128",
      CW_AGENT_LIMIT: "secret-not-a-number",
    };
    const report = configReport(resolveSettings(env, { envFile: file }, envDir), table);
    const text = JSON.stringify(report);
    for (const secret of ["code-4711", "proxy-secret", "pass-secret", "secret-not"])
      expect(text).not.toContain(secret);
    expect(report.settings.map(({ name, value, secret, error }) => ({ name, value, secret, error }))).toEqual(
      [
        { name: "CW_AGENT_ENROLMENT_CODE", value: null, secret: true, error: null },
        { name: "CW_AGENT_PROXY", value: null, secret: true, error: null },
        { name: "CW_AGENT_UPSTREAM", value: "http://user:***@proxy.plant:3128", secret: false, error: null },
        { name: "CW_AGENT_LIMIT", value: null, secret: true, error: "expected an integer from 1 to 9" },
      ],
    );
    expect(report.valid).toBe(false);
  });
});
