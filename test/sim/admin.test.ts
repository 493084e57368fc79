import { existsSync } from "node:fs";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { EXIT_API_ERROR, EXIT_OK, EXIT_USAGE, runCli } from "../../scripts/connectware-sim/cli.js";
import { httpRequestText } from "../../scripts/connectware-sim/http-client.js";
import { DEFAULT_PORTS, MainUsageError, parseMainOptions } from "../../scripts/connectware-sim/main.js";
import { expectedPairingId } from "../../scripts/connectware-sim/pairing-id.js";
import { certificateFiles } from "../../scripts/connectware-sim/paths.js";
import { type ConnectwareSimulator, startSimulator } from "../../scripts/connectware-sim/simulator.js";

const REGISTER = "/api/client-registry/register";

let sim: ConnectwareSimulator;

async function admin(
  method: string,
  path: string,
  body?: unknown,
): Promise<{ status: number; json: unknown }> {
  const response = await httpRequestText(`${sim.adminUrl}${path}`, {
    method,
    ...(body === undefined ? {} : { body }),
  });
  return { status: response.status, json: JSON.parse(response.body) };
}

async function cli(...argv: string[]): Promise<{ code: number; out: string; err: string }> {
  const out: string[] = [];
  const err: string[] = [];
  const code = await runCli(["--admin", sim.adminUrl, ...argv], {
    out: (line) => out.push(line),
    err: (line) => err.push(line),
    env: {},
  });
  return { code, out: out.join("\n"), err: err.join("\n") };
}

beforeAll(async () => {
  sim = await startSimulator();
});

afterAll(async () => {
  await sim.close();
});

describe("admin HTTP API", () => {
  it("unlocks, lists, grants and deletes like the Admin UI", async () => {
    expect((await admin("GET", "/admin/status")).json).toMatchObject({ unlocked: false, misbehaviour: null });
    const unlocked = await admin("POST", "/admin/unlock", { durationMs: 60_000 });
    expect(unlocked.json).toMatchObject({ unlocked: true });

    const password = "api-password";
    await httpRequestText(`${sim.registryHttpUrl}${REGISTER}`, {
      method: "POST",
      body: { username: "api-agent", password },
    });
    const pairingId = expectedPairingId("api-agent", password);
    const requests = await admin("GET", "/admin/requests");
    expect(requests.json).toEqual([
      expect.objectContaining({ username: "api-agent", pairingId, status: "pending" }),
    ]);

    const granted = await admin("POST", "/admin/grant", { id: pairingId });
    expect(granted).toMatchObject({ status: 200, json: { username: "api-agent", status: "granted" } });
    expect((await admin("GET", "/admin/users")).json).toContainEqual({
      username: "api-agent",
      permissions: [],
    });

    expect((await admin("DELETE", "/admin/users/api-agent")).status).toBe(200);
    expect((await admin("DELETE", "/admin/users/api-agent")).status).toBe(404);
    expect((await admin("POST", "/admin/lock")).json).toMatchObject({ unlocked: false });
  });

  it("adds users, switches misbehaviours and stops the broker", async () => {
    const added = await admin("POST", "/admin/users", { username: "preexisting", password: "old-password" });
    expect(added.status).toBe(200);
    expect(sim.users().map((user) => user.username)).toContain("preexisting");

    expect((await admin("POST", "/admin/misbehave", { mode: "http-500" })).status).toBe(200);
    expect(sim.misbehaviour()).toBe("http-500");
    expect((await admin("POST", "/admin/misbehave", { mode: null })).status).toBe(200);
    expect(sim.misbehaviour()).toBeNull();

    expect((await admin("POST", "/admin/broker/stop")).status).toBe(200);
    expect(sim.isBrokerRunning()).toBe(false);
    expect((await admin("POST", "/admin/broker/start")).status).toBe(200);
    expect(sim.isBrokerRunning()).toBe(true);
  });

  it("answers clear 400, 404 and 405 errors", async () => {
    expect(await admin("POST", "/admin/misbehave", { mode: "explode" })).toMatchObject({
      status: 400,
      json: { error: expect.stringMatching(/mode/) },
    });
    expect((await admin("POST", "/admin/grant", {})).status).toBe(400);
    expect((await admin("POST", "/admin/unlock", { durationMs: -1 })).status).toBe(400);
    expect((await admin("POST", "/admin/grant", { id: "nobody" })).status).toBe(404);
    expect((await admin("GET", "/admin/nothing-here")).status).toBe(404);
    expect((await admin("GET", "/admin/lock")).status).toBe(405);
    const badJson = await httpRequestText(`${sim.adminUrl}/admin/deny`, { method: "POST", body: "{" });
    expect(badJson.status).toBe(400);
  });
});

describe("admin CLI", () => {
  it("lists requests with pairing IDs and grants by pairing ID", async () => {
    expect((await cli("unlock", "30")).code).toBe(EXIT_OK);
    await httpRequestText(`${sim.registryHttpUrl}${REGISTER}`, {
      method: "POST",
      body: { username: "cli-agent", password: "cli-password" },
    });
    const pairingId = expectedPairingId("cli-agent", "cli-password");
    const list = await cli("list");
    expect(list.code).toBe(EXIT_OK);
    expect(list.out).toMatch(/PAIRING ID/);
    expect(list.out).toMatch(new RegExp(`cli-agent\\s+${pairingId}\\s+pending`));

    const grant = await cli("grant", pairingId);
    expect(grant).toMatchObject({ code: EXIT_OK });
    expect(grant.out).toContain(`granted cli-agent (pairing ID ${pairingId})`);
    expect((await cli("users")).out).toMatch(/cli-agent/);
    expect((await cli("status")).out).toMatch(/client registry:\s+unlocked/);
    expect((await cli("lock")).code).toBe(EXIT_OK);
    expect((await cli("misbehave", "html")).code).toBe(EXIT_OK);
    expect(sim.misbehaviour()).toBe("html");
    expect((await cli("misbehave", "off")).code).toBe(EXIT_OK);
    expect(sim.misbehaviour()).toBeNull();
    expect((await cli("delete-user", "cli-agent")).code).toBe(EXIT_OK);
  });

  it("exits 64 on bad usage and 1 on API errors", async () => {
    expect((await cli()).code).toBe(EXIT_USAGE);
    expect((await cli("frobnicate")).code).toBe(EXIT_USAGE);
    expect((await cli("grant")).code).toBe(EXIT_USAGE);
    expect((await cli("misbehave", "explode")).code).toBe(EXIT_USAGE);
    const unknown = await cli("deny", "nobody");
    expect(unknown.code).toBe(EXIT_API_ERROR);
    expect(unknown.err).toMatch(/no registration request/);
    const unreachable = await runCli(["--admin", "http://127.0.0.1:1", "status"], {
      out: () => {},
      err: () => {},
      env: {},
    });
    expect(unreachable).toBe(EXIT_API_ERROR);
  });
});

describe("simulator entry point options", () => {
  it("defaults to the usual Connectware ports", () => {
    const options = parseMainOptions([], {});
    expect(options.simulator).toMatchObject({ host: "127.0.0.1", ...DEFAULT_PORTS, unlockWindowMs: 300_000 });
    expect(options.startUnlocked).toBe(false);
  });

  it("takes ports from the environment, flags winning, and allows 0", () => {
    const options = parseMainOptions(["--mqtt-port", "0", "--admin-port=9100", "--unlocked"], {
      CW_SIM_MQTT_PORT: "2883",
      CW_SIM_REGISTRY_HTTPS_PORT: "0",
      CW_SIM_UNLOCK_WINDOW_MS: "1000",
    });
    expect(options.simulator).toMatchObject({
      mqttPort: 0,
      adminPort: 9100,
      registryHttpsPort: 0,
      registryHttpPort: 8080,
      unlockWindowMs: 1000,
    });
    expect(options.startUnlocked).toBe(true);
  });

  it("rejects bad values", () => {
    expect(() => parseMainOptions(["--mqtt-port", "70000"], {})).toThrow(MainUsageError);
    expect(() => parseMainOptions([], { CW_SIM_ADMIN_PORT: "abc" })).toThrow(/CW_SIM_ADMIN_PORT/);
    expect(() => parseMainOptions(["--bogus"], {})).toThrow(MainUsageError);
  });

  it("finds the bundled certificates from the repository root", () => {
    for (const file of Object.values(certificateFiles())) {
      expect(existsSync(file)).toBe(true);
    }
  });
});
