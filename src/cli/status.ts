import { existsSync } from "node:fs";
import type { AgentConfig } from "../config/config.js";
import type { LiveStatus } from "../control/index.js";
import { EXIT_FAILURE, EXIT_NOT_RUNNING, EXIT_OK } from "../exit-codes.js";
import { describeStatus } from "../lifecycle/lifecycle.js";
import type { RecordedStatus, StoredCredentials } from "../storage/credential-store.js";
import { loadAsn1 } from "../tls/asn1.js";
import { type CertificateSummary, certificateSummary } from "../tls/client-certificate.js";
import { errorCode, errorMessage } from "../util/errors.js";
import { configOrExit, contactAgent, isLiveStatus } from "./context.js";
import { readDatabase } from "./database.js";
import { formatDuration, formatFields, formatMoment, type Output } from "./output.js";

/** `status --json`: the same keys whether the agent answered or the database did. */
export interface StatusReport {
  running: boolean;
  source: "agent" | "database";
  agentName: string;
  username: string;
  state: string | null;
  description: string;
  since: number | null;
  pairingId: string | null;
  broker: string;
  registry: string;
  nextAttemptAt: number | null;
  lastError: { message: string; at: number } | null;
  /** Under-voltage, throttling...: what the running agent warns about now; null when nothing. */
  warning: string | null;
  /** What the database holds; null when the agent answered (it owns the database then). */
  credentials: "granted" | "pending" | "none" | null;
  pid: number | null;
  startedAt: number | null;
  uptimeMs: number | null;
  version: string | null;
  /** The control socket(s) the CLI tried. */
  socket: string;
  /** Epoch ms the database row was written (stopped agent only). */
  recordedAt: number | null;
  /** The client certificate with mutual TLS (from the database); null without one, or unreadable. */
  certificate: CertificateSummary | null;
  warnings: string[];
}

export async function statusCommand(
  env: NodeJS.ProcessEnv,
  options: { json: boolean },
  output: Output,
  now: () => number = Date.now,
): Promise<number> {
  const config = configOrExit(env, output);
  if (typeof config === "number") return config;
  await loadAsn1();

  let report: StatusReport;
  try {
    const contact = await contactAgent(env, config, { command: "status" });
    if (contact.running) {
      if (!isLiveStatus(contact.answer)) {
        output.err(`cw-agent: the agent refused the status request: ${errorOf(contact.answer)}`);
        return EXIT_FAILURE;
      }
      report = {
        ...statusReportFromAgent(contact.answer.status, contact.socket, now()),
        certificate: certificateOf(config),
      };
    } else {
      report = fromDatabase(config, contact.sockets.join(" or "));
    }
  } catch (error) {
    output.err(`cw-agent: ${errorMessage(error)}`);
    return EXIT_FAILURE;
  }

  if (options.json) output.out(JSON.stringify(report, null, 2));
  else output.out(formatReport(report, now()));
  return report.running ? EXIT_OK : EXIT_NOT_RUNNING;
}

function errorOf(answer: { ok: boolean }): string {
  return "error" in answer ? String(answer.error) : "unexpected answer";
}

/** The `status --json` report of a running agent, from its live status (also the MQTT `status` command). */
export function statusReportFromAgent(status: LiveStatus, socket: string, now: number): StatusReport {
  return {
    running: true,
    source: "agent",
    agentName: status.agentName,
    username: status.username,
    state: status.state,
    description: status.description,
    since: status.since,
    pairingId: status.pairingId ?? null,
    broker: status.broker,
    registry: status.registry,
    nextAttemptAt: status.nextAttemptAt ?? null,
    lastError: status.lastError ?? null,
    warning: status.warning ?? null,
    credentials: null,
    pid: status.pid,
    startedAt: status.startedAt,
    uptimeMs: Math.max(0, now - status.startedAt),
    version: status.version,
    socket,
    recordedAt: null,
    certificate: null,
    warnings: [],
  };
}

/** The client certificate as the database holds it; the agent may be running, so read-only. */
function certificateOf(config: AgentConfig): CertificateSummary | null {
  try {
    return existsSync(config.stateDir)
      ? (certificateSummary(readDatabase(config.stateDir).credentials) ?? null)
      : null;
  } catch {
    return null; // not readable as this user: the rest of the status still is
  }
}

function fromDatabase(config: AgentConfig, socket: string): StatusReport {
  const warnings: string[] = [];
  let recorded: RecordedStatus | undefined;
  let credentials: StoredCredentials | undefined;
  if (existsSync(config.stateDir)) {
    ({ recorded, credentials } = readDatabase(config.stateDir));
  } else {
    warnings.push(`state directory ${config.stateDir} does not exist yet: the agent has never run here`);
  }
  if (recorded !== undefined && !["stopped", "failed"].includes(recorded.state) && isAlive(recorded.pid)) {
    warnings.push(
      `pid ${recorded.pid} recorded this state and is still running, but no agent answers on ${socket}; is it started with another RUNTIME_DIRECTORY?`,
    );
  }
  const pairingId = credentials?.status === "pending" ? credentials.pairingId : undefined;
  const username = credentials?.username ?? config.username;
  const broker = `${config.mqtt.host}:${config.mqtt.port}`;
  const registry = config.registry.baseUrl.origin;
  const description =
    recorded === undefined
      ? "Agent not running (no state recorded yet)"
      : `Agent not running; last state: ${describeStatus({
          state: recorded.state,
          since: recorded.since,
          agentName: config.agentName,
          username,
          broker,
          registry,
          ...(recorded.pairingId === undefined ? {} : { pairingId: recorded.pairingId }),
          ...(recorded.lastError === undefined ? {} : { lastError: recorded.lastError }),
        })}`;
  return {
    running: false,
    source: "database",
    agentName: config.agentName,
    username,
    state: recorded?.state ?? null,
    description,
    since: recorded?.since ?? null,
    pairingId: pairingId ?? null,
    broker,
    registry,
    nextAttemptAt: null,
    lastError: recorded?.lastError === undefined ? null : { message: recorded.lastError, at: recorded.since },
    warning: null,
    credentials: credentials === undefined ? "none" : credentials.status,
    pid: null,
    startedAt: null,
    uptimeMs: null,
    version: null,
    socket,
    recordedAt: recorded?.updatedAt ?? null,
    certificate: certificateSummary(credentials) ?? null,
    warnings,
  };
}

/** Signal 0 only asks whether the pid exists; EPERM means it does, under another user. */
function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return errorCode(error) === "EPERM";
  }
}

function formatReport(report: StatusReport, now: number): string {
  const header = `cw-agent ${report.agentName}: ${report.description}`;
  const credentials =
    report.credentials === null
      ? undefined
      : report.credentials === "none"
        ? "none (the agent registers anew when it starts)"
        : report.credentials === "pending"
          ? "pending (waiting for authorization in Connectware)"
          : "granted";
  const fields = formatFields([
    [
      "agent",
      report.running
        ? `running (pid ${report.pid}, version ${report.version}, up ${formatDuration(report.uptimeMs ?? 0)})`
        : "not running",
    ],
    [
      "state",
      report.state === null || report.since === null
        ? undefined
        : `${report.state} since ${formatMoment(report.since, now)}`,
    ],
    ["recorded", report.recordedAt === null ? undefined : formatMoment(report.recordedAt, now)],
    ["pairing ID", report.pairingId ?? undefined],
    ["username", report.username],
    ["credentials", credentials],
    ["broker", report.broker],
    ["registry", report.registry],
    ["next try", report.nextAttemptAt === null ? undefined : formatMoment(report.nextAttemptAt, now)],
    [
      "last error",
      report.lastError === null
        ? undefined
        : `${report.lastError.message} (${formatMoment(report.lastError.at, now)})`,
    ],
    [
      "certificate",
      report.certificate === null
        ? undefined
        : `${report.certificate.subject}, issuer ${report.certificate.issuer}, serial ${report.certificate.serial}, notAfter ${report.certificate.notAfter}`,
    ],
    ["warning", report.warning ?? undefined],
    ["socket", report.socket],
  ]);
  const warnings = report.warnings.map((warning) => `warning: ${warning}`);
  return [header, fields, ...warnings].join("\n");
}
