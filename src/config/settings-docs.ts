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

/** `defaultText` of a setting the agent cannot start without. */
const REQUIRED = "(required)";

/**
 * What the unit cw-agent@.service sets itself (Environment=), shown as the default in an instance's
 * file. An assignment in the file, even an empty one, overrides it (EnvironmentFile= comes later).
 */
const INSTANCE_DEFAULTS: Readonly<Record<string, string>> = { CYBUS_AGENT_NAME: "%i" };

/**
 * The common secured setup: Connectware with its own CA, MQTT over TLS on 8883 and the client
 * registry over HTTPS. The host names are examples; the test loads these settings.
 */
export const SECURED_EXAMPLE: readonly (readonly [string, string])[] = [
  ["CYBUS_AGENT_NAME", "press-line-7"],
  ["CYBUS_MQTT_HOST", "connectware.plant.example"],
  ["CYBUS_MQTT_SCHEME", "mqtts"],
  ["CYBUS_MQTT_PORT", "8883"],
  ["CW_AGENT_REGISTRY_URL", "https://connectware.plant.example"],
  ["CW_AGENT_CA_FILE", "/etc/cw-agent/ca.pem"],
];

/**
 * Which file the template becomes: /etc/cw-agent/cw-agent.env of cw-agent.service, or (`instance`)
 * the file of one instance of cw-agent@.service, with `%i` standing for the instance name, which
 * install.sh --instance NAME puts in.
 */
export interface TemplateOptions {
  readonly instance?: boolean;
}

function templateHeader(instance: boolean): string {
  const unit = instance ? "cw-agent@%i.service" : "cw-agent.service";
  const service = instance ? "cw-agent@%i" : "cw-agent";
  const check = instance ? "sudo cw-agent check --instance %i" : "sudo cw-agent check";
  const written = instance
    ? "`install.sh --instance %i` writes this file once and never overwrites it"
    : "install.sh writes this file once and never overwrites it";
  const required = instance
    ? 'The setting under "Required" has no default: the agent does not start while it is empty. ' +
      "CYBUS_AGENT_NAME defaults to the instance name %i."
    : 'The two settings under "Required" have no default: the agent does not start while either is empty.';
  return [
    wrap(
      `cw-agent settings of ${unit}, read by systemd (EnvironmentFile=${instance ? " in cw-agent@.service" : ""}) ` +
        `before the agent starts. ${written}; it is owned root:cw-agent, mode 0640.`,
      "# ",
      TEMPLATE_WIDTH,
    ),
    "#",
    "# Syntax (systemd.exec(5), EnvironmentFile=): one VARIABLE=value per line, no `export`, no spaces",
    "# around `=`; lines starting with # are comments. Quote values that contain spaces.",
    "#",
    wrap(
      `${required} Every commented setting below shows its default; remove the # to change it. ` +
        "The end of this file has a complete example for TLS with Connectware's own CA. An invalid value " +
        "stops the agent with exit code 78 and a message naming each invalid variable; systemd does not " +
        "restart it until the file is fixed.",
      "# ",
      TEMPLATE_WIDTH,
    ),
    "#",
    `# Apply changes with: sudo systemctl restart ${service}`,
    `# Set the required ${instance ? "setting" : "settings"}, then run \`${check}\`.`,
    "#",
    "# Generated from src/config/settings.ts (npm run docs:settings); edit the table there.",
    "",
  ].join("\n");
}

function exampleSection(instance: boolean): string {
  const lines = SECURED_EXAMPLE.filter(([name]) => !(instance && name in INSTANCE_DEFAULTS));
  const check = instance ? "sudo cw-agent check --instance %i" : "sudo cw-agent check";
  return [
    `\n${rule()}\n# Example: the common secured setup\n${rule()}\n`,
    wrap(
      "The settings of a complete file for Connectware with its own CA, MQTT over TLS on port 8883 and the " +
        "client registry over HTTPS (the names are examples): set them in the lines above. First copy " +
        "Connectware's CA certificate to the gateway:",
      "# ",
      TEMPLATE_WIDTH,
    ),
    "#   sudo install -m 0640 -o root -g cw-agent ca.pem /etc/cw-agent/ca.pem",
    "#",
    ...lines.map(([name, value]) => `#   ${name}=${value}`),
    "",
    `# Then run \`${check}\`.`,
    "",
  ].join("\n");
}

function rule(): string {
  return `# ${"-".repeat(TEMPLATE_WIDTH - 2)}`;
}

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
  const title = "HTTP(S) proxy of the registry requests: standard variables, not cw-agent settings";
  // An example rather than a commented default: these lines are no settings (and so not accepted
  // in cw-agent.txt on a boot partition).
  const entries = PROXY_VARIABLES.map(
    ([help, example]) => `\n${wrap(help, "# ", TEMPLATE_WIDTH)}\n# Example: ${example}\n`,
  );
  return `\n${rule()}\n# ${title}\n${rule()}\n${entries.join("")}`;
}

/**
 * The environment-file template (systemd/cw-agent.env, and systemd/cw-agent@.env for instances):
 * the required settings assigned empty, every other setting commented out with its default and its
 * help, grouped; then a complete example of the common secured setup.
 */
export function renderEnvTemplate(
  settings: Readonly<Record<string, Setting<unknown>>>,
  options: TemplateOptions = {},
): string {
  const instance = options.instance === true;
  const parts = [templateHeader(instance)];

  let group: SettingGroup | undefined;
  for (const [name, setting] of Object.entries(settings)) {
    if (setting.group !== group) {
      if (group === "TLS") parts.push(proxySection());
      group = setting.group;
      parts.push(`\n${rule()}\n# ${GROUP_TITLES[group]}\n${rule()}\n`);
    }
    const instanceDefault = instance ? INSTANCE_DEFAULTS[name] : undefined;
    if (instanceDefault !== undefined) {
      const help = `${setting.help} Default: ${instanceDefault}, the instance name.`;
      parts.push(`\n${wrap(help, "# ", TEMPLATE_WIDTH)}\n#${name}=${instanceDefault}\n`);
    } else if (setting.defaultText === REQUIRED) {
      parts.push(`\n${wrap(`Required. ${setting.help}`, "# ", TEMPLATE_WIDTH)}\n${name}=\n`);
    } else {
      const value = setting.templateValue ?? setting.defaultText;
      const shown = setting.templateValue === undefined ? "" : defaultNote(setting);
      parts.push(`\n${wrap(`${setting.help}${shown}`, "# ", TEMPLATE_WIDTH)}\n#${name}=${value}\n`);
    }
  }
  if (group === "TLS") parts.push(proxySection());
  parts.push(exampleSection(instance));
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
  return setting.defaultText === REQUIRED || setting.defaultText === ""
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
