import { readFileSync } from "node:fs";
import { isIP } from "node:net";
import { isAbsolute } from "node:path";
import { KEY_TYPES } from "../tls/device-key.js";
import { errorCode } from "../util/errors.js";
import { ConfigError, type Env } from "./config-error.js";

/**
 * The one table of settings: every variable the agent reads, with its type, default, allowed
 * values and help. Validation (`readSettings`), the README's configuration table and the
 * environment-file template (`settings-docs.ts`) are all derived from it, so a default is written
 * once. Settings of a subsystem are read by that subsystem (`config.ts`, `indicators/config.ts`)
 * from the values parsed here.
 */

export type SettingGroup = "Required" | "Connectware" | "TLS" | "Agent" | "Timing" | "Indicators";

export interface Setting<T> {
  readonly group: SettingGroup;
  /** Help text for the template and the README (plain text, no line breaks). */
  readonly help: string;
  /** Shown as the default in the README; also after `#NAME=` in the template unless `templateValue`. */
  readonly defaultText: string;
  /** What the template shows after `#NAME=`; empty for "no value". */
  readonly templateValue?: string;
  /** Left out of the README table (documented with its subsystem instead). */
  readonly readmeHidden?: boolean;
  /** A secret: never printed back. */
  readonly secret?: boolean;
  /** Parses the trimmed value; `undefined` when unset or empty. Throws ConfigError. */
  parse(value: string | undefined, env: Env, name: string): T;
}

/** Agent names, MQTT usernames and the instance names of cw-agent@NAME (the default agent name). */
export const AGENT_NAME_PATTERN = /^[A-Za-z0-9][A-Za-z0-9._-]{2,63}$/;
export const AGENT_NAME_RULE =
  "3 to 64 characters: letters, digits, '.', '_' or '-', starting with a letter or digit";
const HOST_PATTERN = /^[A-Za-z0-9]([A-Za-z0-9.-]*[A-Za-z0-9])?$/;
const HOST_RULE = "a host name or IP address without scheme, port or path";

/** Names that hold something nobody but the agent may read: never printed, blanked in copies. */
export function isSecretName(name: string): boolean {
  return /(PASSWORD|PASSPHRASE|SECRET|TOKEN|_KEY|ENROL(L)?MENT_CODE)$/i.test(name);
}

// --- value types --------------------------------------------------------------------------------

export function required(name: string, value: string | undefined, allowed: string): string {
  if (value === undefined) throw new ConfigError(name, value, allowed);
  return value;
}

export function integer(min: number, max: number, fallback: number, unit = "") {
  return (value: string | undefined, _env: Env, name: string): number => {
    if (value === undefined) return fallback;
    const range = `an integer from ${min} to ${max}${unit ? ` (${unit})` : ""}`;
    if (!/^\d+$/.test(value)) throw new ConfigError(name, value, range);
    const parsed = Number(value);
    if (parsed < min || parsed > max) throw new ConfigError(name, value, range);
    return parsed;
  };
}

export function oneOf<T extends string>(allowed: readonly T[], fallback: T) {
  return (value: string | undefined, _env: Env, name: string): T => {
    if (value === undefined) return fallback;
    const match = allowed.find((candidate) => candidate === value.toLowerCase());
    if (match === undefined) throw new ConfigError(name, value, `one of ${allowed.join(", ")}`);
    return match;
  };
}

export function boolean(fallback: boolean) {
  return (value: string | undefined, _env: Env, name: string): boolean => {
    if (value === undefined) return fallback;
    const lower = value.toLowerCase();
    if (["true", "1", "yes", "on"].includes(lower)) return true;
    if (["false", "0", "no", "off"].includes(lower)) return false;
    throw new ConfigError(name, value, "true or false");
  };
}

export const optionalText = (value: string | undefined): string | undefined => value;

function readCaFile(name: string, path: string): string {
  let pem: string;
  try {
    pem = readFileSync(path, "utf8");
  } catch (error) {
    const code = errorCode(error) ?? "unreadable";
    throw new ConfigError(name, path, `a readable PEM file (${code})`);
  }
  if (!pem.includes("-----BEGIN CERTIFICATE-----")) {
    throw new ConfigError(name, path, "a PEM file containing at least one CERTIFICATE block");
  }
  return pem;
}

/** Host names and IPv4 as given; IPv6 with or without brackets, stored without them. */
export function parseHost(name: string, value: string): string {
  const unbracketed = value.startsWith("[") && value.endsWith("]") ? value.slice(1, -1) : value;
  if (isIP(unbracketed) === 6) return unbracketed;
  if (!HOST_PATTERN.test(value) || value.startsWith("[")) throw new ConfigError(name, value, HOST_RULE);
  return value;
}

function username(value: string | undefined, name: string): string {
  const text = required(name, value, "a non-empty value");
  if (!AGENT_NAME_PATTERN.test(text)) throw new ConfigError(name, text, AGENT_NAME_RULE);
  return text;
}

function milliseconds(min: number, max: number, fallback: number) {
  return integer(min, max, fallback, "milliseconds");
}

/** The value of another setting as the user wrote it (trimmed), for defaults that depend on it. */
export function rawValue(env: Env, name: string): string | undefined {
  const value = env[name]?.trim();
  return value ? value : undefined;
}

// --- the table ----------------------------------------------------------------------------------

const REGISTRY_URL_RULE =
  "an http:// or https:// URL such as https://connectware.local or http://127.0.0.1:8080";

export const SETTINGS = {
  CYBUS_AGENT_NAME: {
    group: "Required",
    help:
      "Name of this agent: 3-64 characters of letters, digits, '.', '_' or '-', starting with a letter or digit. " +
      "Also the default MQTT username and part of the default topic prefix. With the template unit " +
      "cw-agent@NAME.service it defaults to the instance NAME, unless the instance's file assigns it (even empty).",
    defaultText: "(required)",
    templateValue: "",
    parse: (value, _env, name) => username(value, name),
  },
  CYBUS_MQTT_HOST: {
    group: "Required",
    help: "Host name or IP address of the Connectware broker (no scheme, no port).",
    defaultText: "(required)",
    templateValue: "",
    parse: (value, _env, name) => parseHost(name, required(name, value, "a non-empty value")),
  },
  CYBUS_AGENT_MODE: {
    group: "Connectware",
    help: "Only distributed (edge) mode exists.",
    defaultText: "distributed",
    parse: oneOf(["distributed"] as const, "distributed"),
  },
  CYBUS_MQTT_USERNAME: {
    group: "Connectware",
    help: "MQTT username the agent registers and logs in with.",
    defaultText: "the agent name",
    templateValue: "",
    // Unset, it is the agent name, whose own check reports a bad one.
    parse: (value, env, name) =>
      value === undefined ? (rawValue(env, "CYBUS_AGENT_NAME") ?? "") : username(value, name),
  },
  CYBUS_MQTT_SCHEME: {
    group: "Connectware",
    help: "mqtt, or mqtts for TLS.",
    defaultText: "mqtt",
    parse: oneOf(["mqtt", "mqtts"] as const, "mqtt"),
  },
  CYBUS_MQTT_PORT: {
    group: "Connectware",
    help: "Broker port: 1883 for mqtt, 8883 for mqtts unless set.",
    defaultText: "1883 / 8883",
    templateValue: "1883",
    parse: (value, env, name) =>
      integer(1, 65535, rawValue(env, "CYBUS_MQTT_SCHEME")?.toLowerCase() === "mqtts" ? 8883 : 1883)(
        value,
        env,
        name,
      ),
  },
  CYBUS_HOSTNAME_INGRESS: {
    group: "Connectware",
    help: "Host of Connectware's HTTPS ingress, where the client registry is.",
    defaultText: "CYBUS_MQTT_HOST",
    templateValue: "",
    parse: (value, _env, name) => (value === undefined ? undefined : parseHost(name, value)),
  },
  CW_AGENT_REGISTRY_URL: {
    group: "Connectware",
    help:
      "Full base URL of the client registry; overrides the ingress host, e.g. https://cw.plant:443 or " +
      "http://127.0.0.1:8080. No credentials, query, fragment, '//' or '\\' in it.",
    defaultText: "https://<ingress host>",
    templateValue: "",
    parse: (value, _env, name) => (value === undefined ? undefined : parseRegistryUrl(name, value)),
  },
  CW_AGENT_CA_FILE: {
    group: "TLS",
    help:
      "PEM file with the CA certificate(s) of Connectware, trusted for HTTPS and MQTTS. Must be readable by " +
      "the cw-agent user, e.g. /etc/cw-agent/ca.pem with mode 0640 root:cw-agent.",
    defaultText: "system CAs",
    templateValue: "",
    parse: (value, _env, name) =>
      value === undefined ? undefined : { path: value, pem: readCaFile(name, value) },
  },
  CYBUS_TRUST_ALL_CERTS: {
    group: "TLS",
    help: "Accept any server certificate. Development only: it opens the connection to interception, and the agent warns at every start.",
    defaultText: "false",
    parse: boolean(false),
  },
  CYBUS_USE_MUTUAL_TLS: {
    group: "TLS",
    help:
      "Log in to the broker with a client certificate instead of a password: the agent makes a private key on " +
      "the device, sends a certificate signing request (CN = the username) with its registration and stores the " +
      "certificate Connectware signs. Needs CYBUS_MQTT_SCHEME=mqtts.",
    defaultText: "false",
    parse: (value, env, name) => {
      const enabled = boolean(false)(value, env, name);
      const scheme = rawValue(env, "CYBUS_MQTT_SCHEME")?.toLowerCase() ?? "mqtt";
      if (enabled && scheme !== "mqtts") {
        throw new ConfigError(
          name,
          value,
          `false while CYBUS_MQTT_SCHEME=${scheme}: a client certificate needs TLS, so set CYBUS_MQTT_SCHEME=mqtts or turn mutual TLS off`,
        );
      }
      return enabled;
    },
  },
  CW_AGENT_KEY_TYPE: {
    group: "TLS",
    help: "Type of the device key made for mutual TLS: ec-p256, or rsa2048 for brokers that need RSA.",
    defaultText: "ec-p256",
    parse: oneOf(KEY_TYPES, "ec-p256"),
  },
  CW_AGENT_CERT_WARNING_DAYS: {
    group: "TLS",
    help: "With mutual TLS, a warning is logged once a day from this many days before the client certificate expires.",
    defaultText: "30",
    parse: integer(1, 365, 30, "days"),
  },
  CYBUS_LOG_LEVEL: {
    group: "Agent",
    help: "trace, debug, info, warn, error, fatal or silent.",
    defaultText: "info",
    parse: oneOf(["trace", "debug", "info", "warn", "error", "fatal", "silent"] as const, "info"),
  },
  CW_AGENT_LOG_FORMAT: {
    group: "Agent",
    help:
      "auto: readable, coloured lines when stdout is a terminal, pino JSON lines otherwise (the journal, pipes, " +
      "files); json or pretty to force one. NO_COLOR=1 turns the colours off.",
    defaultText: "auto",
    parse: oneOf(["auto", "json", "pretty"] as const, "auto"),
  },
  CW_AGENT_TOPIC_PREFIX: {
    group: "Agent",
    help:
      "MQTT topic prefix of the agent; its status is <prefix>/status. No wildcards, not starting with '$', " +
      "no leading or trailing '/'.",
    defaultText: "cw-agent/<agent name>",
    templateValue: "",
    parse: (value, env, name) =>
      value === undefined
        ? `cw-agent/${rawValue(env, "CYBUS_AGENT_NAME") ?? ""}`
        : parseTopicPrefix(name, value),
  },
  CW_AGENT_STATE_DIR: {
    group: "Agent",
    help:
      "Directory with the credentials database (mode 0700, files 0600); one agent per directory. Must be " +
      "absolute. The unit only allows writes to its own state directory, so leave this unset under systemd.",
    defaultText: "$STATE_DIRECTORY, else /var/lib/cw-agent",
    templateValue: "",
    parse: (value, env, name) => {
      // systemd may pass several colon-separated directories; ours is the first.
      const dir = value ?? (env.STATE_DIRECTORY?.split(":")[0]?.trim() || "/var/lib/cw-agent");
      if (!isAbsolute(dir)) throw new ConfigError(name, dir, "an absolute path");
      return dir;
    },
  },
  CW_AGENT_HEALTH_INTERVAL_S: {
    group: "Agent",
    help:
      "Seconds between two health messages on <prefix>/health (uptime, load, memory, free space, CPU temperature, " +
      "power supply, bytes written); 0 publishes none. Under-voltage and throttling are still watched at this " +
      "interval, or every 60 s when it is 0 (docs/remote.md).",
    defaultText: "60",
    parse: integer(0, 86_400, 60, "seconds"),
  },
  CW_AGENT_SYSFS_ROOT: {
    group: "Agent",
    help: "Where sysfs is mounted, for the health readings, LEDs and GPIO; another directory only for tests.",
    defaultText: "/sys",
    parse: (value, _env, name) => absoluteDirectory(name, value ?? "/sys"),
  },
  CW_AGENT_PROCFS_ROOT: {
    group: "Agent",
    help: "Where procfs is mounted, for the health readings and the birth record; another directory only for tests.",
    defaultText: "/proc",
    parse: (value, _env, name) => absoluteDirectory(name, value ?? "/proc"),
  },
  CW_AGENT_MQTT_CONNECT_TIMEOUT_MS: {
    group: "Timing",
    help: "MQTT connect (CONNACK) timeout.",
    defaultText: "10000",
    parse: milliseconds(1_000, 120_000, 10_000),
  },
  CW_AGENT_MQTT_KEEPALIVE_S: {
    group: "Timing",
    help: "MQTT keepalive in seconds.",
    defaultText: "30",
    parse: integer(5, 3600, 30, "seconds"),
  },
  CW_AGENT_RECONNECT_MIN_MS: {
    group: "Timing",
    help: "Unit of the MQTT reconnect backoff: the first delay after a loss is random between 0 and 4 times this, then the delay doubles up to the maximum; it starts over after 30 s of stable connection.",
    defaultText: "1000",
    parse: milliseconds(100, 600_000, 1_000),
  },
  CW_AGENT_RECONNECT_MAX_MS: {
    group: "Timing",
    help: "Upper bound of the MQTT reconnect delay.",
    defaultText: "60000",
    parse: milliseconds(1_000, 3_600_000, 60_000),
  },
  CW_AGENT_AUTH_REJECT_COUNT: {
    group: "Timing",
    help:
      "Cached credentials count as rejected only after this many authentication rejections in a row (any " +
      "other outcome in between starts the count over)...",
    defaultText: "3",
    parse: integer(2, 1000, 3),
  },
  CW_AGENT_AUTH_REJECT_WINDOW_MS: {
    group: "Timing",
    help: "...that spanned at least this long (monotonic clock); then the agent registers again.",
    defaultText: "60000",
    parse: milliseconds(30_000, 86_400_000, 60_000),
  },
  CW_AGENT_REGISTRY_TIMEOUT_MS: {
    group: "Timing",
    help: "Deadline for one registry request, body included.",
    defaultText: "10000",
    parse: milliseconds(500, 120_000, 10_000),
  },
  CW_AGENT_REGISTRY_LOCKED_POLL_MS: {
    group: "Timing",
    help: "Re-ask interval while the registry is locked (423), ±20 % jitter.",
    defaultText: "5000",
    parse: milliseconds(100, 600_000, 5_000),
  },
  CW_AGENT_REGISTRY_PENDING_POLL_MS: {
    group: "Timing",
    help: "Re-ask interval while waiting for authorization of the pairing ID (202), ±20 % jitter. The first request of a registration waits a random part of one interval.",
    defaultText: "2000",
    parse: milliseconds(100, 600_000, 2_000),
  },
  CW_AGENT_REGISTRY_CONFLICT_POLL_MS: {
    group: "Timing",
    help: "Re-ask interval after a registration conflict (409), ±20 % jitter.",
    defaultText: "30000",
    parse: milliseconds(100, 3_600_000, 30_000),
  },
  CW_AGENT_REGISTRY_RETRY_MIN_MS: {
    group: "Timing",
    help: "First retry delay after a failed registration request; doubles up to the maximum.",
    defaultText: "1000",
    parse: milliseconds(100, 600_000, 1_000),
  },
  CW_AGENT_REGISTRY_RETRY_MAX_MS: {
    group: "Timing",
    help: "Upper bound of the registration retry delay.",
    defaultText: "60000",
    parse: milliseconds(1_000, 3_600_000, 60_000),
  },
} satisfies Record<string, Setting<unknown>>;

export type AgentSettingName = keyof typeof SETTINGS;
export type SettingValues<Table extends Record<string, Setting<unknown>>> = {
  readonly [Name in keyof Table]: Table[Name] extends Setting<infer T> ? T : never;
};

/**
 * Parses every setting of a table and reports every invalid one, not only the first: a technician
 * editing the file on a gateway fixes them in one go.
 */
export function parseSettings<Table extends Record<string, Setting<unknown>>>(
  table: Table,
  env: Env,
): { values: SettingValues<Table>; errors: ConfigError[] } {
  const values: Record<string, unknown> = {};
  const errors: ConfigError[] = [];
  for (const [name, setting] of Object.entries(table)) {
    try {
      values[name] = setting.parse(rawValue(env, name), env, name);
    } catch (error) {
      if (!(error instanceof ConfigError)) throw error;
      errors.push(error);
    }
  }
  return { values: values as SettingValues<Table>, errors };
}

function parseRegistryUrl(name: string, value: string): URL {
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    throw new ConfigError(name, value, REGISTRY_URL_RULE);
  }
  if ((url.protocol !== "http:" && url.protocol !== "https:") || url.username || url.password || url.search) {
    throw new ConfigError(name, value, `${REGISTRY_URL_RULE}, without credentials or query`);
  }
  // An empty path segment ("//host" after the origin) reads as another host to anything that
  // resolves the path as a reference: where the credentials go must be exactly what logs name.
  if (/\/\/|\\/.test(url.pathname) || url.hash) {
    throw new ConfigError(
      name,
      value,
      `${REGISTRY_URL_RULE}; its path may not contain "//", "\\" or a fragment`,
    );
  }
  return url;
}

function absoluteDirectory(name: string, value: string): string {
  if (!isAbsolute(value)) throw new ConfigError(name, value, "an absolute path");
  return value;
}

function parseTopicPrefix(name: string, prefix: string): string {
  // Brokers reserve topics starting with "$" ($SYS, $share) and drop client publishes there.
  if (/[#+\0]/.test(prefix) || prefix.startsWith("/") || prefix.endsWith("/") || prefix.startsWith("$")) {
    throw new ConfigError(
      name,
      prefix,
      "an MQTT topic without wildcards (+, #), not starting with '$' and without leading or trailing '/'",
    );
  }
  return prefix;
}
