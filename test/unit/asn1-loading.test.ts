import { beforeEach, describe, expect, it, vi } from "vitest";

// Each test gets the modules fresh, as a process that has not loaded its X.509 code yet.
beforeEach(() => {
  vi.resetModules();
});

describe("X.509 code loaded on demand", () => {
  it("refuses to be used before it is loaded, and works after", async () => {
    const { asn1, loadAsn1 } = await import("../../src/tls/asn1.js");
    expect(() => asn1()).toThrow("X.509 code used before loadAsn1() loaded it");
    const loaded = await loadAsn1();
    expect(asn1()).toBe(loaded);
    expect(typeof loaded.parseCertificate).toBe("function");
  });

  it("a stored certificate read before loading is an error, never taken for 'no certificate' (which re-registers)", async () => {
    const { storedCertificateInfo, loginModeChange } = await import("../../src/tls/client-certificate.js");
    const credentials = {
      username: "agent",
      password: "",
      pairingId: "abcdef",
      status: "granted" as const,
      createdAt: 0,
      grantedAt: 0,
      tls: {
        privateKey: "unused",
        csr: "unused",
        certificate: "-----BEGIN CERTIFICATE-----\nAA==\n-----END CERTIFICATE-----\n",
        chain: undefined,
      },
    };
    expect(() => storedCertificateInfo(credentials)).toThrow(/before loadAsn1/);
    expect(() => loginModeChange(credentials, true)).toThrow(/before loadAsn1/);
    // Without a certificate nothing needs the X.509 code.
    expect(storedCertificateInfo({ ...credentials, tls: undefined })).toBeUndefined();
  });
});
