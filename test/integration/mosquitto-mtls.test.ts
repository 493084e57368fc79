import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { checkCsr, TestCa } from "../../scripts/connectware-sim/ca.js";
import { certificateFiles } from "../../scripts/connectware-sim/paths.js";
import { type ConnectwareSimulator, startSimulator } from "../../scripts/connectware-sim/simulator.js";
import { CredentialStore } from "../../src/storage/credential-store.js";
import { prepareStateDir } from "../../src/storage/state-dir.js";
import { loadAsn1 } from "../../src/tls/asn1.js";
import { parseCertificate } from "../../src/tls/certificate.js";
import { newDeviceKey } from "../../src/tls/client-certificate.js";
import {
  type AgentProcess,
  FAST_TIMINGS,
  findLeakedSecrets,
  newStateDir,
  removeStateDirs,
  startAgent,
  stopAllAgents,
} from "./agent-process.js";
import { grantAndWaitOnline, loggedPairingId, storedCredentials } from "./fixtures.js";
import { findMosquitto, Mosquitto } from "./mosquitto.js";

// The agent loads its X.509 code when mutual TLS needs it; these tests call that code directly.
await loadAsn1();

const mosquitto = findMosquitto();
const started: AgentProcess[] = [];
const brokers: Mosquitto[] = [];
let sim: ConnectwareSimulator;

beforeAll(async () => {
  sim = await startSimulator();
});
afterEach(async () => {
  await stopAllAgents();
  for (const broker of brokers.splice(0)) await broker.kill();
  expect(findLeakedSecrets(started.splice(0))).toEqual([]);
});
afterAll(async () => {
  await sim.close();
  removeStateDirs();
});

/**
 * The certificate the simulator's registry signs, used against a real Mosquitto that takes client
 * certificates only (`require_certificate`, `use_identity_as_username`) and checks a CRL: OpenSSL
 * answers a revoked certificate with the TLS alert certificate_revoked, which must count as a
 * refused credential, not as a network failure.
 */
describe.skipIf(mosquitto === undefined && !process.env.CI)("mutual TLS against a real Mosquitto", () => {
  it("goes online with the signed certificate; once it is revoked, registers anew with a new key", async () => {
    if (mosquitto === undefined) throw new Error("mosquitto is not installed (apt-get install mosquitto)");
    const files = certificateFiles();
    const broker = await Mosquitto.startMutualTls(mosquitto, {
      ca: files.caFile,
      cert: files.serverCertFile,
      key: files.serverKeyFile,
      crl: sim.crl(),
    });
    brokers.push(broker);
    sim.unlock(600_000);
    const stateDir = newStateDir();
    const agent = startAgent(
      {
        ...FAST_TIMINGS,
        CYBUS_AGENT_NAME: "gw-mosq-mtls",
        CYBUS_MQTT_HOST: "127.0.0.1",
        CYBUS_MQTT_SCHEME: "mqtts",
        CYBUS_MQTT_PORT: String(broker.port),
        CW_AGENT_CA_FILE: files.caFile,
        CW_AGENT_REGISTRY_URL: sim.registryHttpUrl,
        CYBUS_USE_MUTUAL_TLS: "true",
        CW_AGENT_KEY_TYPE: "rsa2048",
        CW_AGENT_AUTH_REJECT_COUNT: "2",
        CW_AGENT_AUTH_REJECT_WINDOW_MS: "30000",
      },
      stateDir,
    );
    started.push(agent);
    const pairingId = await grantAndWaitOnline(sim, agent);
    const first = storedCredentials(stateDir)?.tls;
    expect(first?.privateKey).toContain("BEGIN PRIVATE KEY");
    const serial = parseCertificate(first?.certificate ?? "").serial;

    const from = agent.lines.length;
    broker.writeCrl(sim.testCa.crl([serial]));
    await broker.kill();
    await broker.launch();
    const refused = await agent.waitForMessage("Broker rejected the credentials", { from });
    expect(refused.msg).toMatch(/certificate revoked/);
    await agent.waitForMessage("Broker keeps rejecting the cached credentials", { from, timeoutMs: 60_000 });
    expect(await loggedPairingId(agent, from)).not.toBe(pairingId);
    // The user still exists in the registry with the old credentials: 409, which the admin resolves.
    await agent.waitForState("conflict", { from });
    expect(storedCredentials(stateDir)?.tls?.privateKey).not.toBe(first?.privateKey);
  });

  it.each([
    ["from a CA the broker does not trust", "unknown_ca", /unknown ca/],
    ["that has expired", "certificate_expired", /certificate expired/],
  ] as const)(
    "a certificate %s is refused with %s, counted as a rejection",
    async (what, _alert, message) => {
      if (mosquitto === undefined) throw new Error("mosquitto is not installed (apt-get install mosquitto)");
      const files = certificateFiles();
      const broker = await Mosquitto.startMutualTls(mosquitto, {
        ca: files.caFile,
        cert: files.serverCertFile,
        key: files.serverKeyFile,
      });
      brokers.push(broker);
      // Granted credentials with such a certificate: no registration, straight to the broker.
      const foreign = what.startsWith("from");
      const signer = foreign
        ? TestCa.fromFiles(files.otherCaFile, files.otherCaFile.replace(/other-ca\.pem$/, "other-ca-key.pem"))
        : sim.testCa;
      const username = foreign ? "gw-mosq-foreign" : "gw-mosq-expired";
      const key = newDeviceKey("ec-p256", username);
      const csr = checkCsr(key.csr);
      if (!csr.ok) throw new Error(csr.error);
      const now = Date.now();
      const certificate = signer.issue(
        csr,
        foreign
          ? {}
          : { notBefore: new Date(now - 2 * 60 * 60 * 1000), notAfter: new Date(now - 60 * 60 * 1000) },
      ).pem;
      const stateDir = newStateDir();
      prepareStateDir(stateDir);
      const store = CredentialStore.open(stateDir);
      store.saveNew(username, "a-password-of-the-test", key);
      store.markGranted({ certificate, chain: undefined });
      store.close();
      const agent = startAgent(
        {
          ...FAST_TIMINGS,
          CYBUS_AGENT_NAME: username,
          CYBUS_MQTT_HOST: "127.0.0.1",
          CYBUS_MQTT_SCHEME: "mqtts",
          CYBUS_MQTT_PORT: String(broker.port),
          CW_AGENT_CA_FILE: files.caFile,
          // Nothing listens here: a registration attempt would show up as a failure in the log.
          CW_AGENT_REGISTRY_URL: "http://127.0.0.1:9",
          CYBUS_USE_MUTUAL_TLS: "true",
        },
        stateDir,
      );
      agent.rememberSecret();
      started.push(agent);
      const refused = await agent.waitForMessage("Broker rejected the credentials");
      expect(refused.msg).toMatch(message);
      expect(refused.rejections).toBe(1);
      expect(agent.lines.some((line) => line.msg.includes("Asking for Connectware registration"))).toBe(
        false,
      );
    },
  );
});
