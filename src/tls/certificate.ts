import { AsnConvert } from "@peculiar/asn1-schema";
import { Certificate, type Name } from "@peculiar/asn1-x509";
import { publicKeyDer } from "./device-key.js";
import { certificateDer } from "./pem.js";

/** What status, check and the expiry watch show of a client certificate. */
export interface CertificateInfo {
  readonly subject: string;
  readonly issuer: string;
  /** Lowercase hex, as openssl prints it without colons. */
  readonly serial: string;
  readonly notBefore: Date;
  readonly notAfter: Date;
  readonly commonName: string | undefined;
  /** DER SubjectPublicKeyInfo of the certificate's key. */
  readonly publicKey: Buffer;
}

/** Attribute names of the subject and issuer as openssl and most tools print them. */
const NAME_LABELS: Readonly<Record<string, string>> = {
  "2.5.4.3": "CN",
  "2.5.4.6": "C",
  "2.5.4.7": "L",
  "2.5.4.8": "ST",
  "2.5.4.10": "O",
  "2.5.4.11": "OU",
  "2.5.4.5": "serialNumber",
  "0.9.2342.19200300.100.1.25": "DC",
  "1.2.840.113549.1.9.1": "emailAddress",
};

/** Parses one PEM certificate; throws on anything that is not an X.509 certificate. */
export function parseCertificate(pem: string): CertificateInfo {
  const certificate = AsnConvert.parse(certificateDer(pem), Certificate);
  const tbs = certificate.tbsCertificate;
  return {
    subject: formatName(tbs.subject),
    issuer: formatName(tbs.issuer),
    serial: Buffer.from(tbs.serialNumber)
      .toString("hex")
      .replace(/^(00)+(?=.)/, ""),
    notBefore: tbs.validity.notBefore.getTime(),
    notAfter: tbs.validity.notAfter.getTime(),
    commonName: attribute(tbs.subject, "2.5.4.3"),
    publicKey: Buffer.from(AsnConvert.serialize(tbs.subjectPublicKeyInfo)),
  };
}

export type CertificateMatch =
  | { ok: true; certificate: string; info: CertificateInfo; chain: string[] }
  | { ok: false; reason: string };

/**
 * Picks, from the certificates a registry sent, the one for our key, and checks that it names our
 * username. The rest is the CA chain. A certificate for another key or another name is never used:
 * the agent would log in as somebody else, or not at all.
 */
export function matchCertificate(
  certificates: readonly string[],
  keyPem: string,
  username: string,
): CertificateMatch {
  const ours = publicKeyDer(keyPem);
  const parsed: { pem: string; info: CertificateInfo }[] = [];
  for (const pem of certificates) {
    try {
      parsed.push({ pem, info: parseCertificate(pem) });
    } catch {
      // not a certificate we can read: it cannot be ours
    }
  }
  if (parsed.length === 0) return { ok: false, reason: "no readable X.509 certificate in the answer" };
  const mine = parsed.find((entry) => entry.info.publicKey.equals(ours));
  if (mine === undefined) {
    const first = parsed[0] as { info: CertificateInfo };
    return {
      ok: false,
      reason: `the certificate is for another key than this device's (subject ${first.info.subject}, serial ${first.info.serial})`,
    };
  }
  if (mine.info.commonName !== username) {
    return {
      ok: false,
      reason: `the certificate's Common Name is ${JSON.stringify(mine.info.commonName ?? "")}, not the username ${JSON.stringify(username)}`,
    };
  }
  return {
    ok: true,
    certificate: mine.pem,
    info: mine.info,
    chain: parsed.filter((entry) => entry !== mine).map((entry) => entry.pem),
  };
}

function attribute(name: Name, oid: string): string | undefined {
  for (const rdn of name) {
    for (const entry of rdn) if (entry.type === oid) return entry.value.toString();
  }
  return undefined;
}

function formatName(name: Name): string {
  return name
    .map((rdn) =>
      rdn.map((entry) => `${NAME_LABELS[entry.type] ?? entry.type}=${entry.value.toString()}`).join("+"),
    )
    .join(", ");
}
