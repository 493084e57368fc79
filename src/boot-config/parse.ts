import { isSecretName, settingNames } from "./settings.js";

/** One finding in cw-agent.txt; `line` is 1-based, absent for findings about the file as a whole. */
export interface BootConfigProblem {
  readonly line?: number;
  readonly message: string;
}

export interface BootConfigSetting {
  readonly name: string;
  /** "" means: remove the setting, the agent's default applies again. */
  readonly value: string;
  readonly line: number;
}

export interface ParsedBootConfig {
  readonly settings: readonly BootConfigSetting[];
  /** PEM certificates pasted into the file, in order. */
  readonly pastedCertificates: readonly string[];
  /** Line of the first pasted certificate, for error messages. */
  readonly pastedCertificateLine?: number;
  readonly reset: boolean;
  readonly problems: readonly BootConfigProblem[];
  /** The file's lines as read (BOM and line ends removed), for the copy left on the card. */
  readonly lines: readonly string[];
}

/** Keys of cw-agent.txt that are not environment settings. */
export const RESET_KEY = "RESET";

const BEGIN = "-----BEGIN CERTIFICATE-----";
const END = "-----END CERTIFICATE-----";
const KEY_PATTERN = /^[A-Za-z_][A-Za-z0-9_]*$/;
/**
 * The values are written to a systemd EnvironmentFile unquoted; none of the agent's settings needs
 * a space, quote, backslash or `$`, so refusing them keeps the file's meaning obvious.
 */
const VALUE_PATTERN = /^[\x21\x23\x25-\x26\x28-\x5b\x5d-\x7e]*$/;

/**
 * Reads cw-agent.txt as a technician may have saved it on any computer: UTF-8 with or without BOM,
 * LF, CRLF or CR line ends, `#`/`;` comments (also after a value, following a space), `KEY = value`
 * with spaces, quoted values, lower-case keys, and CA certificates pasted as PEM blocks.
 */
export function parseBootConfig(text: string): ParsedBootConfig {
  const lines = text.replace(/^\uFEFF/, "").split(/\r\n|\r|\n/);
  if (lines.length > 0 && lines[lines.length - 1] === "") lines.pop();
  const known = settingNames();
  const settings: BootConfigSetting[] = [];
  const firstLine = new Map<string, number>();
  const problems: BootConfigProblem[] = [];
  const pastedCertificates: string[] = [];
  let pastedCertificateLine: number | undefined;
  let reset = false;
  let pem: { start: number; body: string[] } | undefined;

  lines.forEach((raw, index) => {
    const number = index + 1;
    const line = raw.trim();
    if (pem !== undefined) {
      pem.body.push(line);
      if (line === END) {
        pastedCertificates.push(`${pem.body.join("\n")}\n`);
        pem = undefined;
      } else if (line.startsWith("-----")) {
        problems.push({
          line: number,
          message: `expected ${END} to close the certificate of line ${pem.start}`,
        });
        pem = undefined;
      }
      return;
    }
    if (line === "" || line.startsWith("#") || line.startsWith(";")) return;
    if (line === BEGIN) {
      pem = { start: number, body: [line] };
      pastedCertificateLine ??= number;
      return;
    }
    const equals = line.indexOf("=");
    if (equals < 0) {
      problems.push({
        line: number,
        message: `expected KEY=value, a # comment or a pasted certificate: ${quote(line)}`,
      });
      return;
    }
    const name = line
      .slice(0, equals)
      .trim()
      .replace(/^export\s+/, "")
      .toUpperCase();
    const value = unquote(
      line
        .slice(equals + 1)
        .replace(/\s[#;].*$/, "")
        .trim(),
    );
    if (!KEY_PATTERN.test(name)) {
      problems.push({ line: number, message: `${quote(name)} is not a setting name` });
      return;
    }
    const earlier = firstLine.get(name);
    if (earlier !== undefined) {
      problems.push({ line: number, message: `${name} is already set on line ${earlier}` });
      return;
    }
    firstLine.set(name, number);
    if (name === RESET_KEY) {
      const flag = value.toLowerCase();
      if (["yes", "true", "1", "on"].includes(flag)) reset = true;
      else if (!["no", "false", "0", "off", ""].includes(flag)) {
        problems.push({
          line: number,
          message: `${RESET_KEY}=${quote(value)} is invalid: expected yes or no`,
        });
      }
      return;
    }
    if (!known.has(name)) {
      problems.push({
        line: number,
        message: `unknown setting ${name}${isSecretName(name) ? "" : `=${quote(value)}`}; the settings are those of /etc/cw-agent/cw-agent.env`,
      });
      return;
    }
    if (!VALUE_PATTERN.test(value)) {
      problems.push({
        line: number,
        message: `${name}: the value must not contain spaces, quotes, backslashes, '$' or control characters`,
      });
      return;
    }
    settings.push({ name, value, line: number });
  });
  if (pem !== undefined) {
    problems.push({ line: pem.start, message: `the certificate starting here has no ${END} line` });
  }
  return {
    settings,
    pastedCertificates,
    ...(pastedCertificateLine === undefined ? {} : { pastedCertificateLine }),
    reset,
    problems,
    lines,
  };
}

function unquote(value: string): string {
  if (value.length >= 2 && (value[0] === '"' || value[0] === "'") && value.endsWith(value[0])) {
    return value.slice(1, -1);
  }
  return value;
}

function quote(text: string): string {
  return JSON.stringify(text.length > 80 ? `${text.slice(0, 77)}...` : text);
}

/** The file's text with the values of secret-named keys blanked, for the copy left on the card. */
export function redactedText(lines: readonly string[]): string {
  return `${lines
    .map((line) => {
      const match = /^(\s*(?:export\s+)?([A-Za-z_][A-Za-z0-9_]*)\s*=).*$/.exec(line);
      return match?.[1] && match[2] && isSecretName(match[2]) ? match[1] : line;
    })
    .join("\r\n")}\r\n`;
}
