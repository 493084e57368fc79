import { isIP } from "node:net";
import type { KeyType } from "../tls/device-key.js";
import { ConfigError, type Env } from "./config-error.js";
import { type ProxyRoute, proxyRoute } from "./proxy.js";
import { parseSettings, SETTINGS, type SettingValues } from "./settings.js";

export type LogLevel = "trace" | "debug" | "info" | "warn" | "error" | "fatal" | "silent";
export type LogFormat = "auto" | "json" | "pretty";

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
    /** Through which HTTP(S) proxy, if any, the registry requests go (HTTPS_PROXY, NO_PROXY, ...). */
    proxy: ProxyRoute;
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
    /** Mutual TLS: a device key and a client certificate instead of a password (CYBUS_USE_MUTUAL_TLS). */
    mutual: boolean;
    keyType: KeyType;
    certWarningDays: number;
  };
  stateDir: string;
  topicPrefix: string;
  /** Health messages and the machine facts behind them (src/health). */
  machine: {
    /** Seconds between health messages; 0 = none. */
    healthIntervalS: number;
    sysfsRoot: string;
    procfsRoot: string;
  };
  logLevel: LogLevel;
  logFormat: LogFormat;
}

/** Every invalid setting, reported together (the first is also `ConfigError` itself). */
export class ConfigErrors extends ConfigError {
  constructor(readonly errors: readonly ConfigError[]) {
    const first = errors[0] as ConfigError;
    super(first.variable, first.value, first.allowed);
    this.message = errors.map((error) => error.message).join("; ");
    this.name = "ConfigErrors";
  }
}

/** Each invalid setting a ConfigError stands for: itself, or every one a ConfigErrors carries. */
export function eachInvalidSetting(error: ConfigError): readonly ConfigError[] {
  return error instanceof ConfigErrors ? error.errors : [error];
}

/** Throws ConfigErrors naming every invalid setting. */
export function throwIfInvalid(errors: readonly ConfigError[]): void {
  if (errors.length === 1) throw errors[0];
  if (errors.length > 1) throw new ConfigErrors(errors);
}

export function loadConfig(env: Env = process.env): AgentConfig {
  const { values, errors } = parseSettings(SETTINGS, env);
  throwIfInvalid(errors);
  return agentConfigFrom(values, env);
}

/**
 * The agent's configuration from its parsed settings and, for the proxy of the registry requests,
 * the standard proxy variables in `env`. Throws ConfigError when the proxy that applies is invalid.
 */
export function agentConfigFrom(values: SettingValues<typeof SETTINGS>, env: Env): AgentConfig {
  const host = values.CYBUS_MQTT_HOST;
  const ca = values.CW_AGENT_CA_FILE;
  const baseUrl =
    values.CW_AGENT_REGISTRY_URL ?? new URL(`https://${hostForUrl(values.CYBUS_HOSTNAME_INGRESS ?? host)}`);
  return {
    agentName: values.CYBUS_AGENT_NAME,
    username: values.CYBUS_MQTT_USERNAME,
    mqtt: {
      scheme: values.CYBUS_MQTT_SCHEME,
      host,
      port: values.CYBUS_MQTT_PORT,
      connectTimeoutMs: values.CW_AGENT_MQTT_CONNECT_TIMEOUT_MS,
      keepaliveSeconds: values.CW_AGENT_MQTT_KEEPALIVE_S,
      reconnectMinMs: values.CW_AGENT_RECONNECT_MIN_MS,
      reconnectMaxMs: values.CW_AGENT_RECONNECT_MAX_MS,
      authRejectCount: values.CW_AGENT_AUTH_REJECT_COUNT,
      authRejectWindowMs: values.CW_AGENT_AUTH_REJECT_WINDOW_MS,
    },
    registry: {
      baseUrl,
      proxy: proxyRoute(baseUrl, env),
      requestTimeoutMs: values.CW_AGENT_REGISTRY_TIMEOUT_MS,
      lockedPollMs: values.CW_AGENT_REGISTRY_LOCKED_POLL_MS,
      pendingPollMs: values.CW_AGENT_REGISTRY_PENDING_POLL_MS,
      conflictPollMs: values.CW_AGENT_REGISTRY_CONFLICT_POLL_MS,
      retryMinMs: values.CW_AGENT_REGISTRY_RETRY_MIN_MS,
      retryMaxMs: values.CW_AGENT_REGISTRY_RETRY_MAX_MS,
    },
    tls: {
      ca: ca?.pem,
      caFile: ca?.path,
      trustAllCerts: values.CYBUS_TRUST_ALL_CERTS,
      mutual: values.CYBUS_USE_MUTUAL_TLS,
      keyType: values.CW_AGENT_KEY_TYPE,
      certWarningDays: values.CW_AGENT_CERT_WARNING_DAYS,
    },
    stateDir: values.CW_AGENT_STATE_DIR,
    topicPrefix: values.CW_AGENT_TOPIC_PREFIX,
    machine: {
      healthIntervalS: values.CW_AGENT_HEALTH_INTERVAL_S,
      sysfsRoot: values.CW_AGENT_SYSFS_ROOT,
      procfsRoot: values.CW_AGENT_PROCFS_ROOT,
    },
    logLevel: values.CYBUS_LOG_LEVEL,
    logFormat: values.CW_AGENT_LOG_FORMAT,
  };
}

/** A host as it goes into a URL or `host:port`: IPv6 literals in brackets. */
export function hostForUrl(host: string): string {
  return isIP(host) === 6 ? `[${host}]` : host;
}
