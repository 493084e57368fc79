import { execFileSync } from "node:child_process";
import { statSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { expectedKeyPairingId } from "../../scripts/connectware-sim/pairing-id.js";
import { DATABASE_FILE } from "../../src/storage/credential-store.js";
import { parseCertificate } from "../../src/tls/certificate.js";
import { publicKeyDer } from "../../src/tls/device-key.js";
import { parseJson, runCli } from "../cli/cli-process.js";
import { CLI, newStateDir } from "./agent-process.js";
import {
  agentTestBed,
  grantAndWaitOnline,
  loggedPairingId,
  simEnv,
  storedCredentials,
  until,
} from "./fixtures.js";

/** Real `cw-agent run` processes with CYBUS_USE_MUTUAL_TLS against a simulator that requires client certificates. */
describe("mutual TLS against the simulator", () => {
  const bed = agentTestBed({
    simulator: { clientCertificates: true },
    resetAfterEach: (sim) => {
      sim.lock();
      sim.setCertificateLifetime(undefined);
    },
  });
  const mtlsEnv = (name: string, extra: Record<string, string> = {}) =>
    simEnv(bed.sim, name, {
      CYBUS_MQTT_SCHEME: "mqtts",
      CYBUS_MQTT_PORT: String(bed.sim.mqttsPort),
      CW_AGENT_CA_FILE: bed.sim.caFile,
      CYBUS_USE_MUTUAL_TLS: "true",
      ...extra,
    });

  it("registers with a CSR, stores the signed certificate and goes online with it; a restart sends no request", async () => {
    const { sim } = bed;
    sim.unlock(600_000);
    const stateDir = newStateDir();
    const agent = bed.start(mtlsEnv("gw-mtls-1"), stateDir);
    const pairingId = await grantAndWaitOnline(sim, agent);

    const stored = storedCredentials(stateDir);
    const tls = stored?.tls;
    expect(stored?.status).toBe("granted");
    expect(tls?.privateKey).toContain("BEGIN PRIVATE KEY");
    // The simulator derives the pairing ID from the CSR it received, the agent from its own key.
    expect(pairingId).toBe(expectedKeyPairingId("gw-mtls-1", publicKeyDer(tls?.privateKey ?? "")));
    const info = parseCertificate(tls?.certificate ?? "");
    expect(info.commonName).toBe("gw-mtls-1");
    expect(info.publicKey.equals(publicKeyDer(tls?.privateKey ?? ""))).toBe(true);
    expect(sim.issuedCertificates().map((entry) => entry.serial)).toContain(info.serial);
    expect(sim.mqttClients().map((client) => client.username)).toContain("gw-mtls-1");
    expect(agent.lines.some((line) => line.msg.includes(`serial ${info.serial}`))).toBe(true);
    expect(statSync(join(stateDir, DATABASE_FILE)).mode & 0o777).toBe(0o600);
    expect(statSync(stateDir).mode & 0o777).toBe(0o700);

    // status and check show the certificate, never the key, while the agent runs.
    const env = mtlsEnv("gw-mtls-1");
    const status = await runCli(["status", "--json"], env, stateDir);
    expect(parseJson<{ certificate: unknown }>(status).certificate).toEqual({
      subject: "CN=gw-mtls-1",
      issuer: info.issuer,
      serial: info.serial,
      notAfter: info.notAfter.toISOString(),
    });
    // The remote status command (docs/remote.md) shows the same certificate; the birth record says
    // the agent listens for commands.
    await until(() => sim.retained("cw-agent/gw-mtls-1/info") !== undefined, "the birth record");
    const remote = (await sim.command("gw-mtls-1", "status")) as { result?: { certificate?: unknown } };
    expect(remote.result?.certificate).toEqual(parseJson<{ certificate: unknown }>(status).certificate);
    const check = await runCli(["check"], env, stateDir);
    const certificateLine = check.stdout.split("\n").find((line) => line.includes("client-certificate"));
    expect(certificateLine).toContain(`serial ${info.serial}`);
    expect(certificateLine).toContain(`notAfter ${info.notAfter.toISOString()}`);
    for (const line of (tls?.privateKey ?? "").split("\n").filter((text) => text.length >= 40)) {
      expect(status.stdout + status.stderr + check.stdout + check.stderr).not.toContain(line);
    }

    await agent.kill();
    const calls = sim.registerCalls().length;
    const again = bed.start(mtlsEnv("gw-mtls-1"), stateDir);
    await again.waitForState("online");
    expect(sim.registerCalls().length).toBe(calls);
    expect(storedCredentials(stateDir)?.tls?.certificate).toBe(tls?.certificate);
  });

  it("keeps the same key and pairing ID across a restart while pending", async () => {
    const { sim } = bed;
    sim.unlock(600_000);
    const stateDir = newStateDir();
    const first = bed.start(mtlsEnv("gw-mtls-2"), stateDir);
    const pairingId = await loggedPairingId(first);
    await first.waitForState("pending");
    const key = storedCredentials(stateDir)?.tls?.privateKey;
    await first.kill();
    const second = bed.start(mtlsEnv("gw-mtls-2"), stateDir);
    expect(await loggedPairingId(second)).toBe(pairingId);
    expect(storedCredentials(stateDir)?.tls?.privateKey).toBe(key);
    await second.waitForState("pending");
    expect(sim.requests().filter((request) => request.username === "gw-mtls-2")).toHaveLength(1);
  });

  it("a revoked certificate brings a fresh registration with a new key", async () => {
    const { sim } = bed;
    sim.unlock(600_000);
    const stateDir = newStateDir();
    const agent = bed.start(
      mtlsEnv("gw-mtls-3", { CW_AGENT_AUTH_REJECT_COUNT: "2", CW_AGENT_AUTH_REJECT_WINDOW_MS: "30000" }),
      stateDir,
    );
    const pairingId = await grantAndWaitOnline(sim, agent);
    const key = storedCredentials(stateDir)?.tls?.privateKey;
    const from = agent.lines.length;
    sim.revokeCertificatesOf("gw-mtls-3");
    sim.dropMqttClient("gw-mtls-3");
    await agent.waitForMessage("Broker rejected the credentials", { from });
    await agent.waitForMessage("Broker keeps rejecting the cached credentials", { from, timeoutMs: 60_000 });
    const next = await loggedPairingId(agent, from);
    expect(next).not.toBe(pairingId);
    await agent.waitForLine((line) => line.state === "conflict" || line.state === "pending", { from });
    expect(storedCredentials(stateDir)?.tls?.privateKey).not.toBe(key);
  });

  it("switching between a password and mutual TLS, both ways, registers anew and says why", async () => {
    const { sim } = bed;
    sim.unlock(600_000);
    const stateDir = newStateDir();
    const plain = bed.start(simEnv(sim, "gw-mtls-4"), stateDir);
    await grantAndWaitOnline(sim, plain);
    await plain.kill();
    sim.deleteUser("gw-mtls-4");
    const agent = bed.start(mtlsEnv("gw-mtls-4"), stateDir);
    const line = await agent.waitForMessage(
      "CYBUS_USE_MUTUAL_TLS is on but the stored credentials are a password",
    );
    expect(line.level).toBe(40);
    await grantAndWaitOnline(sim, agent);
    expect(storedCredentials(stateDir)?.tls?.certificate).toContain("BEGIN CERTIFICATE");
    await agent.kill();

    // And back: a password again, said once, over the simulator's plain MQTT.
    sim.deleteUser("gw-mtls-4");
    const back = bed.start(simEnv(sim, "gw-mtls-4"), stateDir);
    await back.waitForMessage(
      "CYBUS_USE_MUTUAL_TLS is off but the stored credentials are a client certificate",
    );
    await grantAndWaitOnline(sim, back);
    expect(storedCredentials(stateDir)?.tls).toBeUndefined();
    expect(back.lines.filter((line) => line.msg.includes("CYBUS_USE_MUTUAL_TLS is off"))).toHaveLength(1);
  });

  it("refuses CYBUS_USE_MUTUAL_TLS without mqtts with exit 78, naming both settings", () => {
    let status: number | null = 0;
    let output = "";
    try {
      execFileSync(process.execPath, [CLI, "run"], {
        env: {
          ...simEnv(bed.sim, "gw-mtls-5"),
          CYBUS_USE_MUTUAL_TLS: "true",
          CW_AGENT_STATE_DIR: newStateDir(),
        },
        encoding: "utf8",
        stdio: "pipe",
      });
    } catch (error) {
      const failure = error as { status: number | null; stdout: string; stderr: string };
      status = failure.status;
      output = failure.stdout + failure.stderr;
    }
    expect(status).toBe(78);
    expect(output).toContain("CYBUS_USE_MUTUAL_TLS");
    expect(output).toContain("CYBUS_MQTT_SCHEME");
  });
});
