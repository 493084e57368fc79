import type { AgentConfig } from "../../config/config.js";
import { ConfigError } from "../../config/config-error.js";
import {
  displayModel,
  type I2cOpener,
  type IndicatorConfig,
  loadIndicatorConfig,
  openI2cBus,
} from "../../indicators/index.js";
import { loadAsn1 } from "../../tls/asn1.js";
import { type NtpQuery, timedatectlNtpQuery } from "../../util/clock-sync.js";
import { errorMessage } from "../../util/errors.js";
import { contactAgent, isLiveStatus, tryLoadConfig } from "../context.js";
import { checkClockPlausible, checkClockSynchronized, shippedPackageTime } from "./clock-checks.js";
import { type AgentAnswer, checkDisplay, checkDisplayInAgent, checkLeds } from "./hardware-checks.js";
import { checkClientCertificate, checkCredentials, checkDatabase, checkStateDir } from "./local-checks.js";
import {
  brokerPeer,
  checkDns,
  checkMqttLogin,
  checkProxyConnect,
  checkRegistryRoute,
  checkTcp,
  checkTls,
  type Peer,
  proxyPeer,
  registryPeer,
} from "./network-checks.js";
import { type CheckResult, failed, ok, skipped } from "./result.js";

export interface CheckDeps {
  /** The clock the checks judge; a test passes one far in the past. */
  readonly now?: () => number;
  /** Bound of every single network, process or bus operation. */
  readonly timeoutMs?: number;
  /** The earliest plausible time; default: when the shipped package.json was written. */
  readonly earliest?: number;
  readonly ntpQuery?: NtpQuery;
  readonly sysfsRoot?: string;
  readonly openI2cBus?: I2cOpener;
  /** Asks the running agent for its status; default: its control socket. */
  readonly askAgent?: (config: AgentConfig) => Promise<AgentAnswer>;
}

export const DEFAULT_CHECK_TIMEOUT_MS = 5_000;

/** Every check, in the order a technician would work through them. Never throws for a finding. */
export async function runChecks(env: NodeJS.ProcessEnv, deps: CheckDeps = {}): Promise<CheckResult[]> {
  const now = deps.now ?? Date.now;
  const timeoutMs = deps.timeoutMs ?? DEFAULT_CHECK_TIMEOUT_MS;
  const results: CheckResult[] = [];
  await loadAsn1();

  const configOutcome = tryLoadConfig(env);
  let indicators: IndicatorConfig | ConfigError;
  try {
    indicators = loadIndicatorConfig(env);
  } catch (error) {
    if (!(error instanceof ConfigError)) throw error;
    indicators = error;
  }
  const config = configOutcome.ok ? configOutcome.config : undefined;
  if (!configOutcome.ok) {
    results.push(
      failed(
        "config",
        configOutcome.error.message,
        "fix the setting in the environment file and restart the agent",
      ),
    );
  } else if (indicators instanceof ConfigError) {
    results.push(
      failed("config", indicators.message, "fix the setting in the environment file and restart the agent"),
    );
  } else {
    results.push(ok("config", describeConfig(configOutcome.config)));
  }

  const clockChecks = Promise.all([
    Promise.resolve(checkClockPlausible(now(), deps.earliest ?? shippedPackageTime())),
    checkClockSynchronized(deps.ntpQuery ?? timedatectlNtpQuery, timeoutMs),
  ]);

  if (config === undefined) {
    const reason = "the configuration is invalid";
    results.push(...(await clockChecks));
    for (const name of LATER_CHECKS) results.push(skipped(name, reason));
    return results;
  }

  results.push(checkStateDir(config));
  const database = checkDatabase(config);
  results.push(database.result);
  results.push(checkCredentials(config, database, now()));
  results.push(checkClientCertificate(config, database, now()));
  results.push(...(await clockChecks));

  const [registryChecks, brokerChecks] = await Promise.all([
    registryPathChecks(config, now, timeoutMs),
    peerChecks(brokerPeer(config), config, now, timeoutMs),
  ]);
  results.push(...registryChecks, ...brokerChecks);

  const credentials = database.credentials;
  const brokerReachable = brokerChecks.every((result) => result.outcome !== "failed");
  if (credentials === undefined || credentials.status !== "granted") {
    results.push(skipped("mqtt-login", "no granted credentials to log in with"));
  } else if (credentials.username !== config.username) {
    results.push(skipped("mqtt-login", "the stored credentials are not for the configured username"));
  } else if (!brokerReachable) {
    results.push(skipped("mqtt-login", "the broker is not reachable (see above)"));
  } else {
    results.push(await checkMqttLogin(config, credentials, timeoutMs));
  }

  if (indicators instanceof ConfigError) {
    results.push(skipped("gpio", "the indicator configuration is invalid"));
    results.push(skipped("display", "the indicator configuration is invalid"));
    results.push(skipped("display-agent", "the indicator configuration is invalid"));
  } else {
    results.push(await checkLeds(indicators, deps.sysfsRoot ?? "/sys"));
    results.push(await checkDisplay(indicators, deps.openI2cBus ?? openI2cBus, timeoutMs));
    // Without a display there is nothing to ask the agent about.
    const agent: AgentAnswer =
      displayModel(indicators.display.model).kind === "none"
        ? { running: false, reason: "no display configured" }
        : await (deps.askAgent ?? askRunningAgent(env))(config);
    results.push(checkDisplayInAgent(indicators, agent));
  }
  return results;
}

const LATER_CHECKS = [
  "state-dir",
  "database",
  "credentials",
  "client-certificate",
  "registry-proxy",
  "registry-dns",
  "registry-tcp",
  "registry-tls",
  "broker-dns",
  "broker-tcp",
  "broker-tls",
  "mqtt-login",
  "gpio",
  "display",
  "display-agent",
];

/** The running agent's status through its control socket, or why there is none. */
function askRunningAgent(env: NodeJS.ProcessEnv): (config: AgentConfig) => Promise<AgentAnswer> {
  return async (config) => {
    try {
      const contact = await contactAgent(env, config, { command: "status" });
      if (!contact.running)
        return { running: false, reason: "no running agent answered on its control socket" };
      if (!isLiveStatus(contact.answer))
        return { running: false, reason: "the running agent did not answer with its status" };
      return { running: true, status: contact.answer.status };
    } catch (error) {
      return { running: false, reason: `cannot ask the running agent: ${errorMessage(error)}` };
    }
  };
}

/** DNS, then TCP, then TLS: each only when the one before it succeeded. */
async function peerChecks(
  peer: Peer,
  config: AgentConfig,
  now: () => number,
  timeoutMs: number,
): Promise<CheckResult[]> {
  const dns = await checkDns(peer, timeoutMs);
  if (dns.outcome === "failed") {
    return [
      dns,
      skipped(`${peer.role}-tcp`, "the host does not resolve"),
      skipped(`${peer.role}-tls`, "the host does not resolve"),
    ];
  }
  const tcp = await checkTcp(peer, timeoutMs);
  if (tcp.outcome === "failed") return [dns, tcp, skipped(`${peer.role}-tls`, "no TCP connection")];
  return [dns, tcp, await checkTls(peer, config, now(), timeoutMs)];
}

/**
 * The registry's line saying which proxy its requests take, then the checks of that path: directly
 * DNS, TCP and TLS of the registry; through a proxy DNS and TCP of the proxy, its CONNECT to the
 * registry, and TLS with the registry inside the tunnel. A proxy's failure is reported on a proxy
 * line, never as the registry's.
 */
async function registryPathChecks(
  config: AgentConfig,
  now: () => number,
  timeoutMs: number,
): Promise<CheckResult[]> {
  const registry = registryPeer(config);
  const route = config.registry.proxy;
  const routeResult = checkRegistryRoute(config);
  if (route.kind !== "proxy") return [routeResult, ...(await peerChecks(registry, config, now, timeoutMs))];

  const proxy = proxyPeer(route.proxy);
  const direct = "reached by the proxy, not from here (see proxy-connect)";
  const notChecked = [skipped("registry-dns", direct), skipped("registry-tcp", direct)];
  const dns = await checkDns(proxy, timeoutMs);
  if (dns.outcome === "failed") {
    const reason = "the proxy's host does not resolve";
    return [
      routeResult,
      dns,
      skipped("proxy-tcp", reason),
      skipped("proxy-connect", reason),
      ...notChecked,
      skipped("registry-tls", reason),
    ];
  }
  const tcp = await checkTcp(proxy, timeoutMs);
  if (tcp.outcome === "failed") {
    const reason = "no TCP connection to the proxy";
    return [
      routeResult,
      dns,
      tcp,
      skipped("proxy-connect", reason),
      ...notChecked,
      skipped("registry-tls", reason),
    ];
  }
  const connect = await checkProxyConnect(route.proxy, registry, config, timeoutMs);
  const tunnel = connect.tunnel;
  if (tunnel === undefined) {
    return [
      routeResult,
      dns,
      tcp,
      connect.result,
      ...notChecked,
      skipped("registry-tls", "no tunnel through the proxy"),
    ];
  }
  try {
    return [
      routeResult,
      dns,
      tcp,
      connect.result,
      ...notChecked,
      await checkTls(registry, config, now(), timeoutMs, tunnel),
    ];
  } finally {
    tunnel.close();
  }
}

function describeConfig(config: AgentConfig): string {
  return `agent "${config.agentName}", broker ${config.mqtt.scheme}://${config.mqtt.host}:${config.mqtt.port}, registry ${config.registry.baseUrl.origin}, state ${config.stateDir}`;
}
