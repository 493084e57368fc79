import { parseArgs } from "node:util";
import { runAgent } from "../agent/run.js";
import { applyBootConfigCommand } from "../boot-config/command.js";
import { MAX_IDENTIFY_SECONDS } from "../control/index.js";
import { EXIT_NOINPUT, EXIT_OK, EXIT_USAGE } from "../exit-codes.js";
import { errorMessage } from "../util/errors.js";
import { AGENT_VERSION } from "../version.js";
import { UsageError } from "./argv.js";
import { checkCommand } from "./check/report.js";
import { configCommand } from "./config.js";
import { settingsOrExit } from "./context.js";
import { identifyCommand } from "./identify.js";
import { type Output, processOutput } from "./output.js";
import { pairingIdCommand } from "./pairing-id.js";
import { resetCommand } from "./reset.js";
import { EnvFileError, type ResolvedSettings, resolveSettings } from "./sources.js";
import { statusCommand } from "./status.js";

export const USAGE = `Usage: cw-agent <command> [options]

Commands:
  run                 start the agent (what the systemd unit runs)
  status [--json]     state, pairing ID, broker, uptime and last error of the agent
  check [--json]      diagnose configuration, storage, clock, network, TLS, MQTT login, LEDs, display
  config [--json]     the effective settings and where each one came from (secrets not shown)
  reset [--yes]       discard the credentials; the agent registers anew
  identify [seconds]  blink the status LED of the running agent (default CW_AGENT_LED_IDENTIFY_S)
  pairing-id          print the pairing ID waiting for authorization in Connectware
  apply-boot-config   apply cw-agent.txt from the boot partition (run by cw-agent-boot-config.service)
  version             print the version
  help                print this help

Options of status, check, config, reset, identify and pairing-id:
  --instance NAME     the agent of the template unit cw-agent@NAME (settings from
                      /etc/cw-agent/cw-agent@NAME.env, state in /var/lib/cw-agent@NAME)
  --env-file FILE     also read settings from FILE (default when CYBUS_AGENT_NAME is unset:
                      /etc/cw-agent/cw-agent.env, if it exists)

Settings come from the environment, as for the service. Exit codes: 0 ok, 1 failed,
3 agent not running (status), 64 bad usage, 66 settings file unreadable, 78 invalid configuration.`;

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

export { ENV_DIR, settingsEnvironment } from "./sources.js";

/**
 * The settings of a command and where they came from. Invalid settings are reported here, with
 * where each value came from and which files were read; the exit code is returned then.
 */
function settings(
  values: Record<string, string | boolean | undefined>,
  output: Output,
): ResolvedSettings | number {
  const resolved = resolve(values);
  const loaded = settingsOrExit(resolved.env, output, resolved);
  return typeof loaded === "number" ? loaded : resolved;
}

function resolve(values: Record<string, string | boolean | undefined>): ResolvedSettings {
  const envFile = values["env-file"];
  const instance = values.instance;
  return resolveSettings(process.env, {
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
        const resolved = settings(values, output);
        if (typeof resolved === "number") return resolved;
        return await statusCommand(resolved.env, { json: values.json === true }, output);
      }
      case "check": {
        const { values } = parse(rest, ["json"], 0);
        return await checkCommand(resolve(values).env, { json: values.json === true }, output);
      }
      case "config": {
        const { values } = parse(rest, ["json"], 0);
        return configCommand(resolve(values), { json: values.json === true }, output);
      }
      case "reset": {
        const { values } = parse(rest, ["yes"], 0);
        const resolved = settings(values, output);
        if (typeof resolved === "number") return resolved;
        return await resetCommand(resolved.env, { yes: values.yes === true }, output);
      }
      case "identify": {
        const { values, positionals } = parse(rest, [], 1);
        const seconds = parseSeconds(positionals[0]);
        const resolved = settings(values, output);
        if (typeof resolved === "number") return resolved;
        return await identifyCommand(resolved.env, seconds, output);
      }
      case "pairing-id": {
        const { values } = parse(rest, [], 0);
        const resolved = settings(values, output);
        if (typeof resolved === "number") return resolved;
        return pairingIdCommand(resolved.env, output);
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
