import { spawn } from "node:child_process";
import { EXIT_FAILURE, EXIT_OK } from "../exit-codes.js";
import { colorsWanted, formatLogLine } from "../logging/pretty.js";
import { errorCode, errorMessage } from "../util/errors.js";
import { UsageError } from "./argv.js";
import type { Output } from "./output.js";
import { checkInstanceName } from "./sources.js";

const LINE_COUNT = /^(\+?\d{1,9}|all)$/;

/** The options of `cw-agent logs`, as the command table parses them. */
export interface LogsOptions {
  readonly follow?: boolean;
  readonly lines?: string;
  readonly since?: string;
  readonly instance?: string;
}

export interface LogsRequest {
  readonly unit: string;
  readonly journalctlArgs: readonly string[];
}

/** The journalctl command line for the options of `cw-agent logs`; throws UsageError. */
export function logsRequest(options: LogsOptions): LogsRequest {
  const { follow, lines, since, instance } = options;
  if (instance !== undefined) checkInstanceName(instance);
  if (lines !== undefined && !LINE_COUNT.test(lines)) {
    throw new UsageError(`--lines must be a number of lines or "all", not ${JSON.stringify(lines)}`);
  }
  if (since?.trim() === "") throw new UsageError("--since needs a time");
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

/**
 * `cw-agent logs`: journalctl's lines of the unit through the same formatter as `cw-agent run` on
 * a terminal. Lines that are not the agent's JSON (a crash trace) pass unchanged. Resolves with the
 * exit code: journalctl's, or 0 after Ctrl-C or when the reader of a pipe went away.
 */
export function logsCommand(options: LogsOptions, output: Output): Promise<number> {
  const request = logsRequest(options);
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
