import { isIP } from "node:net";
import mqtt, { type IClientOptions, type MqttClient } from "mqtt";
import { type AgentConfig, hostForUrl } from "../config/config.js";
import type { ClientCertificate } from "./client-certificate.js";

/** Builds an mqtt.js client; the session and `cw-agent check` take one so tests can hand in their own. */
export type MqttClientFactory = (url: string, options: IClientOptions) => MqttClient;
/**
 * The URL goes to mqtt.js as its parts: given a string, mqtt.js parses it with Node's legacy
 * `url.parse()`, for which Node 24 (the runtime the packages bundle) prints a DeprecationWarning
 * (DEP0169) into the journal at every start. As with a string, `options` win over the URL's parts.
 */
export const connectMqtt: MqttClientFactory = (url, options) =>
  mqtt.connect({ ...urlParts(url), ...options });

function urlParts(url: string): IClientOptions {
  const parsed = new URL(url);
  return {
    protocol: parsed.protocol.replace(/:$/, "") as NonNullable<IClientOptions["protocol"]>,
    // An IPv6 literal comes back in brackets, which a socket's host must not have.
    host: parsed.hostname.replace(/^\[(.*)\]$/, "$1"),
    ...(parsed.port === "" ? {} : { port: Number(parsed.port) }),
  };
}

export function brokerUrl(config: AgentConfig): string {
  const { scheme, host, port } = config.mqtt;
  return `${scheme}://${hostForUrl(host)}:${port}`;
}

/**
 * The mqtt.js options of every connection to the broker, in one place: the session's and the one
 * `cw-agent check` makes, so what check proves is what the agent does.
 */
export function clientOptions(
  config: AgentConfig,
  login: { clientId: string; username: string; password: string },
  extra: Pick<IClientOptions, "will" | "connectTimeout"> = {},
  clientCertificate?: ClientCertificate,
): IClientOptions {
  const options: IClientOptions & { maxVersion?: "TLSv1.2" } = {
    clientId: login.clientId,
    username: login.username,
    // With a client certificate the certificate is the credential; no password goes to the broker.
    ...(clientCertificate === undefined ? { password: login.password } : {}),
    protocolVersion: 4,
    clean: true,
    keepalive: config.mqtt.keepaliveSeconds,
    connectTimeout: config.mqtt.connectTimeoutMs,
    // Reconnection is the session's (backoff with jitter, rejection tracking); mqtt.js would retry
    // at a fixed period.
    reconnectPeriod: 0,
    // mqtt.js otherwise has mqtt-packet build 65,536 two-byte buffers at the first packet, to encode
    // packet ids and lengths without allocating: about 7 MB of heap and 16 MB of RSS for the life of
    // the process, and a pause at start-up, for an agent that sends a few messages a minute.
    writeCache: false,
    ...extra,
  };
  if (config.mqtt.scheme === "mqtts") {
    options.ca = config.tls.ca;
    options.rejectUnauthorized = !config.tls.trustAllCerts;
    if (isIP(config.mqtt.host) === 0) options.servername = config.mqtt.host;
    if (clientCertificate !== undefined) {
      options.key = clientCertificate.key;
      options.cert = clientCertificate.cert;
      // Connectware's broker takes client certificates with at most TLS 1.2; under 1.2 a refused
      // certificate is also an alert during the handshake, not after it (see certificateRefusal).
      options.maxVersion = "TLSv1.2";
    }
  }
  return options;
}

export type LoginRejection = "bad-credentials" | "not-authorized";

/**
 * CONNACK codes that mean "these credentials are not accepted": MQTT 3.1.1 return codes 4 (bad user
 * name or password) and 5 (not authorized), MQTT 5 reason codes 0x86 and 0x87 (same meanings).
 */
const LOGIN_REJECTIONS: ReadonlyMap<number, LoginRejection> = new Map([
  [4, "bad-credentials"],
  [0x86, "bad-credentials"],
  [5, "not-authorized"],
  [0x87, "not-authorized"],
]);

/** What a connection error says about the credentials, from its CONNACK code; undefined for anything else. */
export function loginRejection(error: unknown): LoginRejection | undefined {
  const code = (error as { code?: unknown } | undefined)?.code;
  return typeof code === "number" ? LOGIN_REJECTIONS.get(code) : undefined;
}
