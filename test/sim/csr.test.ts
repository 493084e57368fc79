import { createPrivateKey, X509Certificate } from "node:crypto";
import { readFileSync } from "node:fs";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { httpRequestText } from "../../scripts/connectware-sim/http-client.js";
import { expectedKeyPairingId } from "../../scripts/connectware-sim/pairing-id.js";
import { type ConnectwareSimulator, startSimulator } from "../../scripts/connectware-sim/simulator.js";
import { loadAsn1 } from "../../src/tls/asn1.js";
import { newDeviceKey } from "../../src/tls/client-certificate.js";
import { publicKeyDer } from "../../src/tls/device-key.js";

// The agent loads its X.509 code when mutual TLS needs it; these tests call that code directly.
await loadAsn1();

const REGISTER = "/api/client-registry/register";
let sim: ConnectwareSimulator;

beforeAll(async () => {
  sim = await startSimulator();
  sim.unlock(600_000);
});
afterAll(async () => {
  await sim.close();
});

const register = (body: unknown) =>
  httpRequestText(`${sim.registryHttpUrl}${REGISTER}`, { method: "POST", body });

describe("registration with a certificate signing request", () => {
  it("answers 400 when the CSR's Common Name is not the username, or it is no CSR", async () => {
    const key = newDeviceKey("ec-p256", "someone-else");
    const mismatch = await register({ username: "edge-csr-1", password: "secret-1", csr: key.csr });
    expect(mismatch.status).toBe(400);
    expect(JSON.parse(mismatch.body)).toMatchObject({ field: "csr" });
    expect(JSON.parse(mismatch.body).error).toContain("must equal the username");
    const garbage = await register({ username: "edge-csr-1", password: "secret-1", csr: "not a csr" });
    expect(garbage.status).toBe(400);
    expect(sim.requests().find((request) => request.username === "edge-csr-1")).toBeUndefined();
  });

  it("derives the pairing ID from the CSR's key and answers the grant with a certificate signed by the test CA", async () => {
    const key = newDeviceKey("rsa2048", "edge-csr-2");
    const body = { username: "edge-csr-2", password: "secret-2", csr: key.csr };
    const pending = await register(body);
    expect(pending.status).toBe(202);
    const pairingId = expectedKeyPairingId("edge-csr-2", publicKeyDer(key.privateKey));
    expect(JSON.parse(pending.body)).toMatchObject({ pairingId });
    sim.grant(pairingId);
    const granted = await register(body);
    expect(granted.status).toBe(201);
    const { certificate, ca } = JSON.parse(granted.body) as { certificate: string; ca: string };
    const x509 = new X509Certificate(certificate);
    expect(x509.subject).toBe("CN=edge-csr-2");
    expect(x509.verify(new X509Certificate(readFileSync(sim.caFile)).publicKey)).toBe(true);
    expect(x509.checkPrivateKey(createPrivateKey(key.privateKey))).toBe(true);
    expect(ca).toBe(readFileSync(sim.caFile, "utf8"));
    expect(sim.issuedCertificates().at(-1)).toMatchObject({ username: "edge-csr-2" });
  });
});
