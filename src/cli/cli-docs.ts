/**
 * The man page cw-agent(8) and the bash completion, from the command table (commands.ts) and the
 * settings table. `npm run docs:man` writes them; a test fails when the committed files are stale.
 */
import type { Setting } from "../config/settings.js";
import {
  COMMANDS,
  type CommandSpec,
  DESCRIPTION,
  EXIT_STATUS,
  exitCodes,
  HELP_OPTION,
  type OptionSpec,
  optionsOf,
  SETTINGS_NOTE,
  SETTINGS_OPTIONS,
} from "./commands.js";

export const MAN_PAGE_PATH = "docs/man/cw-agent.8";
export const COMPLETION_PATH = "packaging/bash-completion/cw-agent";

const GENERATED =
  "Generated from src/cli/commands.ts and the settings table by `npm run docs:man`; edit those.";

const FILES: readonly (readonly [string, string])[] = [
  ["/etc/cw-agent/cw-agent.env", "The settings of cw-agent.service (systemd's EnvironmentFile=)."],
  ["/etc/cw-agent/cw-agent@NAME.env", "The settings of the template instance cw-agent@NAME.service."],
  [
    "/var/lib/cw-agent, /var/lib/cw-agent@NAME",
    "The state directory (systemd's StateDirectory=, mode 0700): the database cw-agent.db with the " +
      "credentials and the last recorded state.",
  ],
  [
    "/run/cw-agent/control.sock, /run/cw-agent@NAME/control.sock",
    "The control socket of the running agent (mode 0600), through which status, reset and identify " +
      "talk to it.",
  ],
];

const EXAMPLES: readonly (readonly [string, string])[] = [
  ["sudo cw-agent status", "The state of the agent, and the pairing ID to authorize while it waits."],
  ["sudo cw-agent check", "Find out why the agent does not come online."],
  ["sudo cw-agent config", "Every setting, its value and where the value came from."],
  ["sudo cw-agent status --instance line1", "The agent of cw-agent@line1.service."],
  [
    "cw-agent check --env-file ./test.env --json",
    "Check the settings of another file, as JSON; without root, as far as the files allow.",
  ],
];

const SEE_ALSO = ["systemctl(1)", "journalctl(1)", "systemd.exec(5)"];

// --- roff ----------------------------------------------------------------------------------------

/** Text for a roff text line: backslashes, hyphens and non-ASCII escaped, no control character first. */
function roff(text: string): string {
  const escaped = text
    .replace(/\\/g, "\\e")
    .replace(/-/g, "\\-")
    .replace(
      /[^\x20-\x7e]/gu,
      (char) => `\\[u${(char.codePointAt(0) ?? 0).toString(16).toUpperCase().padStart(4, "0")}]`,
    );
  return /^[.']/.test(escaped) ? `\\&${escaped}` : escaped;
}

const bold = (text: string) => `\\fB${roff(text)}\\fR`;
const italic = (text: string) => `\\fI${roff(text)}\\fR`;

function optionRoff(option: OptionSpec): string {
  return option.value === undefined
    ? bold(`--${option.name}`)
    : `${bold(`--${option.name}`)} ${italic(option.value)}`;
}

function synopsisRoff(command: CommandSpec): string {
  const parts = [bold(command.name)];
  for (const option of optionsOf(command)) {
    if (option !== HELP_OPTION) parts.push(`[${optionRoff(option)}]`);
  }
  if (command.argument) parts.push(`[${italic(command.argument.name)}]`);
  return parts.join(" ");
}

function commandRoff(command: CommandSpec): string[] {
  const lines = [".TP", synopsisRoff(command)];
  command.description.forEach((paragraph, index) => {
    if (index > 0) lines.push(".IP");
    lines.push(roff(paragraph));
  });
  const own: [string, string][] = command.options.map((option) => [optionRoff(option), roff(option.help)]);
  if (command.argument) own.unshift([italic(command.argument.name), roff(command.argument.help)]);
  if (own.length > 0) {
    lines.push(".RS");
    for (const [term, help] of own) lines.push(".TP", term, help);
    lines.push(".RE");
  }
  lines.push(".IP", `Exit status: ${roff(exitCodes(command))}.`);
  return lines;
}

/** cw-agent(8) in roff (man(7) macros). */
export function renderManPage(version: string, settings: Readonly<Record<string, Setting<unknown>>>): string {
  const lines = [
    `.\\" ${roff(GENERATED)}`,
    `.TH CW\\-AGENT 8 "" "cw\\-agent ${roff(version)}" "System Administration"`,
    ".SH NAME",
    "cw\\-agent \\- edge agent pairing a gateway with Cybus Connectware",
    ".SH SYNOPSIS",
    `${bold("cw-agent")} ${italic("command")} [${italic("options")}]`,
    ".br",
    `${bold("cw-agent")} ${italic("command")} ${bold("--help")}`,
    ".br",
    `${bold("cw-agent")} ${bold("--help")} | ${bold("-V")}`,
    ".SH DESCRIPTION",
    roff(DESCRIPTION),
    ".PP",
    roff(SETTINGS_NOTE),
    ".PP",
    roff("No command prints a password or the value of another secret setting."),
    ".SH COMMANDS",
    ...COMMANDS.flatMap(commandRoff),
    ".SH OPTIONS",
    roff(
      `Every command takes -h and --help. ${COMMANDS.filter((command) => command.readsSettings)
        .map((command) => command.name)
        .join(", ")} also take:`,
    ),
    ...SETTINGS_OPTIONS.flatMap((option) => [".TP", optionRoff(option), roff(option.help)]),
    ".TP",
    `${bold("-h")}, ${bold("--help")}`,
    roff("Print the help of the command, or without a command the list of commands."),
    ".TP",
    `${bold("-V")}, ${bold("--version")}`,
    roff("Print the version."),
    ".SH ENVIRONMENT",
    roff(
      "The settings of the agent and of the commands. Under systemd they come from the environment file " +
        "of the unit; an invalid value stops the agent with exit status 78. Every one of them, with its " +
        "value and origin: cw-agent config.",
    ),
    ...Object.entries(settings).flatMap(([name, setting]) => [
      ".TP",
      bold(name),
      roff(
        setting.defaultText === "" || setting.defaultText === "(required)"
          ? `${setting.help}${setting.defaultText === "(required)" ? " Required." : ""}`
          : `${setting.help} Default: ${setting.defaultText}.`,
      ),
    ]),
    ".SH FILES",
    ...FILES.flatMap(([path, help]) => [".TP", bold(path), roff(help)]),
    ".SH EXIT STATUS",
    ...EXIT_STATUS.flatMap(([code, help]) => [".TP", bold(String(code)), roff(help)]),
    ".SH EXAMPLES",
    ...EXAMPLES.flatMap(([command, help]) => [".TP", bold(command), roff(help)]),
    ".SH SEE ALSO",
    SEE_ALSO.map((page) => {
      const [name, section] = page.split("(");
      return `${bold(name ?? page)}(${section}`;
    }).join(", "),
  ];
  return `${lines.join("\n")}\n`;
}

// --- bash completion ------------------------------------------------------------------------------

// The completion is bash, whose parameter expansions look like template placeholders.
// biome-ignore-start lint/suspicious/noTemplateCurlyInString: bash syntax, not a template

/** The bash completion of cw-agent: commands, their options, instance names and files as values. */
export function renderBashCompletion(): string {
  const topLevel = [...COMMANDS.map((command) => command.name), "-h", "--help", "-V", "--version"];
  const valueOptions = [
    ...new Map(COMMANDS.flatMap(optionsOf).map((option) => [option.name, option])).values(),
  ].filter((option) => option.value !== undefined);
  const byKind = (kind: OptionSpec["complete"]) =>
    valueOptions.filter((option) => option.complete === kind).map((option) => `--${option.name}`);
  const valueCases = [
    ...(byKind("file").length > 0
      ? [
          `    ${byKind("file").join(" | ")})`,
          "      compopt -o filenames 2>/dev/null",
          '      mapfile -t COMPREPLY < <(compgen -f -- "$cur")',
          "      return",
          "      ;;",
        ]
      : []),
    ...(byKind("instance").length > 0
      ? [
          `    ${byKind("instance").join(" | ")})`,
          '      mapfile -t COMPREPLY < <(compgen -W "$(_cw_agent_instances)" -- "$cur")',
          "      return",
          "      ;;",
        ]
      : []),
  ];
  const otherValues = valueOptions
    .filter((option) => option.complete === undefined)
    .map((option) => `--${option.name}`);
  if (otherValues.length > 0) valueCases.push(`    ${otherValues.join(" | ")})`, "      return", "      ;;");
  const commandCases = COMMANDS.flatMap((command) => {
    const options = optionsOf(command).map((option) => `--${option.name}`);
    const lines = [`    ${command.name})`, `      words="${options.join(" ")}"`];
    if (command.argument?.complete === "command") {
      lines.push(`      ((COMP_CWORD == 2)) && words="${COMMANDS.map((other) => other.name).join(" ")}"`);
    }
    lines.push("      ;;");
    return lines;
  });
  return `${[
    "# bash completion for cw-agent(8)",
    `# ${GENERATED}`,
    "",
    "# The instances that have a settings file: cw-agent@NAME.env.",
    "_cw_agent_instances() {",
    "  local file",
    "  for file in /etc/cw-agent/cw-agent@*.env; do",
    "    [[ -e $file ]] || continue",
    "    file=${file##*/cw-agent@}",
    "    printf '%s\\n' \"${file%.env}\"",
    "  done",
    "}",
    "",
    "_cw_agent() {",
    '  local cur=${COMP_WORDS[COMP_CWORD]} prev=${COMP_WORDS[COMP_CWORD - 1]} option words=""',
    "  COMPREPLY=()",
    "  if ((COMP_CWORD == 1)); then",
    `    mapfile -t COMPREPLY < <(compgen -W "${topLevel.join(" ")}" -- "$cur")`,
    "    return",
    "  fi",
    '  # bash splits "--option=value" at the "=".',
    "  option=$prev",
    '  if [[ $cur == "=" ]]; then',
    '    cur=""',
    '  elif [[ $prev == "=" ]]; then',
    "    option=${COMP_WORDS[COMP_CWORD - 2]}",
    "  fi",
    "  case $option in",
    ...valueCases,
    "  esac",
    "  case ${COMP_WORDS[1]} in",
    ...commandCases,
    "  esac",
    '  mapfile -t COMPREPLY < <(compgen -W "$words" -- "$cur")',
    "}",
    "",
    "complete -F _cw_agent cw-agent",
  ].join("\n")}\n`;
}

// biome-ignore-end lint/suspicious/noTemplateCurlyInString: bash syntax, not a template
