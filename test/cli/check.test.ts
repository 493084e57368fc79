import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { type ConnectwareSimulator, startSimulator } from "../../scripts/connectware-sim/simulator.js";
import { freePort } from "../../scripts/local-mosquitto.js";
import { checkCommand } from "../../src/cli/check/report.js";
import type { CheckOutcome, CheckResult } from "../../src/cli/check/result.js";
import { runChecks } from "../../src/cli/check/run-checks.js";
import type { StatusReport } from "../../src/cli/status.js";
import {
  type AgentProcess,
  findLeakedSecrets,
  newStateDir,
  removeStateDirs,
  startAgent,
  stopAllAgents,
} from "../integration/agent-process.js";
import { type ConnectProxy, startConnectProxy } from "../integration/connect-proxy.js";
import { grantAndWaitOnline, simEnv, storedCredentials, until } from "../integration/fixtures.js";
import { type CliResult, cliOutputs, parseJson, runCli } from "./cli-process.js";

let sim: ConnectwareSimulator;
const agents: AgentProcess[] = [];

/** One agent paired over HTTPS and MQTTS with the simulator's CA, shared by the checks below. */
let paired: { env: Record<string, string>; stateDir: string; agent: AgentProcess; password: string };

const NAME = "gw-check";

function tlsEnv(extra: Record<string, string> = {}): Record<string, string> {
  return simEnv(sim, NAME, {
    CW_AGENT_REGISTRY_URL: sim.registryHttpsUrl,
    CW_AGENT_CA_FILE: sim.caFile,
    CYBUS_MQTT_HOST: "localhost",
    CYBUS_MQTT_SCHEME: "mqtts",
    CYBUS_MQTT_PORT: String(sim.mqttsPort),
    ...extra,
  });
}

beforeAll(async () => {
  sim = await startSimulator();
  const stateDir = newStateDir();
  const env = tlsEnv();
  sim.unlock();
  const agent = startAgent(env, stateDir);
  agents.push(agent);
  await grantAndWaitOnline(sim, agent);
  sim.lock();
  const password = storedCredentials(stateDir)?.password;
  if (password === undefined) throw new Error("no stored password after pairing");
  paired = { env, stateDir, agent, password };
});
afterAll(async () => {
  await stopAllAgents();
  await sim.close();
  expect(findLeakedSecrets(agents)).toEqual([]);
  expect(cliOutputs.filter((output) => output.includes(paired.password))).toEqual([]);
  removeStateDirs();
});
afterEach(async () => {
  if (!sim.isBrokerRunning()) await sim.startBroker();
});

interface CheckReport {
  checks: CheckResult[];
  summary: Record<CheckOutcome, number>;
}

async function check(
  extra: Record<string, string> = {},
): Promise<{ result: CliResult; byName: Map<string, CheckResult> }> {
  const result = await runCli(["check", "--json"], { ...paired.env, ...extra }, paired.stateDir);
  const report = parseJson<CheckReport>(result);
  return { result, byName: new Map(report.checks.map((entry) => [entry.name, entry])) };
}

const outcomes = (byName: Map<string, CheckResult>, names: string[]) =>
  Object.fromEntries(names.map((name) => [name, byName.get(name)?.outcome]));

const NETWORK = ["registry-dns", "registry-tcp", "registry-tls", "broker-dns", "broker-tcp", "broker-tls"];

describe("cw-agent check against the simulator", () => {
  it("good setup: every check ok (clock sync may be unknown here), hardware skipped, the running agent stays online", async () => {
    const from = paired.agent.lines.length;
    const { result, byName } = await check();
    expect(result.code).toBe(0);
    expect(
      outcomes(byName, [
        "config",
        "state-dir",
        "database",
        "credentials",
        "clock-plausible",
        ...NETWORK,
        "mqtt-login",
      ]),
    ).toEqual(
      Object.fromEntries(
        ["config", "state-dir", "database", "credentials", "clock-plausible", ...NETWORK, "mqtt-login"].map(
          (name) => [name, "ok"],
        ),
      ),
    );
    expect(byName.get("clock-synchronized")?.outcome).not.toBe("failed");
    expect(outcomes(byName, ["gpio", "display"])).toEqual({ gpio: "skipped", display: "skipped" });
    expect(byName.get("mqtt-login")?.message).toContain(`(client id ${NAME}-check)`);
    expect(byName.get("broker-dns")?.message).toMatch(/^localhost resolves to /);
    // The check's login used its own client id: the agent's session was not taken over.
    expect(paired.agent.lines.slice(from).filter((line) => line.state === "reconnecting")).toEqual([]);

    const human = await runCli(["check"], paired.env, paired.stateDir);
    expect(human.code).toBe(0);
    expect(human.stdout).toMatch(/^\[ok\] +config +agent "gw-check"/m);
    expect(human.stdout).toMatch(/^\[ok\] +mqtt-login /m);
    expect(human.stdout).toMatch(/\d+ ok, \d+ warning\(s\), 0 failed, \d+ skipped$/m);
  });

  it("wrong CA: both TLS handshakes fail with Node's error code and a hint to CW_AGENT_CA_FILE", async () => {
    const { result, byName } = await check({ CW_AGENT_CA_FILE: sim.otherCaFile });
    expect(result.code).toBe(1);
    for (const name of ["registry-tls", "broker-tls"]) {
      const tls = byName.get(name);
      expect(tls?.outcome).toBe("failed");
      expect(tls?.message).toMatch(
        /rejected \((SELF_SIGNED_CERT_IN_CHAIN|UNABLE_TO_VERIFY_LEAF_SIGNATURE|UNABLE_TO_GET_ISSUER_CERT_LOCALLY)\)/,
      );
      expect(tls?.hint).toContain("CW_AGENT_CA_FILE");
    }
    expect(outcomes(byName, ["registry-tcp", "broker-tcp", "mqtt-login"])).toEqual({
      "registry-tcp": "ok",
      "broker-tcp": "ok",
      "mqtt-login": "skipped",
    });
  });

  it("clock far in the past (injected clock): clock-plausible fails with a hint about NTP", async () => {
    const env = { PATH: process.env.PATH ?? "", CW_AGENT_STATE_DIR: paired.stateDir, ...paired.env };
    const farPast = Date.UTC(2001, 0, 1);
    const results = await runChecks(env, { now: () => farPast, ntpQuery: async () => "no" });
    const byName = new Map(results.map((entry) => [entry.name, entry]));
    expect(byName.get("clock-plausible")).toMatchObject({
      outcome: "failed",
      message: expect.stringContaining(
        "the clock says 2001-01-01T00:00:00Z, before this agent was installed",
      ),
      hint: expect.stringContaining("NTP"),
    });
    expect(byName.get("clock-synchronized")).toMatchObject({ outcome: "warning" });

    const printed: string[] = [];
    const code = await checkCommand(
      env,
      { json: false },
      { out: (text) => printed.push(text), err: (text) => printed.push(text) },
      { now: () => farPast, ntpQuery: async () => "yes" },
    );
    expect(code).toBe(1);
    expect(printed.join("\n")).toMatch(/^\[failed\] +clock-plausible +the clock says 2001-01-01/m);
    cliOutputs.push(...printed);
  });

  it("broker down: broker TCP fails, TLS and login skipped, registry still ok; status remembers the error", async () => {
    const from = paired.agent.lines.length;
    await sim.stopBroker();
    const { result, byName } = await check();
    expect(result.code).toBe(1);
    expect(byName.get("broker-tcp")).toMatchObject({
      outcome: "failed",
      message: `TCP connection to localhost:${sim.mqttsPort} failed (ECONNREFUSED)`,
    });
    expect(outcomes(byName, ["broker-tls", "mqtt-login", "registry-tls"])).toEqual({
      "broker-tls": "skipped",
      "mqtt-login": "skipped",
      "registry-tls": "ok",
    });

    await paired.agent.waitForState("reconnecting", { from });
    await sim.startBroker();
    await paired.agent.waitForState("online", { from });
    const status = parseJson<StatusReport>(await runCli(["status", "--json"], paired.env, paired.stateDir));
    expect(status.state).toBe("online");
    expect(status.lastError?.message).toMatch(/failed/);
  });

  it("display absent: a display configured on an I2C bus that does not exist fails with a hint", async () => {
    const { result, byName } = await check({
      CW_AGENT_DISPLAY_MODEL: "ssd1306",
      CW_AGENT_DISPLAY_I2C_BUS: "250",
      CW_AGENT_DISPLAY_ADDRESS: "0x3c",
    });
    expect(result.code).toBe(1);
    const display = byName.get("display");
    expect(display?.outcome).toBe("failed");
    expect(display?.message).toContain("ssd1306 display on /dev/i2c-250 at 0x3c");
    // No /dev/i2c-250 (ENOENT), or no i2c-bus module on this machine: either way a hint names the fix.
    expect(display?.hint).toMatch(/I2C|i2c/);
  });

  it("credentials rejected: CONNACK 5 (not authorized) and 4 (bad password) are reported distinctly", async () => {
    await paired.agent.kill("SIGTERM");

    sim.rejectNextConnects(1);
    const notAuthorized = (await check()).byName.get("mqtt-login");
    expect(notAuthorized).toMatchObject({
      outcome: "failed",
      message: expect.stringContaining("not authorized (CONNACK 5)"),
    });

    // The administrator replaced the user's password in Connectware.
    sim.addUser(NAME, "a-password-the-agent-does-not-have");
    const { result, byName } = await check();
    expect(result.code).toBe(1);
    expect(byName.get("mqtt-login")).toMatchObject({
      outcome: "failed",
      message: expect.stringContaining("bad user name or password (CONNACK 4)"),
      hint: expect.stringContaining("cw-agent reset"),
    });
    await until(() => sim.mqttClients().length === 0, "the check's MQTT client to disconnect");
  });
});

describe("cw-agent check with an HTTP proxy for the registry", () => {
  let proxy: ConnectProxy;
  beforeAll(async () => {
    proxy = await startConnectProxy();
  });
  afterAll(() => proxy.close());
  afterEach(() => proxy.refuse(null));

  /** The failed checks; the MQTT login is left out, as a test above replaced the agent's password. */
  const failedChecks = (byName: Map<string, CheckResult>) =>
    [...byName.values()]
      .filter((entry) => entry.outcome === "failed" && entry.name !== "mqtt-login")
      .map((entry) => entry.name);
  const registryTarget = () => new URL(sim.registryHttpsUrl).host;
  const PROXY_PATH = ["registry-proxy", "proxy-dns", "proxy-tcp", "proxy-connect", "registry-tls"];

  it("without proxy variables: its own line says none", async () => {
    const { byName } = await check();
    expect(byName.get("registry-proxy")).toEqual({
      name: "registry-proxy",
      outcome: "ok",
      message:
        "none: https_proxy, HTTPS_PROXY, all_proxy, ALL_PROXY are not set; the registry is reached directly",
    });
  });

  it("through a proxy: which one, its DNS and TCP, the tunnel it opened, and TLS with the registry inside it", async () => {
    const from = proxy.tunnels.length;
    const { byName } = await check({ HTTPS_PROXY: proxy.url });
    expect(failedChecks(byName)).toEqual([]);
    expect(outcomes(byName, PROXY_PATH)).toEqual(Object.fromEntries(PROXY_PATH.map((name) => [name, "ok"])));
    expect(byName.get("registry-proxy")?.message).toBe(
      `through the HTTP proxy 127.0.0.1:${proxy.port} (HTTPS_PROXY); MQTT does not use it`,
    );
    expect(byName.get("proxy-connect")?.message).toBe(
      `proxy 127.0.0.1:${proxy.port} opened a tunnel to ${registryTarget()}`,
    );
    expect(byName.get("registry-tls")?.message).toMatch(
      new RegExp(`^certificate of .* \\(through proxy 127\\.0\\.0\\.1:${proxy.port}\\) is trusted`),
    );
    expect(outcomes(byName, ["registry-dns", "registry-tcp", "broker-tcp"])).toEqual({
      "registry-dns": "skipped",
      "registry-tcp": "skipped",
      "broker-tcp": "ok",
    });
    // The check opened exactly the tunnel the agent would, and sent no request through it.
    expect(proxy.tunnels.slice(from)).toEqual([
      { target: registryTarget(), proxyAuthorization: undefined, status: 200 },
    ]);
    expect(proxy.otherRequests).toEqual([]);

    const human = await runCli(["check"], { ...paired.env, HTTPS_PROXY: proxy.url }, paired.stateDir);
    expect(human.stdout).toMatch(
      /^\[ok\] +registry-proxy +through the HTTP proxy 127\.0\.0\.1:\d+ \(HTTPS_PROXY\)/m,
    );
  });

  it("NO_PROXY naming the registry: the line says it is bypassed, and the registry is checked directly", async () => {
    const from = proxy.tunnels.length;
    const { byName } = await check({ HTTPS_PROXY: proxy.url, NO_PROXY: "127.0.0.1" });
    expect(failedChecks(byName)).toEqual([]);
    expect(byName.get("registry-proxy")?.message).toBe(
      'none: NO_PROXY entry "127.0.0.1" names 127.0.0.1, so the registry is reached directly, not through the proxy of HTTPS_PROXY',
    );
    expect(outcomes(byName, ["registry-dns", "registry-tcp", "registry-tls"])).toEqual({
      "registry-dns": "ok",
      "registry-tcp": "ok",
      "registry-tls": "ok",
    });
    expect(byName.has("proxy-connect")).toBe(false);
    expect(proxy.tunnels.length).toBe(from);
  });

  it("a proxy answering 407 fails proxy-connect, not a registry check, with a hint where the login goes", async () => {
    proxy.refuse(407);
    const { result, byName } = await check({ HTTPS_PROXY: proxy.url });
    expect(result.code).toBe(1);
    expect(failedChecks(byName)).toEqual(["proxy-connect"]);
    expect(byName.get("proxy-connect")).toEqual({
      name: "proxy-connect",
      outcome: "failed",
      message: `proxy 127.0.0.1:${proxy.port} refused the tunnel to ${registryTarget()} (407 Proxy Authentication Required)`,
      hint: `the proxy wants a user name and password: set HTTPS_PROXY=http://USER:PASSWORD@127.0.0.1:${proxy.port}`,
    });
    expect(
      outcomes(byName, ["registry-proxy", "proxy-tcp", "registry-dns", "registry-tcp", "registry-tls"]),
    ).toEqual({
      "registry-proxy": "ok",
      "proxy-tcp": "ok",
      "registry-dns": "skipped",
      "registry-tcp": "skipped",
      "registry-tls": "skipped",
    });
  });

  it("a proxy that refuses the connection fails proxy-tcp, naming the proxy and the variable, never its password", async () => {
    const port = await freePort();
    const { result, byName } = await check({
      https_proxy: `http://plant-user:proxy-pw-4711@127.0.0.1:${port}`,
    });
    expect(result.code).toBe(1);
    expect(byName.get("registry-proxy")?.message).toBe(
      `through the HTTP proxy 127.0.0.1:${port} (https_proxy, with user name and password); MQTT does not use it`,
    );
    expect(byName.get("proxy-tcp")).toMatchObject({
      outcome: "failed",
      message: `TCP connection to 127.0.0.1:${port} failed (ECONNREFUSED)`,
      hint: "nothing listens there: is the proxy running, and is https_proxy right?",
    });
    expect(outcomes(byName, ["proxy-connect", "registry-tls"])).toEqual({
      "proxy-connect": "skipped",
      "registry-tls": "skipped",
    });
    expect(JSON.stringify([...byName.values()])).not.toMatch(/proxy-pw-4711|plant-user/);
  });
});
