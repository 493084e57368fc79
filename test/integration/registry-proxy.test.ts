import { afterEach, describe, expect, it } from "vitest";
import { freePort } from "../../scripts/local-mosquitto.js";
import type { AgentProcess } from "./agent-process.js";
import { type ConnectProxy, startConnectProxy } from "./connect-proxy.js";
import { agentTestBed, grantAndWaitOnline, simEnv } from "./fixtures.js";

const bed = agentTestBed();

const PROXY_USER = "plant-user";
const PROXY_PASSWORD = "proxy-password-0123";
const PROXY_TOKEN = Buffer.from(`${PROXY_USER}:${PROXY_PASSWORD}`).toString("base64");

let proxies: ConnectProxy[] = [];
afterEach(async () => {
  await Promise.all(proxies.map((proxy) => proxy.close()));
  proxies = [];
});

async function startProxy(options: { credentials?: string; port?: number } = {}): Promise<ConnectProxy> {
  const proxy = await startConnectProxy(options);
  proxies.push(proxy);
  return proxy;
}

/** An agent registering with the simulator over HTTPS, with `extra` (the proxy variables) in its environment. */
function startAgent(name: string, extra: Record<string, string>): AgentProcess {
  return bed.start(
    simEnv(bed.sim, name, {
      CYBUS_LOG_LEVEL: "debug",
      CW_AGENT_REGISTRY_URL: bed.sim.registryHttpsUrl,
      CW_AGENT_CA_FILE: bed.sim.caFile,
      ...extra,
    }),
  );
}

/** What the registry received from `username`: nothing while the proxy refuses. */
const requestsOf = (username: string) =>
  bed.sim.requests().filter((request) => request.username === username);

const registryHost = () => new URL(bed.sim.registryHttpsUrl).host;

/** The proxy's user name, password and their Basic token appear in no output line of the agent. */
function expectNoProxySecret(agent: AgentProcess): void {
  const leaks = agent.rawOutput.filter((raw) =>
    [PROXY_USER, PROXY_PASSWORD, PROXY_TOKEN].some((secret) => raw.includes(secret)),
  );
  expect(leaks).toEqual([]);
}

describe("registration through an HTTP proxy", () => {
  it("reaches the registry through the proxy's tunnel (lowercase https_proxy wins), with the proxy's login; MQTT goes directly", async () => {
    bed.sim.unlock();
    const proxy = await startProxy({ credentials: `${PROXY_USER}:${PROXY_PASSWORD}` });
    const closedPort = await freePort();
    const agent = startAgent("gw-proxied", {
      https_proxy: `http://${PROXY_USER}:${PROXY_PASSWORD}@127.0.0.1:${proxy.port}`,
      HTTPS_PROXY: `http://127.0.0.1:${closedPort}`,
    });
    const announced = await agent.waitForMessage("Registry requests go through the HTTP proxy");
    expect(announced.msg).toBe(
      `Registry requests go through the HTTP proxy 127.0.0.1:${proxy.port} (https_proxy); MQTT does not`,
    );
    await grantAndWaitOnline(bed.sim, agent);

    expect(proxy.tunnels.length).toBeGreaterThan(0);
    for (const tunnel of proxy.tunnels) {
      expect(tunnel).toEqual({
        target: registryHost(),
        proxyAuthorization: `Basic ${PROXY_TOKEN}`,
        status: 200,
      });
    }
    expect(proxy.otherRequests).toEqual([]);
    expectNoProxySecret(agent);
  });

  it("NO_PROXY naming the registry's host bypasses the proxy", async () => {
    bed.sim.unlock();
    const proxy = await startProxy();
    const agent = startAgent("gw-bypass", {
      HTTPS_PROXY: proxy.url,
      NO_PROXY: "localhost,127.0.0.1",
    });
    const announced = await agent.waitForMessage("Registry requests bypass the proxy");
    expect(announced.msg).toBe(
      'Registry requests bypass the proxy of HTTPS_PROXY: NO_PROXY entry "127.0.0.1" names 127.0.0.1',
    );
    await grantAndWaitOnline(bed.sim, agent);
    expect(proxy.tunnels).toEqual([]);
  });

  it("a proxy that answers 407: a warning naming the proxy, retried with backoff, registered once the proxy lets it through", async () => {
    bed.sim.unlock();
    const proxy = await startProxy();
    proxy.refuse(407);
    const agent = startAgent("gw-proxy-407", {
      HTTPS_PROXY: `http://${PROXY_USER}:${PROXY_PASSWORD}@127.0.0.1:${proxy.port}`,
    });
    const warning = await agent.waitForMessage("Registration request failed, will retry");
    expect(warning.level).toBe(40);
    expect(warning.msg).toBe(
      `Registration request failed, will retry: proxy 127.0.0.1:${proxy.port} refused the tunnel to ${registryHost()} (407 Proxy Authentication Required): the proxy did not accept the user name and password in HTTPS_PROXY`,
    );
    expect(warning.proxy).toBe(`127.0.0.1:${proxy.port}`);
    expect(warning.retryInMs).toBeGreaterThan(0);
    await agent.waitForMessage("Registration request failed again");
    expect(requestsOf("gw-proxy-407")).toEqual([]);

    proxy.refuse(null);
    await grantAndWaitOnline(bed.sim, agent);
    expect(proxy.tunnels.at(-1)?.status).toBe(200);
    expectNoProxySecret(agent);
  });

  it("a proxy that refuses the connection: a warning naming the proxy, retried until it is there", async () => {
    bed.sim.unlock();
    const port = await freePort();
    const agent = startAgent("gw-proxy-down", { HTTPS_PROXY: `http://127.0.0.1:${port}` });
    const warning = await agent.waitForMessage("Registration request failed, will retry");
    expect(warning.msg).toBe(
      `Registration request failed, will retry: proxy 127.0.0.1:${port} (on the way to ${registryHost()}): connection refused`,
    );
    await agent.waitForMessage("Registration request failed again");
    const delays = agent.lines
      .filter((line) => line.msg.startsWith("Registration request failed"))
      .map((line) => line.retryInMs as number);
    expect(delays.every((delay) => delay > 0 && delay <= 1000)).toBe(true);
    expect(requestsOf("gw-proxy-down")).toEqual([]);

    const proxy = await startProxy({ port });
    await grantAndWaitOnline(bed.sim, agent);
    expect(proxy.tunnels.at(-1)).toMatchObject({ target: registryHost(), status: 200 });
  });
});
