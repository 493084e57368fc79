import { isIP } from "node:net";
import mqtt, { type IClientOptions, type MqttClient } from "mqtt";
import { type AgentConfig, hostForUrl } from "../config/config.js";

/** Builds an mqtt.js client; the session and `cw-agent check` take one so tests can hand in their own. */
export type MqttClientFactory = (url: string, options: IClientOptions) => MqttClient;
export const connectMqtt: MqttClientFactory = (url, options) => mqtt.connect(url, options);

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

/** The device key and the signed certificate (with any chain the registry sent), PEM. */
export interface ClientCertificate {
  readonly key: string;
  readonly cert: string;
}

/** The client certificate stored with mutual-TLS credentials, or undefined for a password login. */
export function clientCertificateOf(credentials: {
  tls?: { privateKey: string; certificate: string | undefined; chain: string | undefined } | undefined;
}): ClientCertificate | undefined {
  const tls = credentials.tls;
  if (tls?.certificate === undefined) return undefined;
  return { key: tls.privateKey, cert: tls.certificate + (tls.chain ?? "") };
}

/**
 * TLS alerts a broker sends when it refuses the client certificate: bad_certificate (42),
 * unsupported_certificate (43), certificate_revoked (44), certificate_expired (45),
 * certificate_unknown (46) and unknown_ca (48), RFC 5246 §7.2.2. OpenSSL reports each as an error
 * code of its own; a network failure never has one of these.
 */
const CERTIFICATE_ALERTS: ReadonlySet<string> = new Set([
  "ERR_SSL_SSLV3_ALERT_BAD_CERTIFICATE",
  "ERR_SSL_SSLV3_ALERT_UNSUPPORTED_CERTIFICATE",
  "ERR_SSL_SSLV3_ALERT_CERTIFICATE_REVOKED",
  "ERR_SSL_SSLV3_ALERT_CERTIFICATE_EXPIRED",
  "ERR_SSL_SSLV3_ALERT_CERTIFICATE_UNKNOWN",
  "ERR_SSL_TLSV1_ALERT_UNKNOWN_CA",
]);

const CERTIFICATE_ALERT_NUMBERS: ReadonlySet<number> = new Set([42, 43, 44, 45, 46, 48]);

/** "certificate-refused" when the broker refused our client certificate with a TLS alert. */
export function certificateRefusal(error: unknown): "certificate-refused" | undefined {
  const { code, message } = (error ?? {}) as { code?: unknown; message?: unknown };
  if (typeof code === "string" && CERTIFICATE_ALERTS.has(code)) return "certificate-refused";
  // When the alert arrives while the CONNECT packet is being written (mqtt.js writes it before the
  // handshake ends), Node reports the write as EPROTO and only OpenSSL's text names the alert, in
  // its fixed form "SSL alert number <n>".
  if (code === "EPROTO" && typeof message === "string") {
    const alert = /SSL alert number (\d+)/.exec(message)?.[1];
    if (alert !== undefined && CERTIFICATE_ALERT_NUMBERS.has(Number(alert))) return "certificate-refused";
  }
  return undefined;
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
