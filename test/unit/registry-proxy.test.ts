import { readFileSync } from "node:fs";
import { createServer, type IncomingHttpHeaders, type Server } from "node:http";
import { createServer as createHttpsServer } from "node:https";
import type { AddressInfo } from "node:net";
import { afterEach, describe, expect, it } from "vitest";
import { certificateFiles } from "../../scripts/connectware-sim/paths.js";
import { freePort } from "../../scripts/local-mosquitto.js";
import { parseProxy } from "../../src/config/proxy.js";
import { type RegistrationRequest, RegistryClient } from "../../src/registration/registry-client.js";
import { type ConnectProxy, startConnectProxy } from "../integration/connect-proxy.js";
import { scaled } from "../time-scale.js";

const request: RegistrationRequest = {
  username: "gw-proxy",
  password: "registry-password-never-shown",
  context: { pairingId: "abc123", agentVersion: "0.0.0", hostname: "test" },
  permissions: [],
};

const PROXY_USER = "plant-user";
const PROXY_PASSWORD = "proxy-password-never-shown";
const PROXY_TOKEN = Buffer.from(`${PROXY_USER}:${PROXY_PASSWORD}`).toString("base64");

const closers: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const close of closers.splice(0).reverse()) await close();
});

/** A registry on 127.0.0.1 that answers 202 and records the headers it received. */
async function registry(kind: "http" | "https"): Promise<{ url: URL; seen: IncomingHttpHeaders[] }> {
  const seen: IncomingHttpHeaders[] = [];
  const handler = (
    incoming: { headers: IncomingHttpHeaders; resume(): void },
    response: {
      writeHead(status: number): { end(): void };
    },
  ) => {
    seen.push(incoming.headers);
    incoming.resume();
    response.writeHead(202).end();
  };
  const files = certificateFiles();
  const server: Server =
    kind === "https"
      ? createHttpsServer(
          { key: readFileSync(files.serverKeyFile), cert: readFileSync(files.serverCertFile) },
          handler,
        )
      : createServer(handler);
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  closers.push(() => new Promise((resolve) => server.close(() => resolve())));
  return { url: new URL(`${kind}://127.0.0.1:${(server.address() as AddressInfo).port}`), seen };
}

async function proxy(options: { credentials?: string } = {}): Promise<ConnectProxy> {
  const started = await startConnectProxy(options);
  closers.push(() => started.close());
  return started;
}

function client(baseUrl: URL, proxyValue: string, options: { ca?: string; timeoutMs?: number } = {}) {
  return new RegistryClient({
    baseUrl,
    timeoutMs: options.timeoutMs ?? scaled(2000),
    ca: options.ca,
    trustAllCerts: false,
    proxy: parseProxy("HTTPS_PROXY", proxyValue),
  });
}

const caPem = () => readFileSync(certificateFiles().caFile, "utf8");

function withCredentials(proxyUrl: string): string {
  return proxyUrl.replace("http://", `http://${PROXY_USER}:${PROXY_PASSWORD}@`);
}

function expectNoProxySecret(value: unknown): void {
  const text = JSON.stringify(value);
  for (const secret of [PROXY_PASSWORD, PROXY_USER, PROXY_TOKEN, request.password]) {
    expect(text).not.toContain(secret);
  }
}

describe("RegistryClient through an HTTP proxy", () => {
  it("tunnels an https:// request with CONNECT, logs in to the proxy, and the registry never sees the proxy's credentials", async () => {
    const target = await registry("https");
    const tunnelProxy = await proxy({ credentials: `${PROXY_USER}:${PROXY_PASSWORD}` });
    const outcome = await client(target.url, withCredentials(tunnelProxy.url), { ca: caPem() }).register(
      request,
    );
    expect(outcome).toEqual({ kind: "pending" });
    expect(tunnelProxy.tunnels).toEqual([
      { target: target.url.host, proxyAuthorization: `Basic ${PROXY_TOKEN}`, status: 200 },
    ]);
    expect(target.seen).toHaveLength(1);
    expect(target.seen[0]?.["proxy-authorization"]).toBeUndefined();
  });

  it("tunnels an http:// registry too: the proxy never gets the request itself", async () => {
    const target = await registry("http");
    const tunnelProxy = await proxy();
    expect(await client(target.url, tunnelProxy.url).register(request)).toEqual({ kind: "pending" });
    expect(tunnelProxy.tunnels.map((tunnel) => tunnel.target)).toEqual([target.url.host]);
    expect(tunnelProxy.otherRequests).toEqual([]);
  });

  it("407 without credentials: a proxy problem naming the proxy and what to set", async () => {
    const target = await registry("https");
    const tunnelProxy = await proxy({ credentials: `${PROXY_USER}:${PROXY_PASSWORD}` });
    const outcome = await client(target.url, tunnelProxy.url, { ca: caPem() }).register(request);
    expect(outcome).toEqual({
      kind: "transient",
      reason: `proxy 127.0.0.1:${tunnelProxy.port} refused the tunnel to ${target.url.host} (407 Proxy Authentication Required): the proxy wants a user name and password: set HTTPS_PROXY=http://USER:PASSWORD@127.0.0.1:${tunnelProxy.port}`,
    });
    expect(target.seen).toEqual([]);
  });

  it("407 with wrong credentials: says they were not accepted, and shows none of them", async () => {
    const target = await registry("https");
    const tunnelProxy = await proxy({ credentials: "plant-user:another-password" });
    const outcome = await client(target.url, withCredentials(tunnelProxy.url), { ca: caPem() }).register(
      request,
    );
    expect(outcome).toMatchObject({
      kind: "transient",
      reason: expect.stringMatching(
        /^proxy 127\.0\.0\.1:\d+ refused the tunnel to .* \(407 .*\): the proxy did not accept the user name and password in HTTPS_PROXY$/,
      ),
    });
    expectNoProxySecret(outcome);
  });

  it.each([
    [403, /\(403 Forbidden\): the proxy does not allow a tunnel/],
    [502, /\(502 Bad Gateway\): the proxy could not reach the registry/],
  ])("CONNECT answered %i: a proxy problem", async (status, reason) => {
    const target = await registry("https");
    const tunnelProxy = await proxy();
    tunnelProxy.refuse(status);
    const outcome = await client(target.url, tunnelProxy.url, { ca: caPem() }).register(request);
    expect(outcome.kind === "transient" && outcome.reason).toMatch(reason);
    expect(outcome.kind === "transient" && outcome.reason).toMatch(
      /^proxy 127\.0\.0\.1:\d+ refused the tunnel/,
    );
  });

  it("connection refused by the proxy's port: names the proxy, not the registry", async () => {
    const target = await registry("https");
    const port = await freePort();
    const outcome = await client(target.url, `http://${PROXY_USER}:${PROXY_PASSWORD}@127.0.0.1:${port}`, {
      ca: caPem(),
    }).register(request);
    expect(outcome).toEqual({
      kind: "transient",
      reason: `proxy 127.0.0.1:${port} (on the way to ${target.url.host}): connection refused`,
    });
    expectNoProxySecret(outcome);
  });

  it("a proxy that never answers CONNECT: the request's deadline holds, and the connection to the proxy is closed", async () => {
    const target = await registry("https");
    const tunnelProxy = await proxy();
    tunnelProxy.refuse("hang");
    const started = Date.now();
    const outcome = await client(target.url, tunnelProxy.url, { ca: caPem(), timeoutMs: 500 }).register(
      request,
    );
    expect(Date.now() - started).toBeLessThan(scaled(2000));
    expect(outcome).toEqual({
      kind: "transient",
      reason: `proxy 127.0.0.1:${tunnelProxy.port} (on the way to ${target.url.host}): no answer to CONNECT within 500 ms`,
    });
    await expect.poll(() => tunnelProxy.openConnections(), { timeout: scaled(2000) }).toBe(0);
  });

  it("a failure inside the tunnel is the registry's, and says it went through the proxy", async () => {
    const target = await registry("https");
    const tunnelProxy = await proxy();
    const outcome = await client(target.url, tunnelProxy.url).register(request);
    expect(outcome).toMatchObject({
      kind: "transient",
      reason: expect.stringMatching(
        new RegExp(
          `^${target.url.host} via proxy 127\\.0\\.0\\.1:${tunnelProxy.port}: TLS certificate not trusted`,
        ),
      ),
    });
  });
});
