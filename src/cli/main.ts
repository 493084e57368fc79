import { existsSync } from "node:fs";
import { join } from "node:path";
import { parseArgs } from "node:util";
import { runAgent } from "../agent/run.js";
import { applyBootConfigCommand } from "../boot-config/command.js";
import { MAX_IDENTIFY_SECONDS } from "../control/index.js";
import { EXIT_NOINPUT, EXIT_OK, EXIT_USAGE } from "../exit-codes.js";
import { errorMessage } from "../util/errors.js";
import { AGENT_VERSION } from "../version.js";
import { checkCommand } from "./check/report.js";
import { EnvFileError, readEnvFile } from "./context.js";
import { identifyCommand } from "./identify.js";
import { type Output, processOutput } from "./output.js";
import { pairingIdCommand } from "./pairing-id.js";
import { resetCommand } from "./reset.js";
import { statusCommand } from "./status.js";

export const USAGE = `Usage: cw-agent <command> [options]

Commands:
  run                 start the agent (what the systemd unit runs)
  status [--json]     state, pairing ID, broker, uptime and last error of the agent
  check [--json]      diagnose configuration, storage, clock, network, TLS, MQTT login, LEDs, display
  reset [--yes]       discard the credentials; the agent registers anew
  identify [seconds]  blink the status LED of the running agent (default CW_AGENT_LED_IDENTIFY_S)
  pairing-id          print the pairing ID waiting for authorization in Connectware
  apply-boot-config   apply cw-agent.txt from the boot partition (run by cw-agent-boot-config.service)
  version             print the version
  help                print this help

Options of status, check, reset, identify and pairing-id:
  --instance NAME     the agent of the template unit cw-agent@NAME (settings from
                      /etc/cw-agent/cw-agent@NAME.env, state in /var/lib/cw-agent@NAME)
  --env-file FILE     also read settings from FILE (default when CYBUS_AGENT_NAME is unset:
                      /etc/cw-agent/cw-agent.env, if it exists)

Settings come from the environment, as for the service. Exit codes: 0 ok, 1 failed,
3 agent not running (status), 64 bad usage, 66 settings file unreadable, 78 invalid configuration.`;

class UsageError extends Error {}

/** Parses the options of one command; unknown options and surplus arguments are usage errors. */
function parse(
  args: string[],
  flags: readonly string[],
  maxPositionals: number,
): { values: Record<string, string | boolean | undefined>; positionals: string[] } {
  const options: Record<string, { type: "boolean" | "string" }> = {
    "env-file": { type: "string" },
    instance: { type: "string" },
  };
  for (const flag of flags) options[flag] = { type: "boolean" };
  let parsed: ReturnType<typeof parseArgs>;
  try {
    parsed = parseArgs({ args, options, allowPositionals: true, strict: true });
  } catch (error) {
    // Node appends advice about "--" to unknown options; the first sentence is the finding.
    throw new UsageError(errorMessage(error).split(". ")[0] ?? "bad arguments");
  }
  if (parsed.positionals.length > maxPositionals) {
    throw new UsageError(`unexpected argument ${JSON.stringify(parsed.positionals[maxPositionals])}`);
  }
  return {
    values: parsed.values as Record<string, string | boolean | undefined>,
    positionals: parsed.positionals,
  };
}

/** Where install.sh writes the environment files: cw-agent.env, and NAME.env for cw-agent@NAME. */
export const ENV_DIR = "/etc/cw-agent";
const INSTANCE_NAME = /^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/;

export interface SettingsSource {
  envFile?: string;
  /** A template instance cw-agent@NAME. */
  instance?: string;
}

/**
 * The settings a command sees, rebuilt the way systemd builds the service's environment.
 * `--instance NAME` adds what cw-agent@NAME.service sets itself (the agent name, its own state and
 * runtime directories) under its cw-agent@NAME.env, so the CLI reaches that agent and no other. Without
 * options, a technician's shell that has no CYBUS_AGENT_NAME gets the default unit's file, so
 * `sudo cw-agent status` just works.
 */
export function settingsEnvironment(
  env: NodeJS.ProcessEnv,
  source: SettingsSource,
  envDir = ENV_DIR,
): NodeJS.ProcessEnv {
  const { envFile, instance } = source;
  if (instance !== undefined) {
    if (!INSTANCE_NAME.test(instance)) {
      throw new UsageError(
        `--instance must be a unit instance name such as line1, not ${JSON.stringify(instance)}`,
      );
    }
    const unitSettings = {
      CYBUS_AGENT_NAME: instance,
      STATE_DIRECTORY: `/var/lib/cw-agent@${instance}`,
      RUNTIME_DIRECTORY: `/run/cw-agent@${instance}`,
    };
    // EnvironmentFile= overrides Environment= in systemd, so the file comes last here too.
    const file = envFile ?? join(envDir, `cw-agent@${instance}.env`);
    const what = envFile === undefined ? `the settings of cw-agent@${instance},` : "--env-file";
    return { ...env, ...unitSettings, ...readEnvFile(file, what) };
  }
  if (envFile !== undefined) return { ...env, ...readEnvFile(envFile) };
  const defaultFile = join(envDir, "cw-agent.env");
  if (!env.CYBUS_AGENT_NAME?.trim() && existsSync(defaultFile))
    return { ...env, ...readEnvFile(defaultFile, "the service's settings,") };
  return env;
}

function environment(values: Record<string, string | boolean | undefined>): NodeJS.ProcessEnv {
  const envFile = values["env-file"];
  const instance = values.instance;
  return settingsEnvironment(process.env, {
    ...(typeof envFile === "string" ? { envFile } : {}),
    ...(typeof instance === "string" ? { instance } : {}),
  });
}

function parseSeconds(text: string | undefined): number | undefined {
  if (text === undefined) return undefined;
  const seconds = /^\d{1,5}$/.test(text) ? Number(text) : Number.NaN;
  if (!(seconds >= 1 && seconds <= MAX_IDENTIFY_SECONDS)) {
    throw new UsageError(
      `identify: seconds must be an integer from 1 to ${MAX_IDENTIFY_SECONDS}, not ${JSON.stringify(text)}`,
    );
  }
  return seconds;
}

export async function main(argv: string[], output: Output = processOutput): Promise<number> {
  const [command, ...rest] = argv;
  try {
    switch (command) {
      case "run":
        if (rest.length > 0) throw new UsageError("run takes no arguments");
        return await runAgent(process.env);
      case "status": {
        const { values } = parse(rest, ["json"], 0);
        return await statusCommand(environment(values), { json: values.json === true }, output);
      }
      case "check": {
        const { values } = parse(rest, ["json"], 0);
        return await checkCommand(environment(values), { json: values.json === true }, output);
      }
      case "reset": {
        const { values } = parse(rest, ["yes"], 0);
        return await resetCommand(environment(values), { yes: values.yes === true }, output);
      }
      case "identify": {
        const { values, positionals } = parse(rest, [], 1);
        return await identifyCommand(environment(values), parseSeconds(positionals[0]), output);
      }
      case "pairing-id": {
        const { values } = parse(rest, [], 0);
        return pairingIdCommand(environment(values), output);
      }
      case "apply-boot-config":
        if (rest.length > 0) throw new UsageError("apply-boot-config takes no arguments");
        return applyBootConfigCommand(output);
      case "version":
      case "--version":
        if (rest.length > 0) throw new UsageError("version takes no arguments");
        output.out(AGENT_VERSION);
        return EXIT_OK;
      case "help":
      case "--help":
      case "-h":
        output.out(USAGE);
        return EXIT_OK;
      case undefined:
        throw new UsageError("no command given");
      default:
        throw new UsageError(`unknown command ${JSON.stringify(command)}`);
    }
  } catch (error) {
    if (error instanceof UsageError) {
      output.err(`cw-agent: ${error.message}\n\n${USAGE}`);
      return EXIT_USAGE;
    }
    if (error instanceof EnvFileError) {
      output.err(`cw-agent: ${errorMessage(error)}`);
      return EXIT_NOINPUT;
    }
    throw error;
  }
}
