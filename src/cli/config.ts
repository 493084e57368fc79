import { eachInvalidSetting } from "../config/config.js";
import { ConfigError } from "../config/config-error.js";
import { isSecretName, rawValue, type Setting } from "../config/settings.js";
import { EXIT_CONFIG, EXIT_OK } from "../exit-codes.js";
import { ALL_SETTINGS, loadSettings, type Settings } from "../settings.js";
import { describeSources, withoutUrlPassword } from "./context.js";
import type { Output } from "./output.js";
import { describeOrigin, originOf, type ResolvedSettings, type SettingOrigin } from "./sources.js";

/** One setting of `cw-agent config --json`: the same keys for every setting. */
export interface ConfigEntry {
  name: string;
  /** The value the agent would use, as text; null when there is none or it is a secret. */
  value: string | null;
  source: "default" | "file" | "environment" | "unit";
  /** The file that set it (source "file"). */
  file: string | null;
  /** The template unit that set it (source "unit"). */
  unit: string | null;
  /** What the settings table documents as its default. */
  default: string;
  /** A secret: its value is never shown. */
  secret: boolean;
  /** Why the value is invalid; null when it is valid. */
  error: string | null;
}

export interface ConfigReport {
  /** The settings files read. */
  files: string[];
  instance: string | null;
  valid: boolean;
  settings: ConfigEntry[];
}

const NOT_SHOWN = "(secret, not shown)";

/**
 * `cw-agent config [--json]`: every setting with the value the agent would use and where it came
 * from. Secrets are not printed, nor the password part of any URL. Exit 78 when a setting is invalid.
 */
export function configCommand(
  resolved: ResolvedSettings,
  options: { json: boolean },
  output: Output,
): number {
  const report = configReport(resolved);
  if (options.json) {
    output.out(JSON.stringify(report, null, 2));
  } else {
    output.out(formatReport(report, resolved));
  }
  if (report.valid) return EXIT_OK;
  const invalid = report.settings.filter((entry) => entry.error !== null).length;
  output.err(
    `cw-agent: invalid configuration: ${invalid === 1 ? "1 setting is" : `${invalid} settings are`} invalid${options.json ? "" : " (marked above)"}`,
  );
  return EXIT_CONFIG;
}

/**
 * The report of `config`. `table` is the settings table (a test passes its own); the agent's
 * cross-setting rules (two LEDs on one line) are judged by loading all settings.
 */
export function configReport(
  resolved: ResolvedSettings,
  table: Readonly<Record<string, Setting<unknown>>> = ALL_SETTINGS,
): ConfigReport {
  const { env } = resolved;
  const problems = new Map<string, Map<string, string>>();
  const addProblem = (error: ConfigError) => {
    const messages = problems.get(error.variable) ?? new Map<string, string>();
    messages.set(error.message, withoutValue(error));
    problems.set(error.variable, messages);
  };
  let settings: Settings | undefined;
  try {
    settings = loadSettings(env);
  } catch (error) {
    if (!(error instanceof ConfigError)) throw error;
    for (const invalid of eachInvalidSetting(error)) if (invalid.variable in table) addProblem(invalid);
  }
  const derived = derivedDefaults(env, settings);
  const entries = Object.entries(table).map(([name, setting]): ConfigEntry => {
    const origin = effectiveOrigin(resolved, name);
    const secret = setting.secret === true || isSecretName(name);
    const raw = rawValue(env, name);
    let value: string | null = null;
    try {
      const parsed = setting.parse(raw, env, name);
      value = raw ?? derived.get(name) ?? defaultText(parsed, setting.defaultText);
    } catch (error) {
      if (!(error instanceof ConfigError)) throw error;
      addProblem(error);
      value = raw ?? null;
    }
    const messages = problems.get(name);
    return {
      name,
      value: secret || value === null ? null : withoutUrlPassword(value),
      source: origin.kind,
      file: origin.kind === "file" ? origin.path : null,
      unit: origin.kind === "unit" ? origin.unit : null,
      default: setting.defaultText,
      secret,
      error: messages === undefined ? null : [...messages.values()].join("; "),
    };
  });
  return {
    files: [...resolved.files],
    instance: resolved.instance ?? null,
    valid: problems.size === 0,
    settings: entries,
  };
}

/** Defaults that follow from other settings, where the table describes them in words. */
function derivedDefaults(env: NodeJS.ProcessEnv, settings: Settings | undefined): Map<string, string> {
  const derived = new Map<string, string>();
  const host = rawValue(env, "CYBUS_MQTT_HOST");
  if (host !== undefined) derived.set("CYBUS_HOSTNAME_INGRESS", host);
  if (settings !== undefined) derived.set("CW_AGENT_REGISTRY_URL", settings.agent.registry.baseUrl.href);
  return derived;
}

/**
 * Where a setting's value came from. The state directory's default is systemd's STATE_DIRECTORY
 * where that is set: then it comes from wherever STATE_DIRECTORY came from.
 */
function effectiveOrigin(resolved: ResolvedSettings, name: string): SettingOrigin {
  const origin = originOf(resolved, name);
  if (
    name === "CW_AGENT_STATE_DIR" &&
    origin.kind === "default" &&
    rawValue(resolved.env, "STATE_DIRECTORY")
  ) {
    return originOf(resolved, "STATE_DIRECTORY");
  }
  return origin;
}

/** A default as text: what the agent computed, or the table's description when that is no plain value. */
function defaultText(value: unknown, documented: string): string | null {
  if (value === undefined || value === null) return null;
  if (typeof value === "string" || typeof value === "number" || typeof value === "boolean")
    return String(value);
  if (value instanceof URL) return value.href;
  return documented === "" ? null : documented;
}

/** What is wrong, without repeating the value (the listing shows it, or hides it as a secret). */
function withoutValue(error: ConfigError): string {
  const value = error.value?.trim();
  return value === undefined || value === ""
    ? `required: expected ${error.allowed}`
    : `expected ${error.allowed}`;
}

function formatReport(report: ConfigReport, resolved: ResolvedSettings): string {
  const agent = report.settings.find((entry) => entry.name === "CYBUS_AGENT_NAME")?.value;
  const rows = report.settings.map((entry) => {
    const value = entry.secret
      ? entry.source === "default"
        ? "(not set)"
        : NOT_SHOWN
      : (entry.value ?? `(${entry.default || "none"})`);
    const source = describeOrigin(effectiveOrigin(resolved, entry.name));
    return { name: entry.name, value, source, error: entry.error };
  });
  const nameWidth = Math.max(...rows.map((row) => row.name.length));
  const valueWidth = Math.min(40, Math.max(...rows.map((row) => row.value.length)));
  const lines = [`cw-agent ${agent ?? "(no agent name)"}: settings read from ${describeSources(resolved)}`];
  for (const row of rows) {
    const value = row.value.length > valueWidth ? row.value : row.value.padEnd(valueWidth);
    lines.push(`  ${row.name.padEnd(nameWidth)}  ${value}  ${row.source}`);
    if (row.error !== null) lines.push(`  ${" ".repeat(nameWidth)}  ! invalid: ${row.error}`);
  }
  return lines.join("\n");
}
