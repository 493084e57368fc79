import type { Setting, SettingGroup } from "./settings.js";

/** The README's configuration table sits between these two lines. */
export const README_TABLE_BEGIN =
  "<!-- settings table: generated from src/config/settings.ts by `npm run docs:settings` -->";
export const README_TABLE_END = "<!-- end of settings table -->";

const TEMPLATE_WIDTH = 100;

const GROUP_TITLES: Record<SettingGroup, string> = {
  Required: "Required",
  Connectware: "Connectware",
  TLS: "TLS",
  Agent: "Agent",
  Timing: "Timing (milliseconds unless the name ends in _S)",
  Indicators: "Indicators: status LEDs and display (see docs/indicators.md for wiring and permissions)",
};

const TEMPLATE_HEADER = `# cw-agent settings, read by systemd (EnvironmentFile= in cw-agent.service) before the agent starts.
# install.sh writes this file once and never overwrites it; it is owned root:cw-agent, mode 0640.
# Apply changes with: sudo systemctl restart cw-agent   (or cw-agent@NAME for a template instance)
#
# Syntax (systemd.exec(5), EnvironmentFile=): one VARIABLE=value per line, no \`export\`, no spaces
# around \`=\`; lines starting with # are comments. Quote values that contain spaces.
# Every commented line shows the default. An invalid value stops the agent with exit code 78 and a
# message naming each invalid variable; systemd does not restart it until the file is fixed.
#
# Generated from src/config/settings.ts (npm run docs:settings); edit the table there.
`;

/**
 * The proxy variables are not settings of the agent but the standard ones other tools read too
 * (src/config/proxy.ts); the template explains them after the TLS settings.
 */
const PROXY_VARIABLES: readonly [help: string, example: string][] = [
  [
    "The proxy the registry requests go through, as a CONNECT tunnel: https_proxy or HTTPS_PROXY for an https:// registry, http_proxy or HTTP_PROXY for an http:// one, else all_proxy or ALL_PROXY; the lowercase name wins, as with curl. http://HOST:PORT, or http://USER:PASSWORD@HOST:PORT for a proxy that wants a login (percent-encode special characters); the agent never logs them. An https:// proxy needs a certificate the system trusts. MQTT never goes through a proxy.",
    "HTTPS_PROXY=http://proxy.plant.example:3128",
  ],
  [
    "Hosts reached without the proxy, separated by commas: a name (which also matches its subdomains, with or without a leading '.'), an IP address, a CIDR range such as 10.0.0.0/8, NAME:PORT for that port only, or * for every host. `cw-agent check` shows which proxy the registry requests take.",
    "NO_PROXY=localhost,127.0.0.1,.plant.example",
  ],
];

function proxySection(): string {
  const rule = `# ${"-".repeat(TEMPLATE_WIDTH - 2)}`;
  const title = "HTTP(S) proxy of the registry requests: standard variables, not cw-agent settings";
  // An example rather than a commented default: these lines are no settings (and so not accepted
  // in cw-agent.txt on a boot partition).
  const entries = PROXY_VARIABLES.map(
    ([help, example]) => `\n${wrap(help, "# ", TEMPLATE_WIDTH)}\n# Example: ${example}\n`,
  );
  return `\n${rule}\n# ${title}\n${rule}\n${entries.join("")}`;
}

/** The environment-file template (systemd/cw-agent.env): every setting, grouped, with its help. */
export function renderEnvTemplate(settings: Readonly<Record<string, Setting<unknown>>>): string {
  const parts = [TEMPLATE_HEADER];
  let group: SettingGroup | undefined;
  for (const [name, setting] of Object.entries(settings)) {
    if (setting.group !== group) {
      if (group === "TLS") parts.push(proxySection());
      group = setting.group;
      const rule = `# ${"-".repeat(TEMPLATE_WIDTH - 2)}`;
      parts.push(`\n${rule}\n# ${GROUP_TITLES[group]}\n${rule}\n`);
    }
    const value = setting.templateValue ?? setting.defaultText;
    const shown = setting.templateValue === undefined ? "" : defaultNote(setting);
    parts.push(`\n${wrap(`${setting.help}${shown}`, "# ", TEMPLATE_WIDTH)}\n#${name}=${value}\n`);
  }
  if (group === "TLS") parts.push(proxySection());
  return parts.join("");
}

/** The README's configuration table: the settings not documented with their subsystem. */
export function renderReadmeTable(settings: Readonly<Record<string, Setting<unknown>>>): string {
  const rows = Object.entries(settings)
    .filter(([, setting]) => !setting.readmeHidden)
    .map(
      ([name, setting]) => `| \`${name}\` | ${markdown(setting.defaultText)} | ${markdown(setting.help)} |`,
    );
  return ["| Variable | Default | Meaning |", "| --- | --- | --- |", ...rows].join("\n");
}

/** Replaces the generated table between the markers in the README text. */
export function withReadmeTable(readme: string, table: string): string {
  const begin = readme.indexOf(README_TABLE_BEGIN);
  const end = readme.indexOf(README_TABLE_END);
  if (begin < 0 || end < begin) throw new Error("README.md has no settings table markers");
  return `${readme.slice(0, begin + README_TABLE_BEGIN.length)}\n${table}\n${readme.slice(end)}`;
}

function defaultNote(setting: Setting<unknown>): string {
  return setting.defaultText === "(required)" || setting.defaultText === ""
    ? ""
    : ` Default: ${setting.defaultText}.`;
}

function markdown(text: string): string {
  return text.replace(/\|/g, "\\|").replace(/</g, "&lt;").replace(/>/g, "&gt;");
}

function wrap(text: string, prefix: string, width: number): string {
  const lines: string[] = [];
  let line = "";
  for (const word of text.split(/\s+/)) {
    if (line !== "" && prefix.length + line.length + 1 + word.length > width) {
      lines.push(prefix + line);
      line = word;
    } else {
      line = line === "" ? word : `${line} ${word}`;
    }
  }
  if (line !== "") lines.push(prefix + line);
  return lines.join("\n");
}
