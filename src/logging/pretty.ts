import type { DestinationStream } from "pino";

/**
 * pino JSON lines for people: `08:14:02.123 INFO  [agent] Waiting for authorization ...  state=pending`.
 * Synchronous and in-process (no transport, no worker thread), so it works the same in the
 * single-file bundle of the package, and costs one JSON.parse per line.
 */

export interface PrettyOptions {
  /** ANSI colours (see `colorsWanted`). */
  readonly colors: boolean;
  /** Prefix the time with the date, for logs that span days (`cw-agent logs`). */
  readonly date?: boolean;
}

/** Fields every line has, or that the layout shows elsewhere. */
const LAYOUT_FIELDS = new Set(["level", "time", "msg", "pid", "hostname", "component", "err", "v"]);

const LEVELS: Readonly<Record<number, { label: string; color: string }>> = {
  10: { label: "TRACE", color: "90" },
  20: { label: "DEBUG", color: "34" },
  30: { label: "INFO ", color: "32" },
  40: { label: "WARN ", color: "33" },
  50: { label: "ERROR", color: "31" },
  60: { label: "FATAL", color: "97;41" },
};

/**
 * Whether output to a stream may be coloured, by the usual conventions: FORCE_COLOR (0 or false
 * disables, any other value enables; it wins, as in Node.js itself), then NO_COLOR (any non-empty
 * value disables), then TERM=dumb; otherwise colours when the stream is a terminal.
 */
export function colorsWanted(env: NodeJS.ProcessEnv, isTty: boolean): boolean {
  const force = env.FORCE_COLOR;
  if (force !== undefined) return !["0", "false"].includes(force.trim().toLowerCase());
  if (env.NO_COLOR) return false;
  if (env.TERM === "dumb") return false;
  return isTty;
}

interface LogRecord {
  readonly level: number;
  readonly time?: unknown;
  readonly msg?: unknown;
  readonly component?: unknown;
  readonly err?: unknown;
  readonly [field: string]: unknown;
}

function parseRecord(line: string): LogRecord | undefined {
  if (!line.startsWith("{")) return undefined;
  try {
    const value: unknown = JSON.parse(line);
    if (typeof value !== "object" || value === null || Array.isArray(value)) return undefined;
    return typeof (value as { level?: unknown }).level === "number" ? (value as LogRecord) : undefined;
  } catch {
    return undefined;
  }
}

/**
 * One log line for people, without its newline. A line that is not a pino JSON object (a crash
 * trace, a line of another program) comes back unchanged.
 */
export function formatLogLine(line: string, options: PrettyOptions): string {
  const record = parseRecord(line.trim());
  return record === undefined ? line : formatRecord(record, options);
}

function formatRecord(record: LogRecord, options: PrettyOptions): string {
  const paint = (code: string, text: string) => (options.colors ? `\x1b[${code}m${text}\x1b[0m` : text);
  const level = LEVELS[record.level] ?? { label: `L${record.level}`.padEnd(5), color: "0" };

  const parts = [paint("2", formatTime(record.time, options.date === true)), paint(level.color, level.label)];
  if (typeof record.component === "string") parts.push(paint("36", `[${printable(record.component)}]`));
  parts.push(printable(typeof record.msg === "string" ? record.msg : ""));

  const fields: string[] = [];
  for (const [key, value] of Object.entries(record)) {
    if (LAYOUT_FIELDS.has(key) || value === undefined) continue;
    fields.push(`${printable(key)}=${fieldValue(value)}`);
  }
  const error = errorOf(record.err);
  if (error?.message !== undefined) fields.push(`err=${fieldValue(error.message)}`);
  let text = parts.join(" ");
  if (fields.length > 0) text += `  ${paint("2", fields.join(" "))}`;
  // The stack helps with errors; for warnings (a broker that is down) the message says enough.
  if (error?.stack !== undefined && record.level >= 50) {
    const frames = error.stack.split("\n").slice(1);
    if (frames.length > 0)
      text += `\n${paint("2", frames.map((frame) => `    ${printable(frame.trim())}`).join("\n"))}`;
  }
  return text;
}

function errorOf(value: unknown): { message?: string; stack?: string } | undefined {
  if (typeof value !== "object" || value === null) return undefined;
  const { message, stack } = value as { message?: unknown; stack?: unknown };
  return {
    ...(typeof message === "string" ? { message } : {}),
    ...(typeof stack === "string" ? { stack } : {}),
  };
}

function formatTime(time: unknown, withDate: boolean): string {
  if (typeof time !== "number" || !Number.isFinite(time)) return withDate ? " ".repeat(23) : " ".repeat(12);
  const date = new Date(time);
  const two = (value: number) => String(value).padStart(2, "0");
  const clock = `${two(date.getHours())}:${two(date.getMinutes())}:${two(date.getSeconds())}.${String(date.getMilliseconds()).padStart(3, "0")}`;
  if (!withDate) return clock;
  return `${date.getFullYear()}-${two(date.getMonth() + 1)}-${two(date.getDate())} ${clock}`;
}

function fieldValue(value: unknown): string {
  if (typeof value === "string") return /^[^\s"=\\]+$/.test(value) ? printable(value) : JSON.stringify(value);
  if (typeof value === "object" && value !== null) return JSON.stringify(value);
  return String(value);
}

/**
 * Control characters (a newline inside a message, an escape sequence in an error text from the
 * network) are shown escaped: a log line must not move the cursor or recolour the terminal.
 */
const CONTROL_NAMES: Readonly<Record<string, string>> = { "\n": "\\n", "\r": "\\r", "\t": "\\t" };

function printable(text: string): string {
  // biome-ignore lint/suspicious/noControlCharactersInRegex: matching control characters is the point
  return text.replace(/[\x00-\x1f\x7f-\x9f]/g, (char) => {
    const named = CONTROL_NAMES[char];
    return named ?? `\\u${char.charCodeAt(0).toString(16).padStart(4, "0")}`;
  });
}

/**
 * A pino destination that writes each line formatted to `inner`, synchronously in the calling
 * thread. `prefix` may add something computed from the level (the journal's `<N>`).
 */
export function prettyDestination(
  inner: DestinationStream,
  options: PrettyOptions & { readonly prefix?: (level: number) => string },
): DestinationStream {
  return {
    write(line: string) {
      const record = parseRecord(line.trim());
      const prefix = options.prefix?.(record?.level ?? 30) ?? "";
      const text = record === undefined ? line.replace(/\n$/, "") : formatRecord(record, options);
      // Each line of a stack trace is a journal entry of its own: every one gets the prefix.
      inner.write(
        `${text
          .split("\n")
          .map((part) => `${prefix}${part}`)
          .join("\n")}\n`,
      );
    },
  };
}
