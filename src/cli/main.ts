import { runAgent } from "../agent/run.js";
import { applyBootConfigCommand } from "../boot-config/command.js";
import { MAX_IDENTIFY_SECONDS } from "../control/index.js";
import { EXIT_NOINPUT, EXIT_OK, EXIT_USAGE } from "../exit-codes.js";
import { AGENT_VERSION } from "../version.js";
import { type ParsedArguments, parseArguments, UsageError } from "./argv.js";
import { checkCommand } from "./check/report.js";
import { type CommandSpec, commandHelp, findCommand, usage } from "./commands.js";
import { configCommand } from "./config.js";
import { settingsOrExit } from "./context.js";
import { identifyCommand } from "./identify.js";
import { logsCommand } from "./logs.js";
import { type Output, processOutput } from "./output.js";
import { pairingIdCommand } from "./pairing-id.js";
import { resetCommand } from "./reset.js";
import { EnvFileError, type ResolvedSettings, resolveSettings } from "./sources.js";
import { statusCommand } from "./status.js";

export { ENV_DIR, settingsEnvironment } from "./sources.js";

/** `cw-agent --help`: the command list. */
export const USAGE = usage();

function resolve(parsed: ParsedArguments): ResolvedSettings {
  const envFile = parsed.values.get("env-file");
  const instance = parsed.values.get("instance");
  return resolveSettings(process.env, {
    ...(envFile === undefined ? {} : { envFile }),
    ...(instance === undefined ? {} : { instance }),
  });
}

function parseSeconds(text: string | undefined): number | undefined {
  if (text === undefined) return undefined;
  const seconds = /^\d{1,5}$/.test(text) ? Number(text) : Number.NaN;
  if (!(seconds >= 1 && seconds <= MAX_IDENTIFY_SECONDS)) {
    throw new UsageError(
      `SECONDS must be an integer from 1 to ${MAX_IDENTIFY_SECONDS}, not ${JSON.stringify(text)}`,
    );
  }
  return seconds;
}

async function runCommand(command: CommandSpec, parsed: ParsedArguments, output: Output): Promise<number> {
  const json = parsed.flags.has("json");
  switch (command.name) {
    case "run":
      return await runAgent(process.env);
    case "apply-boot-config":
      return applyBootConfigCommand(output);
    case "version":
      output.out(AGENT_VERSION);
      return EXIT_OK;
    case "help": {
      if (parsed.argument === undefined) {
        output.out(USAGE);
        return EXIT_OK;
      }
      const described = findCommand(parsed.argument);
      if (described === undefined) throw new UsageError(`unknown command ${JSON.stringify(parsed.argument)}`);
      output.out(commandHelp(described));
      return EXIT_OK;
    }
    case "check":
      return await checkCommand(resolve(parsed).env, { json }, output);
    case "config":
      return configCommand(resolve(parsed), { json }, output);
    case "logs": {
      const [lines, since, instance] = ["lines", "since", "instance"].map((name) => parsed.values.get(name));
      return await logsCommand(
        {
          follow: parsed.flags.has("follow"),
          ...(lines === undefined ? {} : { lines }),
          ...(since === undefined ? {} : { since }),
          ...(instance === undefined ? {} : { instance }),
        },
        output,
      );
    }
  }
  const seconds = command.name === "identify" ? parseSeconds(parsed.argument) : undefined;
  const resolved = resolve(parsed);
  // Invalid settings are reported here, with where each value came from.
  const settings = settingsOrExit(resolved.env, output, resolved);
  if (typeof settings === "number") return settings;
  switch (command.name) {
    case "status":
      return await statusCommand(resolved.env, { json }, output);
    case "reset":
      return await resetCommand(resolved.env, { yes: parsed.flags.has("yes") }, output);
    case "identify":
      return await identifyCommand(resolved.env, seconds, output);
    case "pairing-id":
      return pairingIdCommand(resolved.env, output);
  }
  throw new Error(`command ${command.name} has no implementation`);
}

export async function main(argv: string[], output: Output = processOutput): Promise<number> {
  const [first, ...rest] = argv;
  let command: CommandSpec | undefined;
  try {
    if (first === undefined) throw new UsageError("no command given");
    if (first === "-h" || first === "--help") command = findCommand("help");
    else if (first === "-V" || first === "--version") command = findCommand("version");
    else command = findCommand(first);
    if (command === undefined) {
      throw new UsageError(
        first.startsWith("-")
          ? `unknown option ${JSON.stringify(first)}; options follow the command`
          : `unknown command ${JSON.stringify(first)}`,
      );
    }
    const parsed = parseArguments(command, rest);
    if (parsed.help) {
      output.out(commandHelp(command));
      return EXIT_OK;
    }
    return await runCommand(command, parsed, output);
  } catch (error) {
    if (error instanceof UsageError) {
      output.err(
        command === undefined
          ? `cw-agent: ${error.message}\nRun "cw-agent --help" for the commands.`
          : `cw-agent ${command.name}: ${error.message}\nRun "cw-agent ${command.name} --help" for its usage.`,
      );
      return EXIT_USAGE;
    }
    if (error instanceof EnvFileError) {
      output.err(`cw-agent: ${error.message}`);
      return EXIT_NOINPUT;
    }
    throw error;
  }
}
