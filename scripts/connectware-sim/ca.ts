import { createPrivateKey, createPublicKey, randomBytes, sign, verify } from "node:crypto";
import { readFileSync } from "node:fs";
import { CertificationRequest } from "@peculiar/asn1-csr";
import { AsnConvert, OctetString } from "@peculiar/asn1-schema";
import {
  AlgorithmIdentifier,
  BasicConstraints,
  Certificate,
  CertificateList,
  ExtendedKeyUsage,
  Extension,
  Extensions,
  id_ce_basicConstraints,
  id_ce_extKeyUsage,
  id_ce_keyUsage,
  id_kp_clientAuth,
  KeyUsage,
  KeyUsageFlags,
  type Name,
  RevokedCertificate,
  SubjectPublicKeyInfo,
  TBSCertificate,
  TBSCertList,
  Time,
  Validity,
  Version,
} from "@peculiar/asn1-x509";

/**
 * The simulator's test CA at work: it checks the CSRs agents send with mutual TLS (signature, Common
 * Name) and signs client certificates for them, and issues CRLs for the revocation tests. Written
 * from RFC 2986 and RFC 5280 with the same ASN.1 schemas the agent uses, but none of its code.
 */

const OID_COMMON_NAME = "2.5.4.3";
const OID_ECDSA_WITH_SHA256 = "1.2.840.10045.4.3.2";
const OID_SHA256_WITH_RSA = "1.2.840.113549.1.1.11";
const DAY_MS = 24 * 60 * 60 * 1000;

export type CsrCheck =
  | { ok: true; commonName: string; publicKeyInfo: Buffer; request: CertificationRequest }
  | { ok: false; error: string };

export function derOfPem(pem: string, label: string): Buffer | undefined {
  const match = new RegExp(`-----BEGIN ${label}-----([\\s\\S]+?)-----END ${label}-----`).exec(pem);
  return match?.[1] === undefined ? undefined : Buffer.from(match[1].replace(/\s+/g, ""), "base64");
}

export function pemOf(label: string, der: Buffer): string {
  const lines = der.toString("base64").match(/.{1,64}/g) ?? [];
  return `-----BEGIN ${label}-----\n${lines.join("\n")}\n-----END ${label}-----\n`;
}

/** Parses a PEM CSR and verifies its self-signature; names what is wrong otherwise. */
export function checkCsr(pem: string): CsrCheck {
  const der = derOfPem(pem, "CERTIFICATE REQUEST");
  if (der === undefined) return { ok: false, error: "csr must be a PEM CERTIFICATE REQUEST" };
  let request: CertificationRequest;
  try {
    request = AsnConvert.parse(der, CertificationRequest);
  } catch {
    return { ok: false, error: "csr is not a PKCS#10 certificate signing request" };
  }
  const info = request.certificationRequestInfo;
  const publicKeyInfo = Buffer.from(AsnConvert.serialize(info.subjectPKInfo));
  const signed = Buffer.from(request.certificationRequestInfoRaw ?? AsnConvert.serialize(info));
  let valid = false;
  try {
    const key = createPublicKey({ key: publicKeyInfo, format: "der", type: "spki" });
    valid = verify("sha256", signed, key, Buffer.from(request.signature));
  } catch {
    valid = false;
  }
  if (!valid) return { ok: false, error: "csr signature does not verify" };
  let commonName: string | undefined;
  for (const rdn of info.subject) {
    for (const entry of rdn) if (entry.type === OID_COMMON_NAME) commonName = entry.value.toString();
  }
  if (commonName === undefined) return { ok: false, error: "csr has no Common Name" };
  return { ok: true, commonName, publicKeyInfo, request };
}

export interface IssueOptions {
  /** default: now - 1 h */
  notBefore?: Date;
  /** default: notBefore + 365 days */
  notAfter?: Date;
}

export interface IssuedCertificate {
  pem: string;
  /** hex, as openssl prints it */
  serial: string;
  notAfter: Date;
}

/** A certification authority from a PEM certificate and its PEM private key. */
export class TestCa {
  private readonly name: Name;
  private readonly key: ReturnType<typeof createPrivateKey>;
  readonly certificatePem: string;

  constructor(certificatePem: string, keyPem: string) {
    const der = derOfPem(certificatePem, "CERTIFICATE");
    if (der === undefined) throw new Error("the CA certificate is not PEM");
    this.name = AsnConvert.parse(der, Certificate).tbsCertificate.subject;
    this.key = createPrivateKey(keyPem);
    this.certificatePem = certificatePem;
  }

  static fromFiles(certificateFile: string, keyFile: string): TestCa {
    return new TestCa(readFileSync(certificateFile, "utf8"), readFileSync(keyFile, "utf8"));
  }

  /** A client certificate for the CSR's key and Common Name (checked by the caller). */
  issue(csr: Extract<CsrCheck, { ok: true }>, options: IssueOptions = {}): IssuedCertificate {
    const notBefore = options.notBefore ?? new Date(Date.now() - 60 * 60 * 1000);
    const notAfter = options.notAfter ?? new Date(notBefore.getTime() + 365 * DAY_MS);
    const serial = randomBytes(16);
    serial[0] = (serial[0] ?? 0) & 0x7f; // positive INTEGER
    if (serial[0] === 0) serial[0] = 1;
    const info = csr.request.certificationRequestInfo;
    const tbs = new TBSCertificate({
      version: Version.v3,
      serialNumber: toArrayBuffer(serial),
      signature: this.algorithm(),
      issuer: this.name,
      validity: new Validity({ notBefore, notAfter }),
      subject: info.subject,
      subjectPublicKeyInfo: AsnConvert.parse(csr.publicKeyInfo, SubjectPublicKeyInfo),
      extensions: new Extensions([
        extension(id_ce_basicConstraints, true, new BasicConstraints({ cA: false })),
        extension(id_ce_keyUsage, true, new KeyUsage(KeyUsageFlags.digitalSignature)),
        extension(id_ce_extKeyUsage, false, new ExtendedKeyUsage([id_kp_clientAuth])),
      ]),
    });
    const tbsDer = Buffer.from(AsnConvert.serialize(tbs));
    const certificate = new Certificate({
      tbsCertificate: tbs,
      signatureAlgorithm: this.algorithm(),
      signatureValue: toArrayBuffer(sign("sha256", tbsDer, this.key)),
    });
    return {
      pem: pemOf("CERTIFICATE", Buffer.from(AsnConvert.serialize(certificate))),
      serial: serial.toString("hex"),
      notAfter,
    };
  }

  /** A CRL (v2, valid for a day) revoking the certificates with these hex serials. */
  crl(serials: readonly string[], now: Date = new Date()): string {
    const tbs = new TBSCertList({
      version: Version.v2,
      signature: this.algorithm(),
      issuer: this.name,
      thisUpdate: new Time(new Date(now.getTime() - 60 * 60 * 1000)),
      nextUpdate: new Time(new Date(now.getTime() + DAY_MS)),
      ...(serials.length === 0
        ? {}
        : {
            revokedCertificates: serials.map(
              (serial) =>
                new RevokedCertificate({
                  userCertificate: toArrayBuffer(Buffer.from(serial, "hex")),
                  revocationDate: new Time(new Date(now.getTime() - 60 * 1000)),
                }),
            ),
          }),
    });
    const tbsDer = Buffer.from(AsnConvert.serialize(tbs));
    const list = new CertificateList({
      tbsCertList: tbs,
      signatureAlgorithm: this.algorithm(),
      signature: toArrayBuffer(sign("sha256", tbsDer, this.key)),
    });
    return pemOf("X509 CRL", Buffer.from(AsnConvert.serialize(list)));
  }

  private algorithm(): AlgorithmIdentifier {
    return this.key.asymmetricKeyType === "rsa"
      ? new AlgorithmIdentifier({
          algorithm: OID_SHA256_WITH_RSA,
          parameters: toArrayBuffer(Buffer.from([5, 0])),
        })
      : new AlgorithmIdentifier({ algorithm: OID_ECDSA_WITH_SHA256 });
  }
}

function extension(id: string, critical: boolean, value: unknown): Extension {
  return new Extension({ extnID: id, critical, extnValue: new OctetString(AsnConvert.serialize(value)) });
}

function toArrayBuffer(bytes: Buffer): ArrayBuffer {
  return bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.byteLength) as ArrayBuffer;
}
