import { spawn } from "node:child_process";

/**
 * Runs a command with its stdout on a pseudo-terminal (python3's pty module; .ci/run installs
 * python3), so isatty(1) is true in the child as on an operator's terminal. stdin is /dev/null and
 * stderr a pipe. SIGTERM to the runner is passed on to the command.
 */
const PTY_RUNNER = `
import os, pty, signal, subprocess, sys
master, slave = pty.openpty()
child = subprocess.Popen(sys.argv[1:], stdin=subprocess.DEVNULL, stdout=slave)
os.close(slave)
signal.signal(signal.SIGTERM, lambda *_: child.send_signal(signal.SIGTERM))
while True:
    try:
        data = os.read(master, 65536)
    except OSError:  # EIO: the command and its children closed the terminal
        break
    if not data:
        break
    os.write(1, data)
sys.exit(child.wait())
`;

export interface Captured {
  readonly code: number | null;
  /** stdout, with the terminal's CR LF turned back into LF. */
  readonly stdout: string;
  readonly stderr: string;
}

/**
 * Starts `command`, on a pseudo-terminal when `terminal` is set, else with stdout on a pipe.
 * When stdout contains `stopAt` (a complete line), the command gets `signal` (default SIGTERM, the
 * one signal the terminal runner passes on); resolves on exit.
 */
export function capture(
  command: readonly string[],
  env: Record<string, string>,
  options: { terminal: boolean; stopAt?: RegExp; signal?: NodeJS.Signals },
): Promise<Captured> {
  const [file, ...args] = options.terminal ? ["python3", "-c", PTY_RUNNER, ...command] : command;
  return new Promise((resolve, reject) => {
    const child = spawn(file as string, args, { env, stdio: ["ignore", "pipe", "pipe"] });
    let stdout = "";
    let stderr = "";
    let stopped = false;
    child.stdout.setEncoding("utf8").on("data", (chunk: string) => {
      stdout += chunk;
      const lines = stdout.slice(0, stdout.lastIndexOf("\n") + 1);
      if (!stopped && options.stopAt?.test(lines)) {
        stopped = true;
        child.kill(options.signal ?? "SIGTERM");
      }
    });
    child.stderr.setEncoding("utf8").on("data", (chunk: string) => {
      stderr += chunk;
    });
    child.once("error", reject);
    child.once("close", (code) => resolve({ code, stdout: stdout.replace(/\r\n/g, "\n"), stderr }));
  });
}

/** The text without ANSI colour sequences. */
export function withoutColours(text: string): string {
  // biome-ignore lint/suspicious/noControlCharactersInRegex: ANSI sequences start with ESC
  return text.replace(/\x1b\[[0-9;]*m/g, "");
}
