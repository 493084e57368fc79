import { spawn } from "node:child_process";
import { CommandError } from "./command-handler.js";

/** `cw-agent check` probes the network with its own deadlines; this bounds the whole run. */
export const CHECK_DEADLINE_MS = 60_000;
/** A check report is a few KiB; anything far beyond is not one. */
const MAX_REPORT_BYTES = 1024 * 1024;

export interface CheckRun {
  /** 0 when every check passed, 1 when one failed (as `cw-agent check`). */
  readonly exitCode: number;
  /** The report of `cw-agent check --json`: `{ checks, summary }`. */
  readonly report: unknown;
}

/**
 * Runs `cw-agent check --json` as a child process, the way a technician would: the same command
 * line (this process's own script), the agent's settings in its environment, and a deadline after
 * which the child is killed.
 */
export function runCheck(
  env: NodeJS.ProcessEnv,
  command: readonly string[] = [process.execPath, process.argv[1] ?? ""],
  deadlineMs = CHECK_DEADLINE_MS,
): Promise<CheckRun> {
  const [file, ...args] = command;
  if (file === undefined) return Promise.reject(new Error("no command to run check with"));
  return new Promise((resolve, reject) => {
    const child = spawn(file, [...args, "check", "--json"], { env, stdio: ["ignore", "pipe", "ignore"] });
    const chunks: Buffer[] = [];
    let received = 0;
    let outcome: Error | undefined;
    const timer = setTimeout(() => {
      outcome = new CommandError(`check did not finish within ${deadlineMs / 1000} s`);
      child.kill("SIGKILL");
    }, deadlineMs);
    child.stdout.on("data", (chunk: Buffer) => {
      received += chunk.length;
      if (received > MAX_REPORT_BYTES) {
        outcome ??= new Error(`check printed more than ${MAX_REPORT_BYTES} bytes`);
        child.kill("SIGKILL");
        return;
      }
      chunks.push(chunk);
    });
    child.once("error", (error) => {
      clearTimeout(timer);
      reject(error);
    });
    child.once("close", (code) => {
      clearTimeout(timer);
      if (outcome !== undefined) {
        reject(outcome);
        return;
      }
      try {
        resolve({ exitCode: code ?? -1, report: JSON.parse(Buffer.concat(chunks).toString("utf8")) });
      } catch {
        reject(new Error(`check exited with ${code} without a JSON report`));
      }
    });
  });
}
