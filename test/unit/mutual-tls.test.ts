import { CertificationRequest } from "@peculiar/asn1-csr";
import { AsnConvert } from "@peculiar/asn1-schema";
import { pino } from "pino";
import { describe, expect, it } from "vitest";
import { checkCsr, pemOf, TestCa } from "../../scripts/connectware-sim/ca.js";
import { expectedKeyPairingId } from "../../scripts/connectware-sim/pairing-id.js";
import { certificateFiles } from "../../scripts/connectware-sim/paths.js";
import { loadConfig } from "../../src/config/config.js";
import { Lifecycle } from "../../src/lifecycle/lifecycle.js";
import { isAuthRejection } from "../../src/mqtt/auth-rejection.js";
import { clientOptions } from "../../src/mqtt/client.js";
import { certificateRefusal } from "../../src/mqtt/client-certificate.js";
import { Registration } from "../../src/registration/registration.js";
import type { RegistrationOutcome, RegistryClient } from "../../src/registration/registry-client.js";
import type { StoredCredentials } from "../../src/storage/credential-store.js";
import { pairingIdOfKey } from "../../src/storage/pairing-id.js";
import { loadAsn1 } from "../../src/tls/asn1.js";
import { matchCertificate, parseCertificate } from "../../src/tls/certificate.js";
import { readCertificateBody } from "../../src/tls/certificate-body.js";
import {
  acceptCertificateGrant,
  CLOCK_RETRY_MS,
  newDeviceKey,
  watchCertificate,
} from "../../src/tls/client-certificate.js";
import { generateDeviceKey, keyTypeOf, publicKeyDer } from "../../src/tls/device-key.js";

// The agent loads its X.509 code when mutual TLS needs it; these tests call that code directly.
await loadAsn1();

const files = certificateFiles();
const ca = TestCa.fromFiles(files.caFile, files.caKeyFile);
const DAY = 24 * 60 * 60 * 1000;

function signed(key: { privateKey: string; csr: string }, options: { notAfter?: Date } = {}) {
  const csr = checkCsr(key.csr);
  if (!csr.ok) throw new Error(csr.error);
  return ca.issue(csr, options);
}

function pendingCredentials(username: string, key: { privateKey: string; csr: string }): StoredCredentials {
  return {
    username,
    password: "a-password-of-the-test",
    pairingId: pairingIdOfKey(username, publicKeyDer(key.privateKey)),
    status: "pending",
    createdAt: 0,
    grantedAt: undefined,
    tls: { ...key, certificate: undefined, chain: undefined },
  };
}

describe("the device key and its CSR", () => {
  it.each(["ec-p256", "rsa2048"] as const)(
    "%s: a CSR whose signature verifies and whose CN is the username",
    (type) => {
      const key = newDeviceKey(type, "press-line-7");
      expect(keyTypeOf(key.privateKey)).toBe(type);
      expect(key.csr).toMatch(/^-----BEGIN CERTIFICATE REQUEST-----\n/);
      expect(key.csr).not.toContain(key.privateKey.split("\n")[1]);
      const check = checkCsr(key.csr);
      expect(check.ok && check.commonName).toBe("press-line-7");
      expect(check.ok && check.publicKeyInfo.equals(publicKeyDer(key.privateKey))).toBe(true);
    },
  );

  it("the simulator refuses a CSR whose signature is not by its key", () => {
    const a = checkCsr(newDeviceKey("ec-p256", "press-line-7").csr);
    const b = checkCsr(newDeviceKey("ec-p256", "press-line-7").csr);
    if (!a.ok || !b.ok) throw new Error("CSRs must parse");
    const tampered = new CertificationRequest({
      certificationRequestInfo: a.request.certificationRequestInfo,
      signatureAlgorithm: a.request.signatureAlgorithm,
      signature: b.request.signature,
    });
    const pem = pemOf("CERTIFICATE REQUEST", Buffer.from(AsnConvert.serialize(tampered)));
    expect(checkCsr(pem)).toEqual({ ok: false, error: "csr signature does not verify" });
  });

  it("the pairing ID comes from username and public key: new key, new ID; same key, same ID", () => {
    const first = generateDeviceKey("ec-p256");
    const second = generateDeviceKey("ec-p256");
    const id = pairingIdOfKey("gw-1", publicKeyDer(first));
    expect(id).toMatch(/^[0-9a-f]{6}$/);
    expect(pairingIdOfKey("gw-1", publicKeyDer(first))).toBe(id);
    expect(pairingIdOfKey("gw-1", publicKeyDer(second))).not.toBe(id);
    expect(pairingIdOfKey("gw-2", publicKeyDer(first))).not.toBe(id);
    // The simulator's independent derivation agrees.
    expect(expectedKeyPairingId("gw-1", publicKeyDer(first))).toBe(id);
  });
});

describe("reading the certificate out of a 201 body", () => {
  const key = newDeviceKey("ec-p256", "gw-body");
  const certificate = signed(key).pem;

  it.each([
    ["certificate", JSON.stringify({ certificate })],
    ["cert", JSON.stringify({ cert: certificate, username: "gw-body" })],
    ["crt with the chain appended", JSON.stringify({ crt: certificate + ca.certificatePem })],
    [
      "signedCertificate and a chain array",
      JSON.stringify({ signedCertificate: certificate, caChain: [ca.certificatePem] }),
    ],
    ["a raw PEM body", `${certificate}${ca.certificatePem}`],
  ])("%s", (_shape, body) => {
    const read = readCertificateBody(body);
    expect(read.ok).toBe(true);
    const accepted = acceptCertificateGrant(body, pendingCredentials("gw-body", key));
    expect(accepted.ok && accepted.certificate).toBe(certificate);
  });

  it("names the keys of a body it cannot read, never their values", () => {
    const body = JSON.stringify({ status: "granted", token: "value-that-must-not-show", nested: { a: 1 } });
    const read = readCertificateBody(body);
    expect(read.ok).toBe(false);
    if (read.ok) return;
    expect(read.reason).toContain('"status", "token", "nested"');
    expect(read.reason).not.toContain("value-that-must-not-show");
    expect(read.reason).not.toContain("granted");
    expect(readCertificateBody("not json at all").ok).toBe(false);
    expect(readCertificateBody("[1,2]").ok).toBe(false);
  });

  it("refuses a certificate for another key or another Common Name", () => {
    const stranger = newDeviceKey("ec-p256", "gw-body");
    const forStranger = matchCertificate([signed(stranger).pem], key.privateKey, "gw-body");
    expect(forStranger.ok).toBe(false);
    expect(!forStranger.ok && forStranger.reason).toContain("another key");
    const otherName = newDeviceKey("ec-p256", "gw-other");
    const named = matchCertificate([signed(otherName).pem], otherName.privateKey, "gw-body");
    expect(!named.ok && named.reason).toContain('"gw-other"');
  });

  it("parses subject, issuer, serial and notAfter", () => {
    const notAfter = new Date(Date.UTC(2030, 0, 2, 3, 4, 5));
    const issued = signed(key, { notAfter });
    const info = parseCertificate(issued.pem);
    expect(info.subject).toBe("CN=gw-body");
    expect(info.issuer).toBe("CN=cw-agent Connectware simulator test CA");
    expect(info.serial).toBe(issued.serial.replace(/^(00)+/, ""));
    expect(info.notAfter.toISOString()).toBe("2030-01-02T03:04:05.000Z");
  });
});

describe("registration with a CSR", () => {
  it("sends the CSR, takes an unusable grant as an error and asks again, and returns the usable one", async () => {
    const config = loadConfig({ CYBUS_AGENT_NAME: "gw-reg", CYBUS_MQTT_HOST: "connectware.local" });
    const key = newDeviceKey("ec-p256", "gw-reg");
    const bodies = [
      JSON.stringify({ status: "ok", secret: "never-logged" }),
      JSON.stringify({ certificate: signed(key).pem }),
    ];
    const sent: unknown[] = [];
    const client = {
      register: async (request: unknown): Promise<RegistrationOutcome> => {
        sent.push(request);
        return { kind: "granted", body: bodies[sent.length - 1] ?? "" };
      },
    } as unknown as RegistryClient;
    const lines: string[] = [];
    const registration = new Registration({
      config,
      lifecycle: new Lifecycle({
        agentName: "gw-reg",
        username: "gw-reg",
        broker: "b:1",
        registry: "https://r",
      }),
      logger: pino({ level: "info" }, { write: (line: string) => lines.push(line) }),
      client,
      random: () => 0,
      sleep: async () => {},
    });
    const credentials = pendingCredentials("gw-reg", key);
    const grant = await registration.run(credentials, true, new AbortController().signal, (body) => {
      const accepted = acceptCertificateGrant(body, credentials);
      return accepted.ok ? undefined : accepted.reason;
    });
    expect(grant?.body).toBe(bodies[1]);
    expect(sent).toHaveLength(2);
    expect(sent[0]).toMatchObject({ username: "gw-reg", csr: key.csr });
    const error = lines.find((line) => line.includes("answer is unusable"));
    expect(error).toContain('\\"status\\", \\"secret\\"');
    expect(lines.join("\n")).not.toContain("never-logged");
    expect(lines.join("\n")).not.toContain(key.privateKey.split("\n")[1]);
  });
});

describe("the MQTT login with a client certificate", () => {
  const env = {
    CYBUS_AGENT_NAME: "gw-opt",
    CYBUS_MQTT_HOST: "connectware.local",
    CYBUS_MQTT_SCHEME: "mqtts",
    CYBUS_USE_MUTUAL_TLS: "true",
  };

  it("hands key and certificate to TLS, at most TLS 1.2, and no password", () => {
    const options = clientOptions(
      loadConfig(env),
      { clientId: "gw-opt", username: "gw-opt", password: "pw-of-the-test" },
      {},
      { key: "KEY", cert: "CERT" },
    ) as Record<string, unknown>;
    expect(options).toMatchObject({ key: "KEY", cert: "CERT", maxVersion: "TLSv1.2", username: "gw-opt" });
    expect(options.password).toBeUndefined();
  });

  it("needs mqtts: otherwise a config error that names both settings", () => {
    expect(() => loadConfig({ ...env, CYBUS_MQTT_SCHEME: "mqtt" })).toThrow(
      /CYBUS_USE_MUTUAL_TLS.*CYBUS_MQTT_SCHEME=mqtt/,
    );
    expect(() => loadConfig({ ...env, CW_AGENT_KEY_TYPE: "dsa" })).toThrow(/CW_AGENT_KEY_TYPE/);
  });

  it("counts TLS alerts that refuse the certificate as rejections, network failures never", () => {
    for (const code of [
      "ERR_SSL_SSLV3_ALERT_BAD_CERTIFICATE",
      "ERR_SSL_SSLV3_ALERT_CERTIFICATE_REVOKED",
      "ERR_SSL_SSLV3_ALERT_CERTIFICATE_EXPIRED",
      "ERR_SSL_SSLV3_ALERT_CERTIFICATE_UNKNOWN",
      "ERR_SSL_TLSV1_ALERT_UNKNOWN_CA",
    ]) {
      expect(certificateRefusal(Object.assign(new Error("alert"), { code }))).toBe("certificate-refused");
    }
    const written = Object.assign(
      new Error("write EPROTO ...:sslv3 alert certificate revoked:...:SSL alert number 44\n"),
      {
        code: "EPROTO",
      },
    );
    expect(isAuthRejection(written)).toBe(true);
    const handshakeFailure = Object.assign(new Error("write EPROTO ...:SSL alert number 40\n"), {
      code: "EPROTO",
    });
    expect(isAuthRejection(handshakeFailure)).toBe(false);
    for (const code of [
      "ECONNREFUSED",
      "ECONNRESET",
      "ETIMEDOUT",
      "ENOTFOUND",
      "UNABLE_TO_VERIFY_LEAF_SIGNATURE",
    ]) {
      expect(isAuthRejection(Object.assign(new Error(code), { code }))).toBe(false);
    }
  });
});

describe("the certificate's expiry", () => {
  const key = newDeviceKey("ec-p256", "gw-exp");
  const notAfter = new Date(Date.UTC(2030, 5, 1));
  const info = parseCertificate(signed(key, { notAfter }).pem);

  function bed(start: number, synchronizedAfter: number) {
    let now = start;
    let clockQueries = 0;
    const lines: string[] = [];
    const stop = new AbortController();
    const run = watchCertificate(
      {
        info,
        warningDays: 30,
        logger: pino({ level: "info" }, { write: (line: string) => lines.push(line) }),
        now: () => now,
        sleep: async (ms) => {
          now += ms;
          if (now > notAfter.getTime() + 10 * DAY) stop.abort();
        },
        clockSynchronized: async () => ++clockQueries > synchronizedAfter,
      },
      stop.signal,
    );
    return { run, lines, clockQueries: () => clockQueries };
  }

  it("warns once a day from 30 days before notAfter, then reports it expired", async () => {
    const { run, lines } = bed(notAfter.getTime() - 40 * DAY, 0);
    expect(await run).toBe("expired");
    const warnings = lines.filter((line) => line.includes("The client certificate expires in"));
    expect(warnings).toHaveLength(30);
    expect(warnings[0]).toContain("expires in 30 days");
    expect(lines.at(-1)).toContain("expired at 2030-06-01T00:00:00.000Z");
  });

  it("never judges it expired before the clock is synchronized: waits and looks again", async () => {
    const { run, lines, clockQueries } = bed(notAfter.getTime() + DAY, 3);
    expect(await run).toBe("expired");
    expect(clockQueries()).toBe(4);
    expect(lines.filter((line) => line.includes("clock is not synchronized"))).toHaveLength(1);
    expect(CLOCK_RETRY_MS).toBeGreaterThan(0);
  });
});
