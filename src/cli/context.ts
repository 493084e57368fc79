import { join, relative } from "node:path";
import { type AgentConfig, eachInvalidSetting, loadConfig } from "../config/config.js";
import { ConfigError } from "../config/config-error.js";
import {
  AgentNotRunningError,
  CONTROL_SOCKET_FILE,
  type ControlAnswer,
  type ControlRequest,
  controlSocketPath,
  type LiveStatus,
  sendControlRequest,
} from "../control/index.js";
import { EXIT_CONFIG } from "../exit-codes.js";
import { isSecretSetting, loadSettings, type Settings } from "../settings.js";
import type { Output } from "./output.js";
import { describeOrigin, originOf, type ResolvedSettings, type SettingOrigin } from "./sources.js";

/** Where systemd's StateDirectory= and RuntimeDirectory= live for system services. */
const SYSTEM_STATE_ROOT = "/var/lib";
const SYSTEM_RUNTIME_ROOT = "/run";

/** How long the CLI waits for the running agent's answer. */
const CONTROL_TIMEOUT_MS = 5_000;

export type ConfigOutcome = { ok: true; config: AgentConfig } | { ok: false; error: ConfigError };

export function tryLoadConfig(env: NodeJS.ProcessEnv): ConfigOutcome {
  try {
    return { ok: true, config: loadConfig(env) };
  } catch (error) {
    if (error instanceof ConfigError) return { ok: false, error };
    throw error;
  }
}

/** Loads the configuration or explains on stderr why it cannot; returns the exit code then. */
export function configOrExit(env: NodeJS.ProcessEnv, output: Output): AgentConfig | number {
  const settings = settingsOrExit(env, output);
  return typeof settings === "number" ? settings : settings.agent;
}

/**
 * Every setting (agent and indicators), or the exit code after naming each invalid one on stderr,
 * with where its value came from and which settings files were read (`resolved`, when known).
 */
export function settingsOrExit(
  env: NodeJS.ProcessEnv,
  output: Output,
  resolved?: ResolvedSettings,
): Settings | number {
  try {
    return loadSettings(env);
  } catch (error) {
    if (!(error instanceof ConfigError)) throw error;
    reportInvalidSettings(error, output, resolved);
    return EXIT_CONFIG;
  }
}

/** One line per invalid setting, then where the settings were read from. */
export function reportInvalidSettings(error: ConfigError, output: Output, resolved?: ResolvedSettings): void {
  for (const invalid of eachInvalidSetting(error)) {
    const origin = resolved === undefined ? "" : originNote(originOf(resolved, invalid.variable));
    output.err(`cw-agent: invalid configuration: ${publicMessage(invalid)}${origin}`);
  }
  if (resolved !== undefined) output.err(`cw-agent: ${sourcesNote(resolved)}`);
}

/**
 * The message of a ConfigError as the CLI prints it: without the value of a secret setting, and
 * without the password of a URL.
 */
export function publicMessage(error: ConfigError): string {
  const value = error.value;
  if (value === undefined || value === "") return error.message;
  if (isSecretSetting(error.variable)) {
    return `${error.variable} is invalid (value not shown): expected ${error.allowed}`;
  }
  const shown = withoutUrlPassword(value);
  return shown === value
    ? error.message
    : `${error.variable}=${JSON.stringify(shown)} is invalid: expected ${error.allowed}`;
}

/** `scheme://user:password@host` shows as `scheme://user:***@host`. */
export function withoutUrlPassword(text: string): string {
  return text.replace(/^([A-Za-z][A-Za-z0-9+.-]*:\/\/[^/@:]*):[^/@]*@/, "$1:***@");
}

function originNote(origin: SettingOrigin): string {
  switch (origin.kind) {
    case "file":
      return ` (from ${origin.path})`;
    case "environment":
      return " (from the environment)";
    case "unit":
      return ` (set for ${origin.unit})`;
    case "default":
      return origin.emptyIn === undefined ? "" : ` (empty in ${describeOrigin(origin.emptyIn)})`;
  }
}

/** "the environment and /etc/cw-agent/cw-agent.env", or "the environment only (why no file)". */
export function describeSources(resolved: ResolvedSettings): string {
  const skipped = resolved.serviceFileSkipped;
  if (resolved.files.length > 0) return `the environment and ${resolved.files.join(", ")}`;
  if (skipped?.reason === "agent-name-set") {
    return `the environment only (it sets CYBUS_AGENT_NAME, so the service's ${skipped.path} was not read)`;
  }
  return `the environment only${skipped ? ` (${skipped.path} does not exist)` : ""}`;
}

/** Which settings files were read; advice on --env-file only when none was. */
export function sourcesNote(resolved: ResolvedSettings): string {
  const read = `settings read from ${describeSources(resolved)}`;
  if (resolved.files.length > 0) {
    const options = resolved.options === "" ? "" : ` ${resolved.options}`;
    return `${read}; "cw-agent config${options}" shows where each one came from`;
  }
  const skipped = resolved.serviceFileSkipped;
  if (skipped?.reason === "agent-name-set") {
    return `${read}; for the service's settings pass --env-file ${skipped.path}, or --instance NAME for cw-agent@NAME`;
  }
  return `${read}; set them in the environment, or pass --env-file FILE, or --instance NAME for cw-agent@NAME`;
}

/**
 * Where the running agent may listen, most likely first. Under systemd the agent has
 * RUNTIME_DIRECTORY, the shell of an operator does not: a state directory /var/lib/cw-agent[/NAME]
 * (StateDirectory=) then implies /run/cw-agent[/NAME] (RuntimeDirectory=) of the same unit.
 */
export function controlSocketCandidates(env: NodeJS.ProcessEnv, stateDir: string): string[] {
  const candidates = [controlSocketPath(env, stateDir)];
  if (!env.RUNTIME_DIRECTORY?.trim()) {
    const below = relative(SYSTEM_STATE_ROOT, stateDir);
    if (below !== "" && !below.startsWith("..")) {
      candidates.unshift(join(SYSTEM_RUNTIME_ROOT, below, CONTROL_SOCKET_FILE));
    }
  }
  return candidates;
}

export type AgentContact =
  | { running: true; socket: string; answer: ControlAnswer }
  | { running: false; sockets: string[] };

/**
 * Sends `request` to the running agent. Resolves `running: false` when no agent listens on any
 * candidate; rejects when one is there but cannot be talked to (permissions, timeout).
 */
export async function contactAgent(
  env: NodeJS.ProcessEnv,
  config: AgentConfig,
  request: ControlRequest,
): Promise<AgentContact> {
  const candidates = controlSocketCandidates(env, config.stateDir);
  for (const socket of candidates) {
    try {
      return { running: true, socket, answer: await sendControlRequest(socket, request, CONTROL_TIMEOUT_MS) };
    } catch (error) {
      if (!(error instanceof AgentNotRunningError)) throw error;
    }
  }
  return { running: false, sockets: candidates };
}

export function isLiveStatus(answer: ControlAnswer): answer is { ok: true; status: LiveStatus } {
  return answer.ok && "status" in answer;
}
