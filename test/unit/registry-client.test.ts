import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import { afterEach, describe, expect, it } from "vitest";
import { type RegistrationRequest, RegistryClient } from "../../src/registration/registry-client.js";

let server: Server | undefined;
afterEach(async () => {
  await new Promise((resolve) => server?.close(resolve));
  server = undefined;
});

async function registryAnswering(handler: (body: string, response: ServerResponse) => void): Promise<URL> {
  server = createServer((request: IncomingMessage, response) => {
    let body = "";
    request.on("data", (chunk) => {
      body += chunk;
    });
    request.on("end", () => handler(body, response));
  });
  await new Promise<void>((resolve) => server?.listen(0, "127.0.0.1", resolve));
  return new URL(`http://127.0.0.1:${(server.address() as AddressInfo).port}`);
}

const request: RegistrationRequest = {
  username: "gw-echo",
  password: "s3cret-echoed-password",
  context: { pairingId: "abc123", agentVersion: "0.0.0", hostname: "test" },
  permissions: [],
};

function client(baseUrl: URL) {
  return new RegistryClient({ baseUrl, timeoutMs: 2000, ca: undefined, trustAllCerts: false });
}

describe("RegistryClient", () => {
  it("never returns a server text that echoes our password", async () => {
    const url = await registryAnswering((body, response) => {
      response.writeHead(400, { "content-type": "application/json" });
      response.end(JSON.stringify({ message: `invalid request ${body}` }));
    });
    const outcome = await client(url).register(request);
    expect(outcome.kind).toBe("transient");
    expect(JSON.stringify(outcome)).not.toContain(request.password);
    expect(JSON.stringify(outcome)).toContain("[redacted]");
  });

  it("reads a 409's explanation from `message` or `error`, scrubbed as well", async () => {
    const url = await registryAnswering((body, response) => {
      response.writeHead(409, { "content-type": "application/json" });
      response.end(JSON.stringify({ error: `user exists; you sent ${body}` }));
    });
    const outcome = await client(url).register(request);
    expect(outcome.kind).toBe("conflict");
    expect(outcome.kind === "conflict" && outcome.serverMessage).toContain("user exists");
    expect(JSON.stringify(outcome)).not.toContain(request.password);
  });

  it("takes Retry-After of a 503 as a hint", async () => {
    const url = await registryAnswering((_body, response) => {
      response.writeHead(503, { "retry-after": "7" });
      response.end();
    });
    expect(await client(url).register(request)).toMatchObject({ kind: "transient", retryAfterMs: 7000 });
  });
});
