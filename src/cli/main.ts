import { existsSync } from "node:fs";
import { parseArgs } from "node:util";
import { runAgent } from "../agent/run.js";
import { MAX_IDENTIFY_SECONDS } from "../control/index.js";
import { AGENT_VERSION } from "../version.js";
import { checkCommand } from "./check/report.js";
import { EnvFileError, readEnvFile } from "./context.js";
import { EXIT_FAILURE, EXIT_OK, EXIT_USAGE } from "./exit-codes.js";
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
  version             print the version
  help                print this help

Options of status, check, reset, identify and pairing-id:
  --env-file FILE     also read settings from FILE (default when CYBUS_AGENT_NAME is unset:
                      /etc/cw-agent/cw-agent.env, if it exists)

Settings come from the environment, as for the service. Exit codes: 0 ok, 1 failed,
3 agent not running (status), 64 bad usage, 78 invalid configuration.`;

class UsageError extends Error {}

/** Parses the options of one command; unknown options and surplus arguments are usage errors. */
function parse(
  args: string[],
  flags: readonly string[],
  maxPositionals: number,
): { values: Record<string, string | boolean | undefined>; positionals: string[] } {
  const options: Record<string, { type: "boolean" | "string" }> = { "env-file": { type: "string" } };
  for (const flag of flags) options[flag] = { type: "boolean" };
  let parsed: ReturnType<typeof parseArgs>;
  try {
    parsed = parseArgs({ args, options, allowPositionals: true, strict: true });
  } catch (error) {
    // Node appends advice about "--" to unknown options; the first sentence is the finding.
    throw new UsageError((error as Error).message.split(". ")[0] ?? "bad arguments");
  }
  if (parsed.positionals.length > maxPositionals) {
    throw new UsageError(`unexpected argument ${JSON.stringify(parsed.positionals[maxPositionals])}`);
  }
  return {
    values: parsed.values as Record<string, string | boolean | undefined>,
    positionals: parsed.positionals,
  };
}

/** The environment file install.sh writes for the default unit. */
export const DEFAULT_ENV_FILE = "/etc/cw-agent/cw-agent.env";

/**
 * The settings a command sees: `--env-file` on top of the environment; without it, a technician's
 * shell that has no CYBUS_AGENT_NAME gets the installed service's file, so `sudo cw-agent status`
 * just works.
 */
export function settingsEnvironment(
  env: NodeJS.ProcessEnv,
  envFileOption: string | undefined,
  defaultEnvFile = DEFAULT_ENV_FILE,
): NodeJS.ProcessEnv {
  if (envFileOption !== undefined) return { ...env, ...readEnvFile(envFileOption) };
  if (!env.CYBUS_AGENT_NAME?.trim() && existsSync(defaultEnvFile))
    return { ...env, ...readEnvFile(defaultEnvFile) };
  return env;
}

function environment(values: Record<string, string | boolean | undefined>): NodeJS.ProcessEnv {
  const file = values["env-file"];
  return settingsEnvironment(process.env, typeof file === "string" ? file : undefined);
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
      output.err(`cw-agent: ${(error as Error).message}`);
      return EXIT_FAILURE;
    }
    throw error;
  }
}
