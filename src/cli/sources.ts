import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { AGENT_NAME_PATTERN, AGENT_NAME_RULE, rawValue } from "../config/settings.js";
import { errorCode } from "../util/errors.js";
import { UsageError } from "./argv.js";

/** Where install.sh and the package keep the environment files: cw-agent.env, cw-agent@NAME.env. */
export const ENV_DIR = "/etc/cw-agent";

/** What the command line says about where the settings are. */
export interface SettingsSource {
  envFile?: string;
  /** A template instance cw-agent@NAME. */
  instance?: string;
}

/** Where one variable of the commands' environment came from. */
export type Origin =
  | { readonly kind: "environment" }
  | { readonly kind: "file"; readonly path: string }
  /** Set by the template unit itself (Environment=, StateDirectory=, RuntimeDirectory=). */
  | { readonly kind: "unit"; readonly unit: string };

/** Where a setting's value came from: one of the origins, or nowhere (its default). */
export type SettingOrigin = Origin | { readonly kind: "default"; readonly emptyIn?: Origin };

/** The environment the commands read, and where each of its variables came from. */
export interface ResolvedSettings {
  readonly env: NodeJS.ProcessEnv;
  /** The variables that did not come from the process environment. */
  readonly origins: ReadonlyMap<string, Origin>;
  /** The settings files read (at most one today). */
  readonly files: readonly string[];
  /** The service's file, when it was not read: because it does not exist, or the shell names an agent. */
  readonly serviceFileSkipped?: { readonly path: string; readonly reason: "missing" | "agent-name-set" };
  readonly instance?: string;
  /** The command-line options that chose the files, to repeat them in advice. */
  readonly options: string;
}

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

/** Instance names follow the rule of agent names: the instance name is the agent's default name. */
export function checkInstanceName(instance: string): void {
  if (!AGENT_NAME_PATTERN.test(instance)) {
    throw new UsageError(
      `invalid --instance ${JSON.stringify(instance)}: an instance name is an agent name, ${AGENT_NAME_RULE}`,
    );
  }
}

/**
 * The settings a command sees, rebuilt the way systemd builds the service's environment.
 * `--instance NAME` adds what cw-agent@NAME.service sets itself (the agent name, its own state and
 * runtime directories) under its cw-agent@NAME.env, so the CLI reaches that agent and no other. Without
 * options, a technician's shell that has no CYBUS_AGENT_NAME gets the default unit's file, so
 * `sudo cw-agent status` just works.
 */
export function resolveSettings(
  env: NodeJS.ProcessEnv,
  source: SettingsSource,
  envDir = ENV_DIR,
): ResolvedSettings {
  const { envFile, instance } = source;
  const options = [
    ...(instance === undefined ? [] : [`--instance ${instance}`]),
    ...(envFile === undefined ? [] : [`--env-file ${envFile}`]),
  ].join(" ");
  const origins = new Map<string, Origin>();
  const fromFile = (path: string, what: string): Record<string, string> => {
    const values = readEnvFile(path, what);
    for (const name of Object.keys(values)) origins.set(name, { kind: "file", path });
    return values;
  };
  if (instance !== undefined) {
    checkInstanceName(instance);
    const unit = `cw-agent@${instance}`;
    const unitSettings = {
      CYBUS_AGENT_NAME: instance,
      STATE_DIRECTORY: `/var/lib/${unit}`,
      RUNTIME_DIRECTORY: `/run/${unit}`,
    };
    for (const name of Object.keys(unitSettings)) origins.set(name, { kind: "unit", unit });
    const file = envFile ?? join(envDir, `${unit}.env`);
    // EnvironmentFile= overrides Environment= in systemd, so the file comes last here too.
    const values = fromFile(file, envFile === undefined ? `the settings of ${unit},` : "--env-file");
    return { env: { ...env, ...unitSettings, ...values }, origins, files: [file], instance, options };
  }
  if (envFile !== undefined) {
    return { env: { ...env, ...fromFile(envFile, "--env-file") }, origins, files: [envFile], options };
  }
  const serviceFile = join(envDir, "cw-agent.env");
  if (env.CYBUS_AGENT_NAME?.trim()) {
    const serviceFileSkipped = { path: serviceFile, reason: "agent-name-set" } as const;
    return { env, origins, files: [], serviceFileSkipped, options };
  }
  if (!existsSync(serviceFile)) {
    return { env, origins, files: [], serviceFileSkipped: { path: serviceFile, reason: "missing" }, options };
  }
  const values = fromFile(serviceFile, "the service's settings,");
  return { env: { ...env, ...values }, origins, files: [serviceFile], options };
}

/** The environment of `resolveSettings`, for callers that do not ask where a value came from. */
export function settingsEnvironment(
  env: NodeJS.ProcessEnv,
  source: SettingsSource,
  envDir = ENV_DIR,
): NodeJS.ProcessEnv {
  return resolveSettings(env, source, envDir).env;
}

/** Where the value of setting `name` came from; unset or empty, it is the default. */
export function originOf(resolved: ResolvedSettings, name: string): SettingOrigin {
  const origin: Origin = resolved.origins.get(name) ?? { kind: "environment" };
  if (rawValue(resolved.env, name) !== undefined) return origin;
  return resolved.env[name] === undefined ? { kind: "default" } : { kind: "default", emptyIn: origin };
}

/** "file /etc/cw-agent/cw-agent.env", "environment", "unit cw-agent@line1", "default". */
export function describeOrigin(origin: SettingOrigin): string {
  switch (origin.kind) {
    case "file":
      return `file ${origin.path}`;
    case "unit":
      return `unit ${origin.unit}`;
    case "environment":
      return "environment";
    case "default":
      return origin.emptyIn === undefined
        ? "default"
        : `default (empty in ${describeOrigin(origin.emptyIn)})`;
  }
}
