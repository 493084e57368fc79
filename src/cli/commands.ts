/**
 * The one description of the command line: every command with its arguments, options and help.
 * `cw-agent --help`, `cw-agent COMMAND --help`, the argument parser, the man page cw-agent(8) and the
 * bash completion (`npm run docs:man`) all come from this table.
 */
import { MAX_IDENTIFY_SECONDS } from "../control/index.js";

export interface OptionSpec {
  /** Without the dashes: "json". */
  readonly name: string;
  /** The placeholder of its value ("FILE"); options without one are flags. */
  readonly value?: string;
  readonly help: string;
  /** What the bash completion offers for the value. */
  readonly complete?: "file" | "instance";
  /** A one-letter alias without the dash: "f" for -f. */
  readonly short?: string;
}

export interface CommandSpec {
  readonly name: string;
  /** One line in the command list. */
  readonly summary: string;
  /** Its optional argument, e.g. SECONDS of identify. */
  readonly argument?: { readonly name: string; readonly help: string; readonly complete?: "command" };
  /** Options of this command beyond --instance and --env-file. */
  readonly options: readonly OptionSpec[];
  /** Whether it reads the agent's settings, and so takes --instance and --env-file. */
  readonly readsSettings: boolean;
  /** What it does, for COMMAND --help and the man page: paragraphs of plain text. */
  readonly description: readonly string[];
  /** Its own exit codes; those of bad usage and of the settings are added (`exitCodes`). */
  readonly exitStatus: string;
}

/** The options of every command that reads the agent's settings. */
export const SETTINGS_OPTIONS: readonly OptionSpec[] = [
  {
    name: "instance",
    value: "NAME",
    help:
      "The agent of the template unit cw-agent@NAME: its settings file /etc/cw-agent/cw-agent@NAME.env, " +
      "its state directory /var/lib/cw-agent@NAME and its socket in /run/cw-agent@NAME, as systemd sets " +
      "them for the service. NAME follows the rule of agent names.",
    complete: "instance",
  },
  {
    name: "env-file",
    value: "FILE",
    help:
      "Read the settings from FILE (KEY=VALUE lines, as the service's EnvironmentFile=) on top of the " +
      "environment, instead of the service's /etc/cw-agent/cw-agent.env (read when the environment has " +
      "no CYBUS_AGENT_NAME) or the instance's file.",
    complete: "file",
  },
];

export const HELP_OPTION: OptionSpec = { name: "help", help: "Print the help of the command and exit." };

const JSON_OPTION = (what: string): OptionSpec => ({
  name: "json",
  help: `Print ${what} as one JSON object.`,
});

export const COMMANDS: readonly CommandSpec[] = [
  {
    name: "run",
    summary: "start the agent (what the systemd unit runs)",
    options: [],
    readsSettings: false,
    description: [
      "Runs the agent in the foreground with the settings of its environment, as cw-agent.service and " +
        "cw-agent@NAME.service do: it registers with Connectware's client registry, waits for the " +
        "administrator to authorize its pairing ID, then stays connected over MQTT. SIGTERM or SIGINT " +
        "stops it within 5 s, after it published offline. Leave it to systemd: the state directory " +
        "belongs to the service's user.",
    ],
    exitStatus:
      "0 stopped by SIGTERM or SIGINT; 1 failure; 65 the database was written by a newer cw-agent; " +
      "73 the state directory is unusable or belongs to another user; 75 the state directory is in use " +
      "by another agent, or a restart command came over MQTT; 78 invalid configuration (systemd restarts the agent on none of 65, 73 and 78)",
  },
  {
    name: "status",
    summary: "state, pairing ID, broker, uptime and last error of the agent",
    options: [JSON_OPTION("the status")],
    readsSettings: true,
    description: [
      "Shows the agent's state, the pairing ID while it waits for authorization, the broker, the " +
        "registry, its uptime and the last error it reported. The running agent answers on its control " +
        "socket; when none answers, the state comes from the agent's database (what it recorded at its " +
        "last change of state). It never prints a password.",
    ],
    exitStatus: "0 the agent is running; 3 it is not running (the LSB code systemctl status uses); 1 failed",
  },
  {
    name: "check",
    summary: "diagnose configuration, storage, clock, network, TLS, MQTT login, LEDs, display",
    options: [JSON_OPTION("the results")],
    readsSettings: true,
    description: [
      "Runs named checks, each ok, warning, failed or skipped, with a hint: the settings, the state " +
        "directory, the database and credentials, the clock, DNS, TCP and TLS to the registry and the " +
        "broker, an MQTT login with the stored credentials, the LEDs and the display. Every network, " +
        "process and bus operation is bounded by 5 s. It works whether the agent runs or not.",
    ],
    exitStatus: "0 no check failed (warnings do not fail); 1 a check failed",
  },
  {
    name: "config",
    summary: "the effective settings and where each one came from",
    options: [JSON_OPTION("the settings")],
    readsSettings: true,
    description: [
      "Prints every setting the agent reads with the value it would use and where that value came " +
        "from: default, file PATH, environment, or unit cw-agent@NAME (set by the template unit " +
        "itself). Secrets are never printed. Invalid settings are listed with what is allowed.",
    ],
    exitStatus: "0 every setting is valid",
  },
  {
    name: "reset",
    summary: "discard the credentials; the agent registers anew",
    options: [
      {
        name: "yes",
        help: "Do not ask for confirmation. Without it, and without a terminal to ask on, reset refuses (exit 64).",
      },
    ],
    readsSettings: true,
    description: [
      "Discards the stored credentials. A running agent discards them itself, through its control " +
        "socket, and registers anew at once; for a stopped agent the command takes the state-directory " +
        "lock and deletes them, and the agent registers anew when it starts. Connectware still has the " +
        "user with the old password: delete it there (User Management > Users) and authorize the new " +
        "pairing ID.",
    ],
    exitStatus: "0 discarded, or nothing to discard; 1 declined at the prompt, or failed",
  },
  {
    name: "identify",
    summary: "blink the status LED and show IDENTIFY on the display of the running agent",
    argument: {
      name: "SECONDS",
      help: `How long: 1 to ${MAX_IDENTIFY_SECONDS}; default CW_AGENT_LED_IDENTIFY_S (30).`,
    },
    options: [],
    readsSettings: true,
    description: [
      "Makes the running agent fast-blink its status LED and show IDENTIFY with its name on its display " +
        "(real or virtual) for SECONDS, to find the gateway in a cabinet.",
    ],
    exitStatus:
      "0 the agent shows itself; 1 no agent is running, it refused, or it has neither a status LED nor a display",
  },
  {
    name: "logs",
    summary: "the agent's journal as readable lines (journalctl -u cw-agent)",
    options: [
      { name: "follow", short: "f", help: "Keep printing new lines until Ctrl-C." },
      { name: "lines", short: "n", value: "N", help: 'Only the last N lines, or "all" (journalctl -n).' },
      {
        name: "since",
        value: "TIME",
        help: 'Lines since TIME, e.g. "1 hour ago" or "2026-11-25 08:00" (journalctl --since).',
      },
      {
        name: "instance",
        value: "NAME",
        help: "The journal of the template unit cw-agent@NAME instead of cw-agent.",
        complete: "instance",
      },
    ],
    readsSettings: false,
    description: [
      "Prints the journal of cw-agent.service (journalctl -u cw-agent -o cat) through the formatter " +
        "cw-agent run uses on a terminal: time, level, component and message on one line, coloured on a " +
        "terminal unless NO_COLOR is set. Lines that are not the agent's JSON, such as a crash trace, pass " +
        "unchanged. Reading the journal needs root or the systemd-journal or adm group.",
    ],
    exitStatus: "0 printed, or stopped by Ctrl-C or a closed pipe; otherwise journalctl's exit code",
  },
  {
    name: "pairing-id",
    summary: "print the pairing ID waiting for authorization in Connectware",
    options: [],
    readsSettings: true,
    description: [
      "Prints the pairing ID of the stored pending credentials, alone on standard output, to read it to " +
        "the administrator who authorizes it in Connectware. It reads the database, so it works whether " +
        "the agent runs or not.",
    ],
    exitStatus: "0 printed; 1 the credentials are granted, or there are none",
  },
  {
    name: "apply-boot-config",
    summary: "apply cw-agent.txt from the boot partition (run by cw-agent-boot-config.service)",
    options: [],
    readsSettings: false,
    description: [
      "Applies cw-agent.txt from the boot partition to /etc/cw-agent/cw-agent.env, as root, before the " +
        "agent starts; an invalid file is left on the partition with cw-agent.txt.errors next to it.",
    ],
    exitStatus: "0 nothing to apply, or applied; 1 the file was invalid",
  },
  {
    name: "version",
    summary: "print the version (also -V, --version)",
    options: [],
    readsSettings: false,
    description: ["Prints the version of cw-agent."],
    exitStatus: "0",
  },
  {
    name: "help",
    summary: "print this help, or the help of COMMAND (also COMMAND --help)",
    argument: { name: "COMMAND", help: "The command to describe.", complete: "command" },
    options: [],
    readsSettings: false,
    description: ["Prints the list of commands, or the help of COMMAND."],
    exitStatus: "0",
  },
];

/** The exit codes of every command; sysexits.h codes where one fits. */
export const EXIT_STATUS: readonly (readonly [number, string])[] = [
  [0, "Done; status: the agent is running; check: no check failed."],
  [
    1,
    "Failed: a check failed, the agent refused, the database or socket could not be read, identify " +
      "without a running agent, pairing-id without a pending pairing ID, or a declined confirmation.",
  ],
  [3, "status: the agent is not running."],
  [64, "Bad usage: unknown command or option, a missing or surplus argument, an invalid value."],
  [65, "run: the database was written by a newer cw-agent."],
  [66, "A settings file (--env-file, the service's or the instance's) does not exist or cannot be read."],
  [73, "run: the state directory is unusable or belongs to another user."],
  [75, "run: the state directory is in use by another agent, or a restart command came over MQTT."],
  [78, "Invalid configuration: the message names each invalid setting and where its value came from."],
];

export const DESCRIPTION =
  "cw-agent connects an industrial gateway to Cybus Connectware: it registers with Connectware's " +
  "client registry, shows a pairing ID for the administrator to compare and, once authorized, stays " +
  "connected over MQTT. It runs as the systemd service cw-agent.service (or cw-agent@NAME.service for " +
  "one of several agents), and its commands show and act on that agent.";

export const SETTINGS_NOTE =
  "The commands read the same settings as the service: the environment, and the service's file " +
  "/etc/cw-agent/cw-agent.env when the environment has no CYBUS_AGENT_NAME. The state directory " +
  "is private to the agent's user: run the commands as root or as that user.";

export function findCommand(name: string): CommandSpec | undefined {
  return COMMANDS.find((command) => command.name === name);
}

/** Every option a command takes, --help last. */
export function optionsOf(command: CommandSpec): readonly OptionSpec[] {
  return [...command.options, ...(command.readsSettings ? SETTINGS_OPTIONS : []), HELP_OPTION];
}

function optionSynopsis(option: OptionSpec): string {
  const long = option.value === undefined ? `--${option.name}` : `--${option.name} ${option.value}`;
  return option.short === undefined ? long : `-${option.short}, ${long}`;
}

/** "status [--json] [--instance NAME] [--env-file FILE]". */
export function synopsis(command: CommandSpec): string {
  const parts = [command.name];
  for (const option of optionsOf(command)) {
    if (option !== HELP_OPTION) parts.push(`[${optionSynopsis(option)}]`);
  }
  if (command.argument) parts.push(`[${command.argument.name}]`);
  return parts.join(" ");
}

const WIDTH = 100;

/** Words filled into lines of at most `width` characters, each after `indent`. */
export function fill(text: string, indent: string, width = WIDTH): string[] {
  const lines: string[] = [];
  let line = "";
  for (const word of text.split(/[ \t\n]+/).filter(Boolean)) {
    if (line !== "" && indent.length + line.length + 1 + word.length > width) {
      lines.push(indent + line);
      line = word;
    } else {
      line = line === "" ? word : `${line} ${word}`;
    }
  }
  if (line !== "") lines.push(indent + line);
  return lines.map((filled) => filled.replaceAll(NO_BREAK, " "));
}

/** Joins an exit code to its first word, so that a line never ends between them. */
const NO_BREAK = "\u00a0";
const keepCodesTogether = (text: string) => text.replace(/(^|: |; )(\d+) /g, `$1$2${NO_BREAK}`);

/** Two columns: terms padded to the longest (at most `max`), help filled beside them. */
function columns(rows: readonly (readonly [string, string])[], max = 22): string[] {
  const width = Math.min(max, Math.max(...rows.map(([term]) => term.length)));
  const indent = " ".repeat(2 + width + 2);
  const lines: string[] = [];
  for (const [term, help] of rows) {
    const filled = fill(help, indent);
    if (term.length <= width) {
      lines.push(`  ${term.padEnd(width)}  ${(filled[0] ?? "").trimStart()}`, ...filled.slice(1));
    } else {
      lines.push(`  ${term}`, ...filled);
    }
  }
  return lines;
}

/** `cw-agent --help`. */
export function usage(): string {
  const commandRows = COMMANDS.map((command): [string, string] => {
    const own = command.options.map((option) => `[${optionSynopsis(option)}]`);
    const argument = command.argument ? [`[${command.argument.name}]`] : [];
    return [[command.name, ...own, ...argument].join(" "), command.summary];
  });
  const readers = COMMANDS.filter((command) => command.readsSettings).map((command) => command.name);
  return [
    "Usage: cw-agent <command> [options]",
    "",
    "Commands:",
    ...columns(commandRows),
    "",
    `Options of ${readers.slice(0, -1).join(", ")} and ${readers.at(-1)}:`,
    ...columns(SETTINGS_OPTIONS.map((option) => [optionSynopsis(option), option.help])),
    "",
    ...fill(
      `${SETTINGS_NOTE} Run "cw-agent COMMAND --help" for a command's options, and see cw-agent(8).`,
      "",
    ),
    "",
    ...fill(`Exit codes: ${exitCodesInBrief()}.`, ""),
  ].join("\n");
}

function exitCodesInBrief(): string {
  return "0 ok, 1 failed, 3 agent not running (status), 64 bad usage, 66 settings file unreadable, 78 invalid configuration";
}

/** The exit codes of one command, its own and the common ones. */
export function exitCodes(command: CommandSpec): string {
  const common = command.readsSettings
    ? "64 bad usage; 66 a settings file cannot be read; 78 invalid configuration"
    : "64 bad usage";
  return `${command.exitStatus}; ${common}`;
}

/** `cw-agent COMMAND --help`. */
export function commandHelp(command: CommandSpec): string {
  const rows = optionsOf(command).map((option): [string, string] => [
    option === HELP_OPTION ? "-h, --help" : optionSynopsis(option),
    option.help,
  ]);
  if (command.argument) rows.unshift([command.argument.name, command.argument.help]);
  return [
    `Usage: cw-agent ${synopsis(command)}`,
    "",
    ...command.description.flatMap((paragraph, index) => [
      ...(index > 0 ? [""] : []),
      ...fill(paragraph, ""),
    ]),
    "",
    command.argument ? "Argument and options:" : "Options:",
    ...columns(rows),
    ...(command.readsSettings ? ["", ...fill(SETTINGS_NOTE, "")] : []),
    "",
    ...fill(keepCodesTogether(`Exit codes: ${exitCodes(command)}.`), ""),
  ].join("\n");
}
