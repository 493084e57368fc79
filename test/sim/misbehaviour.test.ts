import { readFileSync } from "node:fs";
import { request as httpRequest } from "node:http";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { httpRequestText } from "../../scripts/connectware-sim/http-client.js";
import { type ConnectwareSimulator, startSimulator } from "../../scripts/connectware-sim/simulator.js";

const REGISTER = "/api/client-registry/register";
const BODY = { username: "misbehaved", password: "secret-password" };

let sim: ConnectwareSimulator;

function register(baseUrl: string = sim.registryHttpUrl, options: { ca?: Buffer; timeoutMs?: number } = {}) {
  return httpRequestText(`${baseUrl}${REGISTER}`, { method: "POST", body: BODY, ...options });
}

function errorCode(error: unknown): string | undefined {
  return (error as { code?: string }).code;
}

beforeAll(async () => {
  sim = await startSimulator();
  sim.unlock();
});

afterAll(async () => {
  await sim.close();
});

afterEach(async () => {
  await sim.setMisbehaviour(null);
});

describe("registry misbehaviours", () => {
  it("refuse: connections are refused on both registry ports, then accepted again on the same ports", async () => {
    const httpUrl = sim.registryHttpUrl;
    const httpsUrl = sim.registryHttpsUrl;
    await sim.setMisbehaviour("refuse");
    const refusedHttp = await register().catch((error: unknown) => error);
    expect(errorCode(refusedHttp)).toBe("ECONNREFUSED");
    const refusedHttps = await register(httpsUrl, { ca: readFileSync(sim.caFile) }).catch(
      (error: unknown) => error,
    );
    expect(errorCode(refusedHttps)).toBe("ECONNREFUSED");

    await sim.setMisbehaviour(null);
    expect(sim.registryHttpUrl).toBe(httpUrl);
    expect((await register()).status).toBe(202);
    expect((await register(httpsUrl, { ca: readFileSync(sim.caFile) })).status).toBe(202);
  });

  it("hang: reads the request and never answers", async () => {
    await sim.setMisbehaviour("hang");
    await expect(register(sim.registryHttpUrl, { timeoutMs: 300 })).rejects.toThrow(/timed out/);
    expect(sim.registerCalls().at(-1)).toMatchObject({ username: BODY.username, status: 0 });
  });

  it("reset: destroys the socket after reading the request", async () => {
    await sim.setMisbehaviour("reset");
    const error = await register().catch((caught: unknown) => caught);
    expect(error).toBeInstanceOf(Error);
    expect(["ECONNRESET", "EPIPE"]).toContain(errorCode(error));
  });

  it("http-500: a JSON error", async () => {
    await sim.setMisbehaviour("http-500");
    const response = await register();
    expect(response.status).toBe(500);
    expect(JSON.parse(response.body)).toHaveProperty("error");
  });

  it("http-503: Retry-After", async () => {
    await sim.setMisbehaviour("http-503");
    const response = await register();
    expect(response.status).toBe(503);
    expect(Number(response.headers["retry-after"])).toBeGreaterThan(0);
  });

  it("html: a 502 error page like a reverse proxy", async () => {
    await sim.setMisbehaviour("html");
    const response = await register();
    expect(response.status).toBe(502);
    expect(response.headers["content-type"]).toMatch(/text\/html/);
    expect(response.body).toMatch(/<html>/);
  });

  it("malformed-json: a 400 whose JSON body does not parse", async () => {
    await sim.setMisbehaviour("malformed-json");
    const response = await register();
    expect(response.status).toBe(400);
    expect(response.headers["content-type"]).toMatch(/application\/json/);
    expect(() => JSON.parse(response.body)).toThrow();
  });

  it("wrong-json: a 201 that grants another username", async () => {
    await sim.setMisbehaviour("wrong-json");
    const response = await register();
    expect(response.status).toBe(201);
    const parsed = JSON.parse(response.body) as Record<string, unknown>;
    expect(parsed.username).toBe("someone-else");
  });

  it("huge-json: a valid 201 JSON body of about 8 MiB", async () => {
    await sim.setMisbehaviour("huge-json");
    const response = await register();
    expect(response.status).toBe(201);
    expect(Buffer.byteLength(response.body)).toBeGreaterThanOrEqual(8 * 1024 * 1024 - 1024);
    expect(JSON.parse(response.body)).toMatchObject({ username: BODY.username });
  });

  it("redirect: a 307 to a recorder that shows whether the credentials followed", async () => {
    await sim.setMisbehaviour("redirect");
    const response = await register();
    expect(response.status).toBe(307);
    const location = response.headers.location ?? "";
    expect(location.startsWith(sim.adminUrl)).toBe(true);
    expect(sim.redirectHits()).toHaveLength(0);

    const manual = await httpRequestText(location, {
      method: "POST",
      body: BODY,
      headers: { authorization: "Basic c2VjcmV0" },
    });
    expect(manual.status).toBe(200);
    expect(sim.redirectHits()).toEqual([
      expect.objectContaining({ method: "POST", containedPassword: true, hadAuthorizationHeader: true }),
    ]);

    // fetch follows a 307 by default and re-sends the body, password included.
    const followed = await fetch(`${sim.registryHttpUrl}${REGISTER}`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify(BODY),
    });
    await followed.text();
    expect(sim.redirectHits()).toHaveLength(2);
    expect(sim.redirectHits()[1]).toMatchObject({ method: "POST", containedPassword: true });
  });

  it("slow: answers 202 and trickles the body", async () => {
    await sim.setMisbehaviour("slow");
    const { status, firstChunk } = await new Promise<{ status: number; firstChunk: string }>(
      (resolve, reject) => {
        const request = httpRequest(
          `${sim.registryHttpUrl}${REGISTER}`,
          { method: "POST", agent: false },
          (response) => {
            response.once("data", (chunk: Buffer) => {
              resolve({ status: response.statusCode ?? 0, firstChunk: chunk.toString("utf8") });
              request.destroy();
            });
          },
        );
        request.on("error", reject);
        request.end(JSON.stringify(BODY));
      },
    );
    expect(status).toBe(202);
    expect(firstChunk).toBe("{");
  });

  it("untrusted-tls: the HTTPS registry presents a certificate from the other CA", async () => {
    const trustedCa = readFileSync(sim.caFile);
    await sim.setMisbehaviour("untrusted-tls");
    await expect(register(sim.registryHttpsUrl, { ca: trustedCa })).rejects.toThrow();
    const withOtherCa = await register(sim.registryHttpsUrl, { ca: readFileSync(sim.otherCaFile) });
    expect(withOtherCa.status).toBe(202);
    expect((await register()).status).toBe(202);

    await sim.setMisbehaviour(null);
    expect((await register(sim.registryHttpsUrl, { ca: trustedCa })).status).toBe(202);
  });

  it("records every register call with the status answered", () => {
    const statuses = sim.registerCalls().map((call) => call.status);
    expect(statuses).toEqual(expect.arrayContaining([0, 500, 503, 502, 201, 307, 202]));
  });
});
