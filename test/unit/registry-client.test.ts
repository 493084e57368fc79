import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import { afterEach, describe, expect, it } from "vitest";
import { type RegistrationRequest, RegistryClient } from "../../src/registration/registry-client.js";
import { longestSharedRun, scrubSecret } from "../../src/util/scrub.js";

let server: Server | undefined;
afterEach(async () => {
  if (server) await new Promise((resolve) => server?.close(resolve));
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

  it("never lets the base path change the host the credentials go to", () => {
    for (const path of ["//evil.example", "//evil.example/", "/a//evil.example", "/\\evil.example"]) {
      const base = new URL(`https://connectware.local${path}`);
      expect(client(base).endpoint.host, path).toBe(base.host);
      expect(client(base).endpoint.pathname.endsWith("/api/client-registry/register")).toBe(true);
    }
    expect(client(new URL("https://connectware.local:8443/cw/")).endpoint.href).toBe(
      "https://connectware.local:8443/cw/api/client-registry/register",
    );
  });

  const CERTIFICATE = "-----BEGIN CERTIFICATE-----\nMIIBszCCAVmgAwIBAgIUW4x\n-----END CERTIFICATE-----\n";
  it.each([
    ["an empty body", undefined, ""],
    ["{}", "application/json", "{}"],
    ["a body that is not JSON", "text/plain", "Created"],
    ["a certificate-only JSON body", "application/json", JSON.stringify({ certificate: CERTIFICATE })],
    ["a raw PEM body", "application/x-pem-file", CERTIFICATE],
    ["a body naming our username", "application/json", JSON.stringify({ username: request.username })],
  ])("a 201 with %s is a grant", async (_what, contentType, body) => {
    const url = await registryAnswering((_body, response) => {
      response.writeHead(201, contentType ? { "content-type": contentType } : {});
      response.end(body);
    });
    expect(await client(url).register(request)).toMatchObject({ kind: "granted" });
  });

  it("a 201 whose body names a different username is not ours: a retry with a reason", async () => {
    const url = await registryAnswering((_body, response) => {
      response.writeHead(201, { "content-type": "application/json" });
      response.end(JSON.stringify({ username: "gw-other" }));
    });
    expect(await client(url).register(request)).toEqual({
      kind: "transient",
      reason: "201 for another username (gw-other)",
    });
  });

  /** Echoes of the request body, padded so that each text cut lands at `offset` into the password. */
  const ECHOES: [
    string,
    number,
    (padding: string, echo: string) => [number, object, Record<string, string>?],
  ][] = [
    ["a 400 message (cut at 200)", 200, (padding, echo) => [400, { message: padding + echo }]],
    ["a 409 message (cut at 300)", 300, (padding, echo) => [409, { error: padding + echo }]],
    ["a 201 username (cut at 64)", 64, (padding, echo) => [201, { username: padding + echo }]],
    ["a redirect location", 2000, (padding, echo) => [307, {}, { location: `http://x/${padding}${echo}` }]],
  ];
  it.each(ECHOES)(
    "%s never carries 6 characters of the password, wherever the cut lands",
    async (_what, cut, answer) => {
      let offset = 0;
      const url = await registryAnswering((body, response) => {
        const password = (JSON.parse(body) as RegistrationRequest).password;
        const padding = "x".repeat(Math.max(0, cut - body.indexOf(password) - offset));
        const [status, json, headers = {}] = answer(padding, body);
        response.writeHead(status, { "content-type": "application/json", ...headers });
        response.end(JSON.stringify(json));
      });
      for (; offset <= request.password.length; offset++) {
        const outcome = await client(url).register(request);
        expect(outcome.kind).not.toBe("granted");
        expect(longestSharedRun(JSON.stringify(outcome), request.password), `offset ${offset}`).toBeLessThan(
          6,
        );
      }
    },
  );
});

describe("scrubSecret", () => {
  const secret = "Abcdefghijklmnopqrstuvwxyz012345";
  it("removes the whole secret and every fragment of 6 or more characters", () => {
    expect(scrubSecret(`x${secret}y`, secret)).toBe("x[redacted]y");
    expect(scrubSecret(`…${secret.slice(0, 6)}`, secret)).toBe("…[redacted]");
    expect(scrubSecret(`${secret.slice(20)} and ${secret.slice(3, 15)}!`, secret)).toBe(
      "[redacted] and [redacted]!",
    );
    expect(scrubSecret(`${secret.slice(0, 5)} stays`, secret)).toBe("Abcde stays");
  });

  it("leaves texts without fragments alone", () => {
    expect(scrubSecret("HTTP 500 (internal error)", secret)).toBe("HTTP 500 (internal error)");
  });
});
