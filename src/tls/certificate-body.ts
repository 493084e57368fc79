import { pemCertificates } from "./pem.js";

/**
 * [ours] Where a 201 answer carries the signed certificate. The public documentation says only that
 * it is included and that certificate files are PEM (protocol contract §2), not under which name,
 * so every shape a server plausibly sends is accepted: a raw PEM body, or a JSON object with one of
 * these fields (a PEM string, possibly with the CA chain appended, or an array of them), plus an
 * optional separate chain field.
 */
export const CERTIFICATE_FIELDS = ["certificate", "cert", "crt", "signedCertificate"] as const;
export const CHAIN_FIELDS = ["chain", "caChain", "ca", "caCertificate", "certificateChain"] as const;

export type CertificateBody =
  | { ok: true; certificates: string[] }
  /** `reason` names at most the body's top-level keys, never a value. */
  | { ok: false; reason: string };

const MAX_KEYS_SHOWN = 12;

/** The PEM certificates of a 201 body: the signed one first as the server sent it, then any chain. */
export function readCertificateBody(body: string): CertificateBody {
  const trimmed = body.trim();
  if (trimmed.startsWith("-----BEGIN")) {
    const certificates = pemCertificates(trimmed);
    return certificates.length > 0
      ? { ok: true, certificates }
      : { ok: false, reason: "the 201 body is PEM but holds no CERTIFICATE block" };
  }
  let value: unknown;
  try {
    value = JSON.parse(trimmed);
  } catch {
    return { ok: false, reason: `the 201 body is neither JSON nor PEM (${body.length} bytes)` };
  }
  if (value === null || typeof value !== "object" || Array.isArray(value)) {
    return { ok: false, reason: "the 201 body is JSON but not an object" };
  }
  const object = value as Record<string, unknown>;
  const certificates = CERTIFICATE_FIELDS.flatMap((field) => pemsOf(object[field]));
  if (certificates.length === 0) {
    const keys = Object.keys(object);
    const shown = keys.slice(0, MAX_KEYS_SHOWN).map((key) => JSON.stringify(key.slice(0, 40)));
    const more = keys.length > MAX_KEYS_SHOWN ? `, and ${keys.length - MAX_KEYS_SHOWN} more` : "";
    return {
      ok: false,
      reason: `the 201 body carries no certificate in ${CERTIFICATE_FIELDS.join(", ")} (its keys: ${shown.length > 0 ? shown.join(", ") + more : "none"})`,
    };
  }
  return {
    ok: true,
    certificates: [...certificates, ...CHAIN_FIELDS.flatMap((field) => pemsOf(object[field]))],
  };
}

function pemsOf(value: unknown): string[] {
  if (typeof value === "string") return pemCertificates(value.replace(/\\n/g, "\n"));
  if (Array.isArray(value)) return value.flatMap((entry) => (typeof entry === "string" ? pemsOf(entry) : []));
  return [];
}
