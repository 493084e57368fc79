import { spawn } from "node:child_process";
import { parseArgs } from "node:util";
import { EXIT_FAILURE, EXIT_OK, EXIT_USAGE } from "../exit-codes.js";
import { colorsWanted, formatLogLine } from "../logging/pretty.js";
import { errorCode, errorMessage } from "../util/errors.js";
import type { Output } from "./output.js";

export const LOGS_USAGE = `Usage: cw-agent logs [-f] [-n N] [--since TIME] [--instance NAME]

Shows the agent's journal (journalctl -u cw-agent -o cat) as readable lines.
  -f, --follow        keep printing new lines until Ctrl-C
  -n, --lines N       only the last N lines (journalctl -n)
  --since TIME        lines since TIME, e.g. "1 hour ago" or "2026-11-25 08:00" (journalctl --since)
  --instance NAME     the agent of the template unit cw-agent@NAME`;

/** The instance names systemd allows for cw-agent@NAME, as `--instance` of the other commands. */
const INSTANCE_NAME = /^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/;
const LINE_COUNT = /^(\+?\d{1,9}|all)$/;

export interface LogsRequest {
  readonly unit: string;
  readonly journalctlArgs: readonly string[];
}

/** The journalctl command line for the arguments of `cw-agent logs`; throws a usage message. */
export function logsRequest(args: readonly string[]): LogsRequest {
  let values: { follow?: boolean; lines?: string; since?: string; instance?: string };
  try {
    ({ values } = parseArgs({
      args: [...args],
      options: {
        follow: { type: "boolean", short: "f" },
        lines: { type: "string", short: "n" },
        since: { type: "string" },
        instance: { type: "string" },
      },
      allowPositionals: false,
      strict: true,
    }));
  } catch (error) {
    // Node appends advice about "--" to unknown options; the first sentence is the finding.
    throw new LogsUsageError(errorMessage(error).split(". ")[0] ?? "bad arguments");
  }
  const { follow, lines, since, instance } = values;
  if (instance !== undefined && !INSTANCE_NAME.test(instance)) {
    throw new LogsUsageError(
      `--instance must be a unit instance name such as line1, not ${JSON.stringify(instance)}`,
    );
  }
  if (lines !== undefined && !LINE_COUNT.test(lines)) {
    throw new LogsUsageError(`-n must be a number of lines or "all", not ${JSON.stringify(lines)}`);
  }
  if (since?.trim() === "") throw new LogsUsageError("--since needs a time");
  const unit = instance === undefined ? "cw-agent" : `cw-agent@${instance}`;
  return {
    unit,
    journalctlArgs: [
      "-u",
      unit,
      "-o",
      "cat",
      ...(follow === true ? ["-f"] : []),
      ...(lines === undefined ? [] : ["-n", lines]),
      ...(since === undefined ? [] : ["--since", since]),
    ],
  };
}

export class LogsUsageError extends Error {}

/**
 * `cw-agent logs`: journalctl's lines of the unit through the same formatter as `cw-agent run` on
 * a terminal. Lines that are not the agent's JSON (a crash trace) pass unchanged. Resolves with the
 * exit code: journalctl's, or 0 after Ctrl-C or when the reader of a pipe went away.
 */
export function logsCommand(args: readonly string[], output: Output): Promise<number> {
  let request: LogsRequest;
  try {
    request = logsRequest(args);
  } catch (error) {
    if (!(error instanceof LogsUsageError)) throw error;
    output.err(`cw-agent: logs: ${error.message}\n\n${LOGS_USAGE}`);
    return Promise.resolve(EXIT_USAGE);
  }
  const colors = colorsWanted(process.env, process.stdout.isTTY === true);
  const format = (line: string) => formatLogLine(line, { colors, date: true });

  return new Promise((resolve) => {
    // stderr stays journalctl's own: its hints (no permission to read the journal) reach the user.
    const child = spawn("journalctl", [...request.journalctlArgs], { stdio: ["ignore", "pipe", "inherit"] });
    /** Ctrl-C or a signal: the user is done. */
    let interrupted = false;
    /** The reader of stdout went away: nothing more is written. */
    let readerGone = false;
    let finished = false;
    const finish = (code: number) => {
      if (finished) return;
      finished = true;
      for (const signal of SIGNALS) process.off(signal, onSignal);
      process.stdout.off("error", onWriteError);
      resolve(code);
    };
    const stopJournalctl = () => {
      if (child.exitCode === null && child.signalCode === null) child.kill("SIGTERM");
    };
    // Ctrl-C reaches journalctl too (same process group); a signal sent to this process alone is
    // passed on. Either way the lines read until journalctl exits are still printed.
    const onSignal = () => {
      interrupted = true;
      stopJournalctl();
    };
    // `cw-agent logs | head`: the reader is gone, so is the point of reading the journal.
    const onWriteError = (error: Error) => {
      readerGone = true;
      stopJournalctl();
      if (errorCode(error) !== "EPIPE") output.err(`cw-agent: logs: ${errorMessage(error)}`);
    };
    for (const signal of SIGNALS) process.on(signal, onSignal);
    process.stdout.on("error", onWriteError);

    let buffered = "";
    child.stdout.setEncoding("utf8").on("data", (chunk: string) => {
      if (readerGone) return;
      buffered += chunk;
      const end = buffered.lastIndexOf("\n");
      if (end < 0) return;
      const complete = buffered.slice(0, end).split("\n");
      buffered = buffered.slice(end + 1);
      process.stdout.write(`${complete.map(format).join("\n")}\n`);
    });
    child.once("error", (error) => {
      output.err(
        errorCode(error) === "ENOENT"
          ? "cw-agent: logs: journalctl not found; cw-agent logs reads the systemd journal"
          : `cw-agent: logs: cannot run journalctl: ${errorMessage(error)}`,
      );
      finish(EXIT_FAILURE);
    });
    child.once("close", (code) => {
      if (buffered !== "" && !readerGone) process.stdout.write(`${format(buffered)}\n`);
      finish(interrupted || readerGone ? EXIT_OK : (code ?? EXIT_FAILURE));
    });
  });
}

const SIGNALS = ["SIGINT", "SIGTERM", "SIGHUP"] as const;
