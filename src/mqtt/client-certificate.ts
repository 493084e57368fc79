/**
 * The client certificate side of the MQTT login with mutual TLS: what goes into the TLS options
 * (see clientOptions) and which TLS alerts mean the broker refused the certificate.
 */

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
