import type * as CertificateCode from "./certificate.js";
import type * as CsrCode from "./csr.js";

/**
 * X.509 parsing and PKCS#10 building, loaded on first need. Their ASN.1 libraries take about a tenth
 * of the agent's start-up, and only mutual TLS uses them. Whatever may meet a device key or a
 * certificate awaits loadAsn1() first (the agent's loop, `status`, `check`); the synchronous code
 * after it then calls asn1().
 */
export type Asn1 = Pick<typeof CertificateCode, "parseCertificate" | "matchCertificate"> &
  Pick<typeof CsrCode, "buildCsr">;

let loaded: Asn1 | undefined;

export async function loadAsn1(): Promise<Asn1> {
  if (loaded === undefined) {
    const [certificate, csr] = await Promise.all([import("./certificate.js"), import("./csr.js")]);
    loaded = {
      parseCertificate: certificate.parseCertificate,
      matchCertificate: certificate.matchCertificate,
      buildCsr: csr.buildCsr,
    };
  }
  return loaded;
}

/** The loaded code. Called before loadAsn1() has finished, it throws: a defect, never "no certificate". */
export function asn1(): Asn1 {
  if (loaded === undefined) throw new Error("X.509 code used before loadAsn1() loaded it");
  return loaded;
}
