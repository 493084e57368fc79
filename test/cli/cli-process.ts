import { spawn } from "node:child_process";

const CLI = new URL("../../dist/src/cli.js", import.meta.url).pathname;

export interface CliResult {
  readonly code: number | null;
  readonly stdout: string;
  readonly stderr: string;
}

/** Everything any CLI run printed in this test file, for the no-password check. */
export const cliOutputs: string[] = [];

/**
 * Runs the built CLI as a child process, asynchronously: the simulator lives in this process and
 * must keep answering while the CLI talks to it. stdin is /dev/null, i.e. not a terminal.
 */
export function runCli(args: string[], env: Record<string, string>, stateDir: string): Promise<CliResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [CLI, ...args], {
      env: { PATH: process.env.PATH ?? "/usr/bin:/bin", CW_AGENT_STATE_DIR: stateDir, ...env },
      stdio: ["ignore", "pipe", "pipe"],
    });
    let stdout = "";
    let stderr = "";
    child.stdout.setEncoding("utf8").on("data", (chunk: string) => {
      stdout += chunk;
    });
    child.stderr.setEncoding("utf8").on("data", (chunk: string) => {
      stderr += chunk;
    });
    child.once("error", reject);
    child.once("close", (code) => {
      cliOutputs.push(stdout, stderr);
      resolve({ code, stdout, stderr });
    });
  });
}

export function parseJson<T>(result: CliResult): T {
  try {
    return JSON.parse(result.stdout) as T;
  } catch {
    throw new Error(`not JSON (exit ${result.code}):\n${result.stdout}\n${result.stderr}`);
  }
}
