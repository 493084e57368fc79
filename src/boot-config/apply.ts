import { createHash } from "node:crypto";
import {
  closeSync,
  existsSync,
  fchmodSync,
  fchownSync,
  fsyncSync,
  openSync,
  readFileSync,
  renameSync,
  rmSync,
  statSync,
  writeSync,
} from "node:fs";
import { basename, dirname, isAbsolute, join } from "node:path";
import type { ConfigError } from "../config/config-error.js";
import { loadIndicatorConfig } from "../indicators/config.js";
import { type BootConfigProblem, parseBootConfig, redactedText } from "./parse.js";
import { BOOT_CONFIG_ETC_DIR, REJECTED_BOOT_CONFIG_FILE } from "./rejected.js";
import { configErrors } from "./settings.js";

export const BOOT_CONFIG_FILE = "cw-agent.txt";
/** Raspberry Pi OS Bookworm and later mount the FAT partition here; older layouts at /boot. */
export const BOOT_DIRS: readonly string[] = ["/boot/firmware", "/boot"];
const CA_FILE_NAME = "ca.pem";
const ENV_FILE_NAME = "cw-agent.env";
/** Hash of the last file applied, so a power cut between applying and renaming never resets twice. */
const LAST_APPLIED_FILE = "boot-config.applied";
const SECTION_HEADER =
  "# Settings from cw-agent.txt on the boot partition (applied at boot, see docs/flash-and-go.md):";
/** Models that talk over /dev/i2c-N; the virtual ones draw on a terminal. */
const I2C_DISPLAY_MODELS = new Set(["auto", "ssd1306", "sh1106", "hd44780"]);

export interface ApplyBootConfigOptions {
  readonly bootDirs?: readonly string[];
  /** /etc/cw-agent. */
  readonly etcDir?: string;
  /** /etc/modules-load.d: i2c-dev is listed there when a display is configured. */
  readonly modulesLoadDir?: string;
  /** Group that must read the CA file (the service's group); undefined leaves the files root-only. */
  readonly groupId?: number | undefined;
  /** Discards the stored credentials (RESET=yes); gets the applied environment file. */
  readonly resetCredentials?: (envFile: string) => void;
  /** Loads a kernel module now (the file in modules-load.d covers the next boots). */
  readonly loadModule?: (name: string) => void;
  readonly log?: (level: "info" | "warning" | "error", message: string) => void;
}

export type ApplyOutcome =
  | { readonly result: "absent" }
  | {
      readonly result: "applied";
      readonly file: string;
      readonly changed: readonly string[];
      readonly reset: boolean;
    }
  | { readonly result: "invalid"; readonly file: string; readonly problems: readonly string[] };

/**
 * Applies cw-agent.txt from the boot partition: validates it with the agent's own settings
 * readers, merges it into /etc/cw-agent/cw-agent.env (atomically, 0640), installs its CA and leaves
 * the file on the card as cw-agent.txt.applied (secrets blanked). An invalid file becomes
 * cw-agent.txt.invalid with the reasons in cw-agent.txt.errors, and nothing in /etc changes.
 */
export function applyBootConfig(options: ApplyBootConfigOptions = {}): ApplyOutcome {
  const etcDir = options.etcDir ?? BOOT_CONFIG_ETC_DIR;
  const log = options.log ?? (() => {});
  const source = findBootConfig(options.bootDirs ?? BOOT_DIRS);
  if (source === undefined) return { result: "absent" };
  const bootDir = dirname(source);
  const raw = readFileSync(source);
  const digest = createHash("sha256").update(raw).digest("hex");
  const parsed = parseBootConfig(raw.toString("utf8"));
  const problems: BootConfigProblem[] = [...parsed.problems];

  // The CA: pasted into the file, or a file name next to it on the card, or a path on the device.
  const envFile = join(etcDir, ENV_FILE_NAME);
  const caTarget = join(etcDir, CA_FILE_NAME);
  const caSetting = parsed.settings.find((setting) => setting.name === "CW_AGENT_CA_FILE");
  let caPem: string | undefined;
  if (parsed.pastedCertificates.length > 0) {
    if (caSetting?.value) {
      problems.push({
        line: caSetting.line,
        message: "CW_AGENT_CA_FILE is set and a certificate is pasted as well: keep one of them",
      });
    } else {
      caPem = parsed.pastedCertificates.join("");
    }
  } else if (caSetting?.value && !isAbsolute(caSetting.value)) {
    if (caSetting.value.includes("/") || caSetting.value.startsWith(".")) {
      problems.push({
        line: caSetting.line,
        message: `CW_AGENT_CA_FILE=${JSON.stringify(caSetting.value)}: give the name of a file next to ${BOOT_CONFIG_FILE} or an absolute path on the device`,
      });
    } else {
      const onCard = join(bootDir, caSetting.value);
      try {
        caPem = readFileSync(onCard, "utf8")
          .replace(/^\uFEFF/, "")
          .replace(/\r\n?/g, "\n");
      } catch (error) {
        const code = (error as NodeJS.ErrnoException).code ?? "unreadable";
        problems.push({
          line: caSetting.line,
          message: `CW_AGENT_CA_FILE=${JSON.stringify(caSetting.value)}: no such file next to ${BOOT_CONFIG_FILE} on the boot partition (${code})`,
        });
      }
    }
  }

  const existingLines = existsSync(envFile) ? splitLines(readFileSync(envFile, "utf8")) : [];
  const updates = new Map(parsed.settings.map((setting) => [setting.name, setting.value]));
  if (caPem !== undefined) updates.set("CW_AGENT_CA_FILE", caTarget);
  const merged = { ...envValues(existingLines) };
  for (const [name, value] of updates) {
    if (value === "") delete merged[name];
    else merged[name] = value;
  }

  const stagedCa = `${caTarget}.new`;
  if (caPem !== undefined) writeFileAtomic(stagedCa, caPem, 0o640, options.groupId, false);
  // Also with problems found above: the technician gets every bad line in one round trip.
  const forValidation = caPem === undefined ? merged : { ...merged, CW_AGENT_CA_FILE: stagedCa };
  const caReported = problems.some(
    (problem) => problem.line !== undefined && problem.line === caSetting?.line,
  );
  for (const error of configErrors(forValidation)) {
    if (error.variable === "CW_AGENT_CA_FILE" && caReported) continue;
    problems.push(locate(error, parsed.settings, caPem, parsed, envFile));
  }

  if (problems.length > 0) {
    rmSync(stagedCa, { force: true });
    const messages = problems
      .sort((a, b) => (a.line ?? 0) - (b.line ?? 0))
      .map((problem) =>
        problem.line === undefined ? problem.message : `line ${problem.line}: ${problem.message}`,
      );
    for (const message of messages) log("error", `${BOOT_CONFIG_FILE}: ${message}`);
    const errorsText = [
      `${BOOT_CONFIG_FILE} was not applied; the previous configuration stays in force.`,
      "Fix these lines, save the file as cw-agent.txt again and restart the gateway:",
      "",
      ...messages,
    ];
    // For the agent, which shows that an older configuration is in force until a valid file comes.
    writeFileAtomic(
      join(etcDir, REJECTED_BOOT_CONFIG_FILE),
      `${messages.join("\n")}\n`,
      0o640,
      options.groupId,
    );
    onCard(log, () => {
      writeFileAtomic(join(bootDir, `${BOOT_CONFIG_FILE}.errors`), `${errorsText.join("\r\n")}\r\n`, 0o644);
      retire(source, `${BOOT_CONFIG_FILE}.invalid`, parsed.lines);
    });
    log(
      "error",
      `${BOOT_CONFIG_FILE} is invalid: renamed it ${BOOT_CONFIG_FILE}.invalid, reasons in ${BOOT_CONFIG_FILE}.errors`,
    );
    return { result: "invalid", file: source, problems: messages };
  }

  if (caPem !== undefined) {
    renameSync(stagedCa, caTarget);
    fsyncDirectory(etcDir);
  }
  writeFileAtomic(envFile, mergeEnvLines(existingLines, updates), 0o640, options.groupId);
  const changed = [...updates.keys()];
  log(
    "info",
    `applied ${BOOT_CONFIG_FILE}: ${changed.length ? changed.join(", ") : "no settings"} in ${envFile}`,
  );

  const display = loadIndicatorConfig(merged).display;
  if (I2C_DISPLAY_MODELS.has(display.model)) ensureI2cDev(options);

  const lastApplied = join(etcDir, LAST_APPLIED_FILE);
  const alreadyApplied = existsSync(lastApplied) && readFileSync(lastApplied, "utf8").trim() === digest;
  let reset = false;
  if (parsed.reset && !alreadyApplied) {
    options.resetCredentials?.(envFile);
    reset = true;
    log("info", "RESET=yes: discarded the credentials; the agent registers anew with a new pairing ID");
  }
  writeFileAtomic(lastApplied, `${digest}\n`, 0o600);
  rmSync(join(etcDir, REJECTED_BOOT_CONFIG_FILE), { force: true });
  onCard(log, () => {
    rmSync(join(bootDir, `${BOOT_CONFIG_FILE}.errors`), { force: true });
    rmSync(join(bootDir, `${BOOT_CONFIG_FILE}.invalid`), { force: true });
    retire(source, `${BOOT_CONFIG_FILE}.applied`, parsed.lines);
  });
  return { result: "applied", file: source, changed, reset };
}

function findBootConfig(bootDirs: readonly string[]): string | undefined {
  for (const dir of bootDirs) {
    const candidate = join(dir, BOOT_CONFIG_FILE);
    try {
      if (statSync(candidate).isFile()) return candidate;
    } catch {
      // not on this layout
    }
  }
  return undefined;
}

function locate(
  error: ConfigError,
  settings: readonly { name: string; line: number }[],
  caPem: string | undefined,
  parsed: { pastedCertificateLine?: number },
  envFile: string,
): BootConfigProblem {
  const setting = settings.find((candidate) => candidate.name === error.variable);
  if (error.variable === "CW_AGENT_CA_FILE" && caPem !== undefined && setting === undefined) {
    const message = "the pasted certificate is not a valid PEM CERTIFICATE block";
    return parsed.pastedCertificateLine === undefined
      ? { message }
      : { line: parsed.pastedCertificateLine, message };
  }
  if (setting !== undefined) return { line: setting.line, message: error.message };
  if (error.value === undefined || error.value === "") {
    return {
      message: `${error.variable} is required but set neither here nor in ${envFile}: add ${error.variable}=...`,
    };
  }
  return { message: `${error.message} (set in ${envFile}; override it here)` };
}

/**
 * A read-only or failing boot partition must not undo what was applied (or kept) on the device:
 * the file then stays and is applied again at the next boot, which changes nothing and never
 * resets twice (see LAST_APPLIED_FILE).
 */
function onCard(log: NonNullable<ApplyBootConfigOptions["log"]>, action: () => void): void {
  try {
    action();
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code ?? (error as Error).message;
    log(
      "warning",
      `cannot rename ${BOOT_CONFIG_FILE} on the boot partition (${code}); it stays and is read again at the next boot`,
    );
  }
}

/** Leaves the card's file under its new name with secrets blanked, replacing an older one. */
function retire(source: string, newName: string, lines: readonly string[]): void {
  writeFileAtomic(join(dirname(source), newName), redactedText(lines), 0o644);
  rmSync(source, { force: true });
  fsyncDirectory(dirname(source));
}

function splitLines(text: string): string[] {
  const lines = text.split("\n");
  if (lines[lines.length - 1] === "") lines.pop();
  return lines;
}

const ASSIGNMENT = /^\s*([A-Za-z_][A-Za-z0-9_]*)\s*=(.*)$/;

/** systemd's EnvironmentFile= reading: the last assignment wins, surrounding quotes are dropped. */
function envValues(lines: readonly string[]): Record<string, string> {
  const values: Record<string, string> = {};
  for (const line of lines) {
    const trimmed = line.trim();
    if (trimmed.startsWith("#") || trimmed.startsWith(";")) continue;
    const match = ASSIGNMENT.exec(line);
    if (!match?.[1]) continue;
    let value = (match[2] ?? "").trim();
    if (value.length >= 2 && (value[0] === '"' || value[0] === "'") && value.endsWith(value[0])) {
      value = value.slice(1, -1);
    }
    values[match[1]] = value;
  }
  return values;
}

/**
 * Replaces each updated setting where the file assigns it (so comments and the template's order
 * survive), drops further assignments of it, removes it for an empty value, and appends the rest
 * in a section of its own.
 */
export function mergeEnvLines(lines: readonly string[], updates: ReadonlyMap<string, string>): string {
  const done = new Set<string>();
  const out: string[] = [];
  for (const line of lines) {
    const name = line.trim().startsWith("#") ? undefined : ASSIGNMENT.exec(line)?.[1];
    if (name === undefined || !updates.has(name)) {
      out.push(line);
      continue;
    }
    if (done.has(name)) continue;
    done.add(name);
    const value = updates.get(name) ?? "";
    if (value !== "") out.push(`${name}=${value}`);
  }
  const rest = [...updates].filter(([name, value]) => !done.has(name) && value !== "");
  if (rest.length > 0) {
    if (!out.includes(SECTION_HEADER)) {
      if (out.length > 0 && out[out.length - 1] !== "") out.push("");
      out.push(SECTION_HEADER);
    }
    for (const [name, value] of rest) out.push(`${name}=${value}`);
  }
  return `${out.join("\n")}\n`;
}

function ensureI2cDev(options: ApplyBootConfigOptions): void {
  const dir = options.modulesLoadDir ?? "/etc/modules-load.d";
  const file = join(dir, "cw-agent-i2c.conf");
  if (!existsSync(file)) {
    writeFileAtomic(
      file,
      "# The display of cw-agent: /dev/i2c-N must exist before cw-agent.service starts.\ni2c-dev\n",
      0o644,
    );
  }
  try {
    options.loadModule?.("i2c-dev");
  } catch (error) {
    options.log?.("warning", `could not load i2c-dev now: ${(error as Error).message}`);
  }
}

/** Write to a temporary name, flush, rename over the target, flush the directory: all or nothing. */
function writeFileAtomic(path: string, content: string, mode: number, groupId?: number, rename = true): void {
  const temporary = rename ? join(dirname(path), `.${basename(path)}.tmp`) : path;
  const fd = openSync(temporary, "w", mode);
  try {
    fchmodSync(fd, mode);
    if (groupId !== undefined) fchownSync(fd, 0, groupId);
    writeSync(fd, content);
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
  if (rename) renameSync(temporary, path);
  fsyncDirectory(dirname(path));
}

function fsyncDirectory(dir: string): void {
  let fd: number | undefined;
  try {
    fd = openSync(dir, "r");
    fsyncSync(fd);
  } catch {
    // FAT through some drivers refuses fsync on directories; the files themselves were flushed.
  } finally {
    if (fd !== undefined) closeSync(fd);
  }
}
