import { readFileSync } from "node:fs";
import { isAbsolute } from "node:path";
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from "vitest";
import { httpRequestText } from "../../scripts/connectware-sim/http-client.js";
import { expectedPairingId } from "../../scripts/connectware-sim/pairing-id.js";
import { type ConnectwareSimulator, startSimulator } from "../../scripts/connectware-sim/simulator.js";

const REGISTER = "/api/client-registry/register";
const PERMISSIONS = [{ resourceType: "mqtt", resource: "cw-agent/edge-1/#", operation: "readWrite" }];

let sim: ConnectwareSimulator;
let nameCounter = 0;

function uniqueName(): string {
  nameCounter += 1;
  return `edge-${nameCounter}`;
}

function register(body: unknown, baseUrl: string = sim.registryHttpUrl, ca?: Buffer) {
  return httpRequestText(`${baseUrl}${REGISTER}`, {
    method: "POST",
    body,
    ...(ca === undefined ? {} : { ca }),
  });
}

function json(text: string): unknown {
  return JSON.parse(text);
}

beforeAll(async () => {
  sim = await startSimulator();
});

afterAll(async () => {
  await sim.close();
});

afterEach(() => {
  sim.lock();
});

describe("client registry over HTTP", () => {
  it("answers 423 while locked and records nothing", async () => {
    const username = uniqueName();
    const response = await register({ username, password: "secret-1" });
    expect(response.status).toBe(423);
    expect(json(response.body)).toEqual({ status: "locked" });
    expect(sim.requests().find((request) => request.username === username)).toBeUndefined();
    expect(sim.registerCalls().at(-1)).toMatchObject({
      username,
      pairingId: expectedPairingId(username, "secret-1"),
      status: 423,
    });
  });

  it("walks through unlock, pending (also after locking), grant and 201", async () => {
    const username = uniqueName();
    const password = "generated-password";
    const body = {
      username,
      password,
      context: { hostname: "gw-1", version: "0.1.0" },
      permissions: PERMISSIONS,
    };
    const pairingId = expectedPairingId(username, password);

    sim.unlock();
    const first = await register(body);
    expect(first.status).toBe(202);
    expect(json(first.body)).toEqual({ status: "pending", pairingId });

    sim.lock();
    const second = await register(body);
    expect(second.status).toBe(202);
    const [request] = sim.requests().filter((candidate) => candidate.username === username);
    expect(request).toMatchObject({
      username,
      pairingId,
      status: "pending",
      via: "rest",
      requestCount: 2,
      context: { hostname: "gw-1", version: "0.1.0" },
      permissions: PERMISSIONS,
    });
    expect(request?.lastSeenAt).toBeGreaterThanOrEqual(request?.firstSeenAt ?? Number.POSITIVE_INFINITY);

    sim.grant(pairingId);
    const granted = await register(body);
    expect(granted.status).toBe(201);
    expect(json(granted.body)).toEqual({ username, permissions: PERMISSIONS });
    expect(granted.body).not.toContain(password);
    expect(sim.users()).toContainEqual({ username, permissions: PERMISSIONS });
    expect(sim.requests().find((candidate) => candidate.username === username)?.status).toBe("granted");
  });

  it("answers 409 for an existing user with another password", async () => {
    const username = uniqueName();
    sim.addUser(username, "the-old-password", PERMISSIONS);
    const conflict = await register({ username, password: "a-new-password" });
    expect(conflict.status).toBe(409);
    expect(JSON.stringify(json(conflict.body))).toMatch(/already exists/);
    const same = await register({ username, password: "the-old-password" });
    expect(same.status).toBe(201);

    sim.deleteUser(username);
    sim.unlock();
    const afterDelete = await register({ username, password: "a-new-password" });
    expect(afterDelete.status).toBe(202);
  });

  it("replaces a pending request with other credentials only while unlocked", async () => {
    const username = uniqueName();
    sim.unlock();
    expect((await register({ username, password: "first-password" })).status).toBe(202);
    sim.lock();
    expect((await register({ username, password: "second-password" })).status).toBe(423);
    sim.unlock();
    const replaced = await register({ username, password: "second-password" });
    expect(replaced.status).toBe(202);
    const requests = sim.requests().filter((request) => request.username === username);
    expect(requests).toHaveLength(1);
    expect(requests[0]).toMatchObject({
      pairingId: expectedPairingId(username, "second-password"),
      requestCount: 1,
    });
  });

  it("treats a denied request as no request", async () => {
    const username = uniqueName();
    const body = { username, password: "some-password" };
    sim.unlock();
    await register(body);
    sim.deny(username);
    sim.lock();
    expect((await register(body)).status).toBe(423);
    sim.unlock();
    expect((await register(body)).status).toBe(202);
    expect(sim.requests().find((request) => request.username === username)).toMatchObject({
      status: "pending",
      requestCount: 1,
    });
  });

  it("throws when granting or denying something unknown", () => {
    expect(() => sim.grant("no-such-user")).toThrow(/no registration request/);
    expect(() => sim.deny("ffffff")).toThrow(/no registration request/);
  });

  it.each([
    ["not json", "{", "body"],
    ["an array", [], "body"],
    ["a short username", { username: "ab", password: "secret" }, "username"],
    ["a short password", { username: "abc", password: "1234" }, "password"],
    ["a wrong type", { username: "abc", password: 12345 }, "password"],
    ["bad permissions", { username: "abc", password: "12345", permissions: "all" }, "permissions"],
  ])("answers 400 naming the field for %s", async (_case, body, field) => {
    const response = await register(body);
    expect(response.status).toBe(400);
    expect(json(response.body)).toMatchObject({ field });
  });

  it("answers 404 for other paths, 405 for other methods and 413 for big bodies", async () => {
    const notFound = await httpRequestText(`${sim.registryHttpUrl}/api/elsewhere`, {
      method: "POST",
      body: {},
    });
    expect(notFound.status).toBe(404);
    const wrongMethod = await httpRequestText(`${sim.registryHttpUrl}${REGISTER}`);
    expect(wrongMethod.status).toBe(405);
    expect(wrongMethod.headers.allow).toBe("POST");
    const tooLarge = await register({
      username: "big-one",
      password: "secret",
      context: { x: "y".repeat(70_000) },
    });
    expect(tooLarge.status).toBe(413);
  });

  it("never keeps passwords in the register calls", async () => {
    const password = "do-not-store-me";
    await register({ username: uniqueName(), password });
    expect(JSON.stringify(sim.registerCalls())).not.toContain(password);
    expect(JSON.stringify(sim.requests())).not.toContain(password);
  });

  it("locks itself after the unlock window", async () => {
    sim.unlock(50);
    expect(sim.isUnlocked()).toBe(true);
    await vi.waitFor(() => expect(sim.isUnlocked()).toBe(false), { timeout: 5000, interval: 20 });
  });
});

describe("client registry over HTTPS", () => {
  it("serves a certificate from the bundled CA, valid for 127.0.0.1 and localhost", async () => {
    expect(isAbsolute(sim.caFile)).toBe(true);
    const ca = readFileSync(sim.caFile);
    const viaIp = await register({ username: uniqueName(), password: "secret" }, sim.registryHttpsUrl, ca);
    expect(viaIp.status).toBe(423);
    const localhostUrl = sim.registryHttpsUrl.replace("127.0.0.1", "localhost");
    const viaName = await register({ username: uniqueName(), password: "secret" }, localhostUrl, ca);
    expect(viaName.status).toBe(423);
  });

  it("is not trusted without the CA, nor with the other CA", async () => {
    await expect(register({ username: "abc", password: "secret" }, sim.registryHttpsUrl)).rejects.toThrow();
    await expect(
      register({ username: "abc", password: "secret" }, sim.registryHttpsUrl, readFileSync(sim.otherCaFile)),
    ).rejects.toThrow();
  });
});
