import { type CommandSpec, optionsOf } from "./commands.js";

/** A usage problem the command line can fix; main prints it in one line with a pointer to --help. */
export class UsageError extends Error {}

/**
 * The prefix the launcher (bin/cw-agent) puts before every argument that Node.js would otherwise
 * take for its own --env-file option, and before every argument that already starts with it.
 */
export const ESCAPE_PREFIX = "--cw-agent-arg=";

/** The arguments as the operator typed them: the launcher's prefix taken off once. */
export function unescapeArguments(args: readonly string[]): string[] {
  return args.map((arg) => (arg.startsWith(ESCAPE_PREFIX) ? arg.slice(ESCAPE_PREFIX.length) : arg));
}

/** The arguments of one command, parsed by its entry in the command table. */
export interface ParsedArguments {
  /** -h or --help was given: print the command's help, whatever else is there. */
  readonly help: boolean;
  readonly flags: ReadonlySet<string>;
  /** Values of the options that take one, by option name. */
  readonly values: ReadonlyMap<string, string>;
  readonly argument?: string;
}

/**
 * Parses a command's arguments: `--name`, `--name VALUE`, `--name=VALUE`, `-x [VALUE]`, `-h`, and after `--` only
 * arguments. Throws UsageError for an unknown option, a missing or surplus value, an option given
 * twice and a surplus argument; the messages read alike for every command.
 */
export function parseArguments(command: CommandSpec, args: readonly string[]): ParsedArguments {
  const options = new Map(optionsOf(command).map((option) => [option.name, option]));
  const shortNames = new Map(
    optionsOf(command).flatMap((option) =>
      option.short === undefined ? [] : [[`-${option.short}`, option.name]],
    ),
  );
  const before = args.indexOf("--");
  if ((before < 0 ? args : args.slice(0, before)).some((arg) => arg === "-h" || arg === "--help")) {
    return { help: true, flags: new Set(), values: new Map() };
  }
  const flags = new Set<string>();
  const values = new Map<string, string>();
  const positionals: string[] = [];
  for (let index = 0; index < args.length; index++) {
    const arg = args[index] as string;
    if (arg === "--") {
      positionals.push(...args.slice(index + 1));
      break;
    }
    if (!arg.startsWith("-") || arg === "-") {
      positionals.push(arg);
      continue;
    }
    const equals = arg.startsWith("--") ? arg.indexOf("=") : -1;
    const name = arg.startsWith("--") ? arg.slice(2, equals < 0 ? undefined : equals) : shortNames.get(arg);
    const option = name === undefined ? undefined : options.get(name);
    if (option === undefined || name === undefined)
      throw new UsageError(`unknown option ${JSON.stringify(arg)}`);
    if (flags.has(name) || values.has(name)) throw new UsageError(`--${name} given twice`);
    if (option.value === undefined) {
      if (equals >= 0) throw new UsageError(`--${name} takes no value`);
      flags.add(name);
      continue;
    }
    let value: string | undefined;
    if (equals >= 0) {
      value = arg.slice(equals + 1);
    } else {
      const next = args[index + 1];
      if (next !== undefined && !(next.startsWith("-") && next !== "-")) {
        value = next;
        index++;
      }
    }
    if (value === undefined || value === "")
      throw new UsageError(`--${name} needs a value (${option.value})`);
    values.set(name, value);
  }
  const allowed = command.argument === undefined ? 0 : 1;
  if (positionals.length > allowed) {
    throw new UsageError(
      allowed === 0
        ? `unexpected argument ${JSON.stringify(positionals[0])}: ${command.name} takes none`
        : `unexpected argument ${JSON.stringify(positionals[allowed])}: ${command.name} takes one ${command.argument?.name}`,
    );
  }
  const argument = positionals[0];
  return { help: false, flags, values, ...(argument === undefined ? {} : { argument }) };
}
