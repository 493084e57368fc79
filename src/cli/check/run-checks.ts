import type { AgentConfig } from "../../config/config.js";
import { ConfigError } from "../../config/config-error.js";
import {
  type I2cOpener,
  type IndicatorConfig,
  loadIndicatorConfig,
  openI2cBus,
} from "../../indicators/index.js";
import { tryLoadConfig } from "../context.js";
import {
  checkClockPlausible,
  checkClockSynchronized,
  type NtpQuery,
  shippedPackageTime,
  timedatectlNtpQuery,
} from "./clock-checks.js";
import { checkDisplay, checkLeds } from "./hardware-checks.js";
import { checkCredentials, checkDatabase, checkStateDir } from "./local-checks.js";
import {
  brokerPeer,
  checkDns,
  checkMqttLogin,
  checkTcp,
  checkTls,
  type Peer,
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
}

export const DEFAULT_CHECK_TIMEOUT_MS = 5_000;

/** Every check, in the order a technician would work through them. Never throws for a finding. */
export async function runChecks(env: NodeJS.ProcessEnv, deps: CheckDeps = {}): Promise<CheckResult[]> {
  const now = deps.now ?? Date.now;
  const timeoutMs = deps.timeoutMs ?? DEFAULT_CHECK_TIMEOUT_MS;
  const results: CheckResult[] = [];

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
  results.push(...(await clockChecks));

  const [registryChecks, brokerChecks] = await Promise.all([
    peerChecks(registryPeer(config), config, now, timeoutMs),
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
  } else {
    results.push(await checkLeds(indicators, deps.sysfsRoot ?? "/sys"));
    results.push(await checkDisplay(indicators, deps.openI2cBus ?? openI2cBus, timeoutMs));
  }
  return results;
}

const LATER_CHECKS = [
  "state-dir",
  "database",
  "credentials",
  "registry-dns",
  "registry-tcp",
  "registry-tls",
  "broker-dns",
  "broker-tcp",
  "broker-tls",
  "mqtt-login",
  "gpio",
  "display",
];

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

function describeConfig(config: AgentConfig): string {
  return `agent "${config.agentName}", broker ${config.mqtt.scheme}://${config.mqtt.host}:${config.mqtt.port}, registry ${config.registry.baseUrl.origin}, state ${config.stateDir}`;
}
