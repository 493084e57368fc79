import { readFileSync } from "node:fs";
import { isIP } from "node:net";
import { isAbsolute } from "node:path";
import { ConfigError, type Env, read } from "./config-error.js";

export type LogLevel = "trace" | "debug" | "info" | "warn" | "error" | "fatal" | "silent";

export interface AgentConfig {
  agentName: string;
  /** MQTT username, also the username proposed to the client registry. */
  username: string;
  mqtt: {
    scheme: "mqtt" | "mqtts";
    host: string;
    port: number;
    connectTimeoutMs: number;
    keepaliveSeconds: number;
    reconnectMinMs: number;
    reconnectMaxMs: number;
    /** Consecutive authentication rejections that mean "cached credentials no longer work"... */
    authRejectCount: number;
    /** ...and the minimum time over which they must have persisted. */
    authRejectWindowMs: number;
  };
  registry: {
    baseUrl: URL;
    requestTimeoutMs: number;
    lockedPollMs: number;
    pendingPollMs: number;
    conflictPollMs: number;
    retryMinMs: number;
    retryMaxMs: number;
  };
  tls: {
    /** PEM CA bundle for HTTPS and MQTTS; undefined means the system trust store. */
    ca: string | undefined;
    caFile: string | undefined;
    trustAllCerts: boolean;
  };
  stateDir: string;
  topicPrefix: string;
  logLevel: LogLevel;
}

/** Connectware usernames: at least 3 characters; we also keep them safe as MQTT client ids and topic levels. */
const USERNAME_PATTERN = /^[A-Za-z0-9][A-Za-z0-9._-]{2,63}$/;
const USERNAME_RULE = "3 to 64 characters: letters, digits, '.', '_' or '-', starting with a letter or digit";
const HOST_PATTERN = /^[A-Za-z0-9]([A-Za-z0-9.-]*[A-Za-z0-9])?$/;
const HOST_RULE = "a host name or IP address without scheme, port or path";

export function loadConfig(env: Env = process.env): AgentConfig {
  read.oneOf(env, "CYBUS_AGENT_MODE", ["distributed"] as const, "distributed");

  const agentName = read.string(env, "CYBUS_AGENT_NAME");
  if (!USERNAME_PATTERN.test(agentName)) throw new ConfigError("CYBUS_AGENT_NAME", agentName, USERNAME_RULE);

  const username = read.string(env, "CYBUS_MQTT_USERNAME", agentName);
  if (!USERNAME_PATTERN.test(username)) throw new ConfigError("CYBUS_MQTT_USERNAME", username, USERNAME_RULE);

  const host = readHost(env, "CYBUS_MQTT_HOST");
  const scheme = read.oneOf(env, "CYBUS_MQTT_SCHEME", ["mqtt", "mqtts"] as const, "mqtt");
  const port = read.integer(env, "CYBUS_MQTT_PORT", scheme === "mqtts" ? 8883 : 1883, 1, 65535);
  const ingressHost = env.CYBUS_HOSTNAME_INGRESS?.trim() ? readHost(env, "CYBUS_HOSTNAME_INGRESS") : host;

  const caFile = read.optionalString(env, "CW_AGENT_CA_FILE");
  const stateDir = read.string(
    env,
    "CW_AGENT_STATE_DIR",
    // systemd may pass several colon-separated directories; ours is the first.
    env.STATE_DIRECTORY?.split(":")[0] || "/var/lib/cw-agent",
  );
  if (!isAbsolute(stateDir)) throw new ConfigError("CW_AGENT_STATE_DIR", stateDir, "an absolute path");

  const topicPrefix = read.string(env, "CW_AGENT_TOPIC_PREFIX", `cw-agent/${agentName}`);
  // Brokers reserve topics starting with "$" ($SYS, $share) and drop client publishes there.
  if (
    /[#+\0]/.test(topicPrefix) ||
    topicPrefix.startsWith("/") ||
    topicPrefix.endsWith("/") ||
    topicPrefix.startsWith("$")
  ) {
    throw new ConfigError(
      "CW_AGENT_TOPIC_PREFIX",
      topicPrefix,
      "an MQTT topic without wildcards (+, #), not starting with '$' and without leading or trailing '/'",
    );
  }

  const ms = (variable: string, fallback: number, min: number, max: number) =>
    read.integer(env, variable, fallback, min, max, "milliseconds");

  return {
    agentName,
    username,
    mqtt: {
      scheme,
      host,
      port,
      connectTimeoutMs: ms("CW_AGENT_MQTT_CONNECT_TIMEOUT_MS", 10_000, 1_000, 120_000),
      keepaliveSeconds: read.integer(env, "CW_AGENT_MQTT_KEEPALIVE_S", 30, 5, 3600, "seconds"),
      reconnectMinMs: ms("CW_AGENT_RECONNECT_MIN_MS", 1_000, 100, 600_000),
      reconnectMaxMs: ms("CW_AGENT_RECONNECT_MAX_MS", 60_000, 1_000, 3_600_000),
      authRejectCount: read.integer(env, "CW_AGENT_AUTH_REJECT_COUNT", 3, 2, 1000),
      authRejectWindowMs: ms("CW_AGENT_AUTH_REJECT_WINDOW_MS", 60_000, 30_000, 86_400_000),
    },
    registry: {
      baseUrl: readRegistryUrl(env, ingressHost),
      requestTimeoutMs: ms("CW_AGENT_REGISTRY_TIMEOUT_MS", 10_000, 500, 120_000),
      lockedPollMs: ms("CW_AGENT_REGISTRY_LOCKED_POLL_MS", 5_000, 100, 600_000),
      pendingPollMs: ms("CW_AGENT_REGISTRY_PENDING_POLL_MS", 2_000, 100, 600_000),
      conflictPollMs: ms("CW_AGENT_REGISTRY_CONFLICT_POLL_MS", 30_000, 100, 3_600_000),
      retryMinMs: ms("CW_AGENT_REGISTRY_RETRY_MIN_MS", 1_000, 100, 600_000),
      retryMaxMs: ms("CW_AGENT_REGISTRY_RETRY_MAX_MS", 60_000, 1_000, 3_600_000),
    },
    tls: {
      ca: caFile === undefined ? undefined : readCaFile(caFile),
      caFile,
      trustAllCerts: read.boolean(env, "CYBUS_TRUST_ALL_CERTS", false),
    },
    stateDir,
    topicPrefix,
    logLevel: read.oneOf(
      env,
      "CYBUS_LOG_LEVEL",
      ["trace", "debug", "info", "warn", "error", "fatal", "silent"] as const,
      "info",
    ),
  };
}

/** Host names and IPv4 as given; IPv6 with or without brackets, stored without them. */
function readHost(env: Env, variable: string): string {
  const host = read.string(env, variable);
  const unbracketed = host.startsWith("[") && host.endsWith("]") ? host.slice(1, -1) : host;
  if (isIP(unbracketed) === 6) return unbracketed;
  if (!HOST_PATTERN.test(host) || host.startsWith("[")) throw new ConfigError(variable, host, HOST_RULE);
  return host;
}

/** A host as it goes into a URL or `host:port`: IPv6 literals in brackets. */
export function hostForUrl(host: string): string {
  return isIP(host) === 6 ? `[${host}]` : host;
}

function readRegistryUrl(env: Env, ingressHost: string): URL {
  const value = read.optionalString(env, "CW_AGENT_REGISTRY_URL");
  const allowed = "an http:// or https:// URL such as https://connectware.local or http://127.0.0.1:8080";
  if (value === undefined) return new URL(`https://${hostForUrl(ingressHost)}`);
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    throw new ConfigError("CW_AGENT_REGISTRY_URL", value, allowed);
  }
  if ((url.protocol !== "http:" && url.protocol !== "https:") || url.username || url.password || url.search) {
    throw new ConfigError("CW_AGENT_REGISTRY_URL", value, `${allowed}, without credentials or query`);
  }
  // An empty path segment ("//host" after the origin) reads as another host to anything that
  // resolves the path as a reference: where the credentials go must be exactly what logs name.
  if (/\/\/|\\/.test(url.pathname) || url.hash) {
    throw new ConfigError(
      "CW_AGENT_REGISTRY_URL",
      value,
      `${allowed}; its path may not contain "//", "\\" or a fragment`,
    );
  }
  return url;
}

function readCaFile(path: string): string {
  let pem: string;
  try {
    pem = readFileSync(path, "utf8");
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code ?? "unreadable";
    throw new ConfigError("CW_AGENT_CA_FILE", path, `a readable PEM file (${code})`);
  }
  if (!pem.includes("-----BEGIN CERTIFICATE-----")) {
    throw new ConfigError("CW_AGENT_CA_FILE", path, "a PEM file containing at least one CERTIFICATE block");
  }
  return pem;
}
