import { sign } from "node:crypto";
import { Attributes, CertificationRequest, CertificationRequestInfo } from "@peculiar/asn1-csr";
import { AsnConvert } from "@peculiar/asn1-schema";
import {
  AlgorithmIdentifier,
  AttributeTypeAndValue,
  AttributeValue,
  Name,
  RelativeDistinguishedName,
  SubjectPublicKeyInfo,
} from "@peculiar/asn1-x509";
import { privateKeyOf, publicKeyDer } from "./device-key.js";

const OID_COMMON_NAME = "2.5.4.3";
const OID_ECDSA_WITH_SHA256 = "1.2.840.10045.4.3.2";
const OID_SHA256_WITH_RSA = "1.2.840.113549.1.1.11";
/** The DER NULL that RSA signature algorithm identifiers carry as parameters (RFC 4055 §5). */
const DER_NULL = new Uint8Array([0x05, 0x00]).buffer;

/**
 * A PKCS#10 certificate signing request (RFC 2986) for the device key, with the Common Name the
 * registry requires: the username (protocol contract §2). Signed with SHA-256, so it proves that
 * whoever asks holds the key. Only the public key and the name go into it.
 */
export function buildCsr(keyPem: string, username: string): string {
  const key = privateKeyOf(keyPem);
  const info = new CertificationRequestInfo({
    version: 0,
    subject: new Name([
      new RelativeDistinguishedName([
        new AttributeTypeAndValue({
          type: OID_COMMON_NAME,
          value: new AttributeValue({ utf8String: username }),
        }),
      ]),
    ]),
    subjectPKInfo: AsnConvert.parse(publicKeyDer(key), SubjectPublicKeyInfo),
    attributes: new Attributes(),
  });
  const infoDer = Buffer.from(AsnConvert.serialize(info));
  const isRsa = key.asymmetricKeyType === "rsa";
  // Node signs EC keys in the DER (r, s) form X.509 and PKCS#10 expect, RSA with PKCS#1 v1.5.
  const signature = sign("sha256", infoDer, key);
  const request = new CertificationRequest({
    certificationRequestInfo: info,
    signatureAlgorithm: isRsa
      ? new AlgorithmIdentifier({ algorithm: OID_SHA256_WITH_RSA, parameters: DER_NULL })
      : new AlgorithmIdentifier({ algorithm: OID_ECDSA_WITH_SHA256 }),
    signature: toArrayBuffer(signature),
  });
  return toPem("CERTIFICATE REQUEST", Buffer.from(AsnConvert.serialize(request)));
}

export function toPem(label: string, der: Buffer): string {
  const lines = der.toString("base64").match(/.{1,64}/g) ?? [];
  return `-----BEGIN ${label}-----\n${lines.join("\n")}\n-----END ${label}-----\n`;
}

function toArrayBuffer(bytes: Buffer): ArrayBuffer {
  return bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.byteLength) as ArrayBuffer;
}
