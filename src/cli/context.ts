import { readFileSync } from "node:fs";
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
import { loadSettings, type Settings } from "../settings.js";
import { errorCode } from "../util/errors.js";
import type { Output } from "./output.js";

/** Where systemd's StateDirectory= and RuntimeDirectory= live for system services. */
const SYSTEM_STATE_ROOT = "/var/lib";
const SYSTEM_RUNTIME_ROOT = "/run";

/** How long the CLI waits for the running agent's answer. */
const CONTROL_TIMEOUT_MS = 5_000;

/** A settings file that cannot be read: the message names the file, what it is and why. */
export class EnvFileError extends Error {
  constructor(
    readonly path: string,
    readonly code: string,
    what: string,
    advice = "",
  ) {
    super(`cannot read ${what} ${path}: ${reasonOf(code)}${advice}`);
    this.name = "EnvFileError";
  }
}

function reasonOf(code: string): string {
  const reasons: Record<string, string> = {
    ENOENT: "no such file",
    EACCES: "permission denied",
    EPERM: "permission denied",
    EISDIR: "it is a directory",
    ENOTDIR: "a part of the path is not a directory",
    ELOOP: "too many symbolic links",
  };
  const reason = reasons[code];
  return reason === undefined ? code : `${reason} (${code})`;
}

/**
 * Reads a systemd EnvironmentFile: KEY=VALUE lines, `#`/`;` comments, values optionally in single
 * or double quotes. The CLI needs the service's settings to find its state and socket.
 */
export function readEnvFile(path: string, what = "--env-file"): Record<string, string> {
  let text: string;
  try {
    text = readFileSync(path, "utf8");
  } catch (error) {
    const code = errorCode(error) ?? "error";
    const advice = code === "EACCES" || code === "EPERM" ? "; run the command as root (sudo)" : "";
    throw new EnvFileError(path, code, what, advice);
  }
  const values: Record<string, string> = {};
  for (const rawLine of text.split("\n")) {
    const line = rawLine.trim();
    if (line === "" || line.startsWith("#") || line.startsWith(";")) continue;
    const match = /^([A-Za-z_][A-Za-z0-9_]*)\s*=\s*(.*)$/.exec(line);
    if (!match?.[1]) continue;
    let value = match[2] ?? "";
    if (value.length >= 2 && (value[0] === '"' || value[0] === "'") && value.endsWith(value[0])) {
      value = value.slice(1, -1);
    }
    values[match[1]] = value;
  }
  return values;
}

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

/** Every setting (agent and indicators), or the exit code after naming each invalid one on stderr. */
export function settingsOrExit(env: NodeJS.ProcessEnv, output: Output): Settings | number {
  let settings: Settings;
  try {
    settings = loadSettings(env);
  } catch (error) {
    if (!(error instanceof ConfigError)) throw error;
    for (const invalid of eachInvalidSetting(error)) {
      output.err(`cw-agent: invalid configuration: ${invalid.message}`);
    }
    explainConfigSource(output);
    return EXIT_CONFIG;
  }
  return settings;
}

function explainConfigSource(output: Output): void {
  output.err(
    "cw-agent: the commands read the same settings as the service; pass --env-file /etc/cw-agent/cw-agent.env (or the instance's file)",
  );
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
