import { type ChildProcess, spawn } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { CredentialStore } from "../../src/storage/credential-store.js";
import { scaled } from "../time-scale.js";

export const CLI = new URL("../../dist/src/cli.js", import.meta.url).pathname;

export interface LogLine {
  level: number;
  time: number;
  msg: string;
  pid: number;
  hostname: string;
  state?: string;
  [key: string]: unknown;
}

/** Every agent process started by a test file, so afterEach can stop them and scan their logs. */
const running = new Set<AgentProcess>();

const createdDirs: string[] = [];

export function newStateDir(): string {
  const parent = mkdtempSync(join(tmpdir(), "cw-agent-it-"));
  createdDirs.push(parent);
  return join(parent, "state");
}

/** For afterAll: the state directories hold real (test) passwords; leave none behind. */
export function removeStateDirs(): void {
  for (const dir of createdDirs.splice(0)) rmSync(dir, { recursive: true, force: true });
}

/** Fast timings for tests; every value is still within what config.ts accepts. */
export const FAST_TIMINGS = {
  CW_AGENT_REGISTRY_LOCKED_POLL_MS: "200",
  CW_AGENT_REGISTRY_PENDING_POLL_MS: "200",
  CW_AGENT_REGISTRY_CONFLICT_POLL_MS: "300",
  CW_AGENT_REGISTRY_RETRY_MIN_MS: "100",
  CW_AGENT_REGISTRY_RETRY_MAX_MS: "1000",
  // Long enough for an 8 MiB answer to be cut at 64 KiB on a busy machine; "hang" and "slow" still
  // show the deadline at work.
  CW_AGENT_REGISTRY_TIMEOUT_MS: "3000",
  CW_AGENT_RECONNECT_MIN_MS: "100",
  CW_AGENT_RECONNECT_MAX_MS: "1000",
  CW_AGENT_MQTT_CONNECT_TIMEOUT_MS: "2000",
};

/**
 * A real `cw-agent run` child process (the built dist/), with its JSON log lines parsed as they
 * arrive. Tests wait on log lines, never on wall-clock sleeps.
 */
export class AgentProcess {
  readonly lines: LogLine[] = [];
  readonly rawOutput: string[] = [];
  readonly exited: Promise<number | null>;
  private readonly child: ChildProcess;
  private readonly waiters = new Set<() => void>();
  private exitCode: number | null | undefined;
  /** Every password this agent's database held while the test ran: none may appear in any output. */
  readonly secretsSeen = new Set<string>();

  /**
   * `command` starts the agent's CLI: this checkout's built dist/ by default, or a packaged one
   * (its own node, qemu-user, a chroot). `stateDir` is where this process finds the database; `env`
   * may name it differently for the agent (CW_AGENT_STATE_DIR inside a chroot).
   */
  constructor(
    readonly env: Record<string, string>,
    readonly stateDir: string,
    command: readonly string[] = [process.execPath, CLI],
  ) {
    const [file, ...args] = command;
    if (file === undefined) throw new Error("empty command");
    this.child = spawn(file, [...args, "run"], {
      env: { PATH: process.env.PATH ?? "/usr/bin:/bin", CW_AGENT_STATE_DIR: stateDir, ...env },
      stdio: ["ignore", "pipe", "pipe"],
    });
    running.add(this);
    let buffered = "";
    this.child.stdout?.setEncoding("utf8").on("data", (chunk: string) => {
      buffered += chunk;
      let newline = buffered.indexOf("\n");
      while (newline >= 0) {
        this.accept(buffered.slice(0, newline));
        buffered = buffered.slice(newline + 1);
        newline = buffered.indexOf("\n");
      }
    });
    this.child.stderr?.setEncoding("utf8").on("data", (chunk: string) => {
      this.rawOutput.push(chunk);
      this.wake();
    });
    this.exited = new Promise((resolve) => {
      this.child.once("exit", (code) => {
        this.exitCode = code;
        running.delete(this);
        this.wake();
        resolve(code);
      });
    });
  }

  get pid(): number {
    return this.child.pid ?? -1;
  }

  private accept(raw: string): void {
    this.rawOutput.push(raw);
    try {
      this.lines.push(JSON.parse(raw) as LogLine);
    } catch {
      // not JSON (e.g. a crash trace): kept in rawOutput
    }
    if (raw.includes("pairing ID")) this.rememberSecret();
    this.wake();
  }

  /** Reads the password the agent persisted, to check later that it was never printed. */
  rememberSecret(): void {
    try {
      const store = CredentialStore.openReadOnly(this.stateDir);
      const credentials = store?.load();
      store?.close();
      if (credentials?.password) this.secretsSeen.add(credentials.password);
      // With mutual TLS the device key is a secret too: no line of its PEM may appear anywhere.
      for (const line of credentials?.tls?.privateKey.split("\n") ?? []) {
        if (line.length >= 40 && !line.startsWith("-----")) this.secretsSeen.add(line);
      }
    } catch {
      // the database may be mid-creation; the next line will try again
    }
  }

  private wake(): void {
    for (const waiter of this.waiters) waiter();
  }

  /** Resolves with the first line (at or after index `from`) that matches; rejects if the process exits first. */
  waitForLine(
    predicate: (line: LogLine) => boolean,
    options: { from?: number; timeoutMs?: number } = {},
  ): Promise<LogLine> {
    const timeoutMs = options.timeoutMs ?? scaled(20_000);
    let from = options.from ?? 0;
    return new Promise((resolve, reject) => {
      const check = () => {
        for (; from < this.lines.length; from++) {
          const line = this.lines[from] as LogLine;
          if (predicate(line)) {
            finish();
            resolve(line);
            return;
          }
        }
        if (this.exitCode !== undefined) {
          finish();
          reject(
            new Error(
              `agent exited (${this.exitCode}) before the expected line:\n${this.rawOutput.slice(-15).join("\n")}`,
            ),
          );
        }
      };
      const timer = setTimeout(() => {
        finish();
        reject(new Error(`timed out waiting for a log line:\n${this.rawOutput.slice(-15).join("\n")}`));
      }, timeoutMs);
      const finish = () => {
        clearTimeout(timer);
        this.waiters.delete(check);
      };
      this.waiters.add(check);
      check();
    });
  }

  waitForMessage(
    fragment: string | RegExp,
    options?: { from?: number; timeoutMs?: number },
  ): Promise<LogLine> {
    return this.waitForLine(
      (line) => (typeof fragment === "string" ? line.msg.includes(fragment) : fragment.test(line.msg)),
      options,
    );
  }

  /** Waits for the lifecycle to enter `state` (the agent logs every state change with a `state` field). */
  waitForState(state: string, options?: { from?: number; timeoutMs?: number }): Promise<LogLine> {
    return this.waitForLine((line) => line.state === state, options);
  }

  kill(signal: NodeJS.Signals = "SIGTERM"): Promise<number | null> {
    if (this.exitCode === undefined) this.child.kill(signal);
    return this.exited;
  }
}

export function startAgent(env: Record<string, string>, stateDir = newStateDir()): AgentProcess {
  return new AgentProcess(env, stateDir);
}

/** For afterEach: kills what is still running and returns every agent that ran, for log checks. */
export async function stopAllAgents(): Promise<void> {
  await Promise.all([...running].map((agent) => agent.kill("SIGKILL")));
}

/**
 * The output lines of the given agents that contain any password they held. Throws if no password
 * was known at all for agents that registered, so the check cannot pass vacuously.
 */
export function findLeakedSecrets(agents: AgentProcess[]): string[] {
  const leaks: string[] = [];
  for (const agent of agents) {
    agent.rememberSecret();
    const registered = agent.lines.some((line) => line.msg.includes("pairing ID (should match in UI)"));
    if (registered && agent.secretsSeen.size === 0)
      throw new Error(`no password known for agent ${agent.pid}`);
    for (const secret of agent.secretsSeen) {
      for (const raw of agent.rawOutput) if (raw.includes(secret)) leaks.push(raw);
    }
  }
  return leaks;
}
