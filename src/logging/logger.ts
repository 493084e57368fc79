import { fstatSync } from "node:fs";
import { hostname } from "node:os";
import { isatty } from "node:tty";
import { type DestinationStream, type Logger, pino } from "pino";
import type { LogFormat, LogLevel } from "../config/config.js";
import { colorsWanted, prettyDestination } from "./pretty.js";

export type { Logger } from "pino";

/**
 * Never let a secret reach a log line, even if a caller passes a whole credentials object.
 * Paths are pino redact paths (fast-redact syntax).
 */
const REDACTED_PATHS = [
  "password",
  "*.password",
  "*.*.password",
  "credentials.password",
  "privateKey",
  "*.privateKey",
  "key",
  "*.key",
  "headers.authorization",
  "*.headers.authorization",
];

/** syslog priorities for pino's numeric levels (sd-daemon(3) prefixes). */
function syslogPriority(level: number): number {
  if (level >= 60) return 2; // crit
  if (level >= 50) return 3; // err
  if (level >= 40) return 4; // warning
  if (level >= 30) return 6; // info
  return 7; // debug
}

/**
 * True when stdout is connected to journald: systemd sets JOURNAL_STREAM to "<dev>:<inode>" of
 * the stream it connected (see systemd.exec(5), "JOURNAL_STREAM").
 */
export function stdoutIsJournal(env: NodeJS.ProcessEnv = process.env, fd = 1): boolean {
  const stream = env.JOURNAL_STREAM;
  if (!stream) return false;
  try {
    const stat = fstatSync(fd);
    return stream === `${stat.dev}:${stat.ino}`;
  } catch {
    return false;
  }
}

/**
 * Prefixes each JSON line with "<N>" so journald records its priority (and `journalctl -p warning`
 * filters on it) while `journalctl -o cat` still shows the plain JSON line.
 */
export function journalDestination(inner: DestinationStream): DestinationStream {
  return {
    write(line: string) {
      const match = /"level":(\d+)/.exec(line);
      const priority = syslogPriority(match ? Number(match[1]) : 30);
      inner.write(`<${priority}>${line}`);
    },
  };
}

/**
 * What stdout gets: `auto` is readable lines on a terminal and JSON everywhere else (the journal,
 * a pipe, a file); `json` and `pretty` force one. Under journald each line keeps its `<N>` prefix.
 */
export function stdoutDestination(
  format: LogFormat,
  env: NodeJS.ProcessEnv = process.env,
  fd = 1,
): DestinationStream {
  const stdout = pino.destination({ fd, sync: true });
  const journal = stdoutIsJournal(env, fd);
  const terminal = isatty(fd);
  const pretty = format === "pretty" || (format === "auto" && terminal && !journal);
  if (!pretty) return journal ? journalDestination(stdout) : stdout;
  return prettyDestination(stdout, {
    colors: colorsWanted(env, terminal),
    ...(journal ? { prefix: (level: number) => `<${syslogPriority(level)}>` } : {}),
  });
}

export interface LoggerOptions {
  level: LogLevel;
  /** How lines are written to stdout (CW_AGENT_LOG_FORMAT); default auto. */
  format?: LogFormat;
  /** Where lines go instead of stdout (tests); synchronous so nothing is lost when the process dies. */
  destination?: DestinationStream;
}

export function createLogger(options: LoggerOptions): Logger {
  const destination = options.destination ?? stdoutDestination(options.format ?? "auto");
  return pino(
    {
      level: options.level,
      base: { pid: process.pid, hostname: hostname() },
      redact: { paths: REDACTED_PATHS, censor: "[redacted]" },
      serializers: { err: pino.stdSerializers.err },
    },
    destination,
  );
}
