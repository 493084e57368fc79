import type { Logger } from "../logging/logger.js";
import type { StoredCredentials } from "../storage/credential-store.js";
import { isClockSynchronized } from "../util/clock-sync.js";
import { asn1 } from "./asn1.js";
import type { CertificateInfo } from "./certificate.js";
import { readCertificateBody } from "./certificate-body.js";
import { generateDeviceKey, type KeyType } from "./device-key.js";

const DAY_MS = 24 * 60 * 60 * 1000;
/** How often an apparently expired certificate is looked at again while the clock is not synchronized. */
export const CLOCK_RETRY_MS = 60_000;

/** A new device key and the CSR for it, to be persisted before the first request like a password. */
export function newDeviceKey(keyType: KeyType, username: string): { privateKey: string; csr: string } {
  const privateKey = generateDeviceKey(keyType);
  return { privateKey, csr: asn1().buildCsr(privateKey, username) };
}

export type AcceptedCertificate =
  | { ok: true; certificate: string; chain: string | undefined; info: CertificateInfo }
  | { ok: false; reason: string };

/**
 * Reads the certificate out of a 201 body and checks it is for these credentials: our public key,
 * our username as Common Name. Only then may it be stored and used.
 */
export function acceptCertificateGrant(body: string, credentials: StoredCredentials): AcceptedCertificate {
  const tls = credentials.tls;
  if (tls === undefined) return { ok: false, reason: "no device key for this registration" };
  const read = readCertificateBody(body);
  if (!read.ok) return read;
  const match = asn1().matchCertificate(read.certificates, tls.privateKey, credentials.username);
  if (!match.ok) return match;
  return {
    ok: true,
    certificate: match.certificate,
    chain: match.chain.length > 0 ? match.chain.join("") : undefined,
    info: match.info,
  };
}

/**
 * The check a registration runs on a grant with mutual TLS (see Registration.run's `accept`), and
 * the certificate it accepted, to be stored with the grant. Without a device key, no check.
 */
export function certificateGrantCheck(credentials: StoredCredentials): {
  accept: ((body: string) => string | undefined) | undefined;
  accepted: () => { certificate: string; chain: string | undefined; info: CertificateInfo } | undefined;
} {
  if (credentials.tls === undefined) return { accept: undefined, accepted: () => undefined };
  let last: AcceptedCertificate | undefined;
  return {
    accept: (body) => {
      last = acceptCertificateGrant(body, credentials);
      return last.ok ? undefined : last.reason;
    },
    accepted: () => (last?.ok ? last : undefined),
  };
}

/** Why stored credentials of the other login mode cannot be used (one log line), or undefined. */
export function loginModeChange(credentials: StoredCredentials, mutual: boolean): string | undefined {
  if (mutual && credentials.tls === undefined)
    return "CYBUS_USE_MUTUAL_TLS is on but the stored credentials are a password; registering anew with a device key and a certificate request";
  if (mutual && credentials.status === "granted" && storedCertificateInfo(credentials) === undefined)
    return "The stored mutual-TLS credentials hold no readable certificate; registering anew with a new device key";
  if (!mutual && credentials.tls !== undefined)
    return "CYBUS_USE_MUTUAL_TLS is off but the stored credentials are a client certificate; registering anew with a password";
  return undefined;
}

/**
 * Runs an MQTT session and, with a client certificate, its expiry watch beside it: an expired
 * certificate ends the session with "certificate-expired", so the caller registers anew.
 */
export async function withCertificateWatch<End extends string>(
  credentials: StoredCredentials,
  session: (signal: AbortSignal) => Promise<End>,
  deps: Omit<CertificateWatchDeps, "info">,
  signal: AbortSignal,
): Promise<End | "certificate-expired"> {
  const info = storedCertificateInfo(credentials);
  if (info === undefined) return session(signal);
  deps.logger.info(
    `Logging in with the client certificate: ${describeCertificate(summarizeCertificate(info))}`,
  );
  const watchStop = new AbortController();
  const expired = new AbortController();
  const watch = watchCertificate({ ...deps, info }, AbortSignal.any([signal, watchStop.signal])).then(
    (result) => {
      if (result === "expired") expired.abort();
      return result;
    },
  );
  const end = await session(AbortSignal.any([signal, expired.signal]));
  watchStop.abort();
  return (await watch) === "expired" && !signal.aborted ? "certificate-expired" : end;
}

/** The stored certificate's details, or undefined (none yet, or unreadable). */
export function storedCertificateInfo(
  credentials: StoredCredentials | undefined,
): CertificateInfo | undefined {
  const pem = credentials?.tls?.certificate;
  if (pem === undefined) return undefined;
  const { parseCertificate } = asn1();
  try {
    return parseCertificate(pem);
  } catch {
    return undefined;
  }
}

/** What `status` and `check` show of the client certificate (notAfter as ISO 8601). */
export interface CertificateSummary {
  readonly subject: string;
  readonly issuer: string;
  readonly serial: string;
  readonly notAfter: string;
}

export function certificateSummary(
  credentials: StoredCredentials | undefined,
): CertificateSummary | undefined {
  const info = storedCertificateInfo(credentials);
  return info === undefined ? undefined : summarizeCertificate(info);
}

export function summarizeCertificate(info: CertificateInfo): CertificateSummary {
  return {
    subject: info.subject,
    issuer: info.issuer,
    serial: info.serial,
    notAfter: info.notAfter.toISOString(),
  };
}

/** One line for people (log lines, `cw-agent check`): subject, issuer, serial and notAfter. */
export function describeCertificate({ subject, issuer, serial, notAfter }: CertificateSummary): string {
  return `subject ${subject}, issuer ${issuer}, serial ${serial}, notAfter ${notAfter}`;
}

export interface CertificateWatchDeps {
  readonly info: CertificateInfo;
  readonly warningDays: number;
  readonly logger: Logger;
  /** Wall clock: certificates expire by the calendar. */
  readonly now: () => number;
  readonly sleep: (ms: number, signal: AbortSignal) => Promise<void>;
  readonly clockSynchronized?: () => Promise<boolean>;
}

/**
 * Watches the client certificate's expiry while the agent uses it: a warning once a day from
 * `warningDays` before notAfter, and "expired" once notAfter has passed, so the agent registers anew
 * with a new key. A Pi without RTC may boot with any date until NTP sets the clock, so a certificate
 * is never judged expired before the clock is synchronized: the watch waits and looks again.
 */
export async function watchCertificate(
  deps: CertificateWatchDeps,
  signal: AbortSignal,
): Promise<"expired" | "stopped"> {
  const { info, logger } = deps;
  const synchronized = deps.clockSynchronized ?? (() => isClockSynchronized());
  const notAfter = info.notAfter.getTime();
  const warnFrom = notAfter - deps.warningDays * DAY_MS;
  let lastWarnedAt: number | undefined;
  let waitingForClock = false;
  while (!signal.aborted) {
    const now = deps.now();
    if (now >= notAfter) {
      if (await synchronized()) {
        if (signal.aborted) break;
        logger.error(
          { serial: info.serial, notAfter: info.notAfter.toISOString() },
          `The client certificate expired at ${info.notAfter.toISOString()}; registering anew with a new key`,
        );
        return "expired";
      }
      if (!waitingForClock) {
        logger.warn(
          { serial: info.serial, notAfter: info.notAfter.toISOString() },
          `The client certificate looks expired (notAfter ${info.notAfter.toISOString()}), but the system clock is not synchronized yet; keeping it until it is`,
        );
        waitingForClock = true;
      }
      await deps.sleep(CLOCK_RETRY_MS, signal);
      continue;
    }
    if (now >= warnFrom && (lastWarnedAt === undefined || now - lastWarnedAt >= DAY_MS)) {
      const days = Math.ceil((notAfter - now) / DAY_MS);
      logger.warn(
        { serial: info.serial, notAfter: info.notAfter.toISOString(), daysLeft: days },
        `The client certificate expires in ${days} day${days === 1 ? "" : "s"} (${info.notAfter.toISOString()}); the agent then registers anew with a new key, which an administrator must grant`,
      );
      lastWarnedAt = now;
    }
    const untilWarning = warnFrom - now;
    const next = Math.min(DAY_MS, notAfter - now, untilWarning > 0 ? untilWarning : DAY_MS);
    await deps.sleep(Math.max(1, next), signal);
  }
  return "stopped";
}
