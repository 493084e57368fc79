import { type ChildProcess, execFileSync, spawn } from "node:child_process";
import { createHash } from "node:crypto";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { CredentialStore } from "../../src/storage/credential-store.js";

const CLI = new URL("../../src/cli.js", import.meta.url).pathname;

/** A state change as the agent logged it, with the agent's own timestamp. */
export interface StateChange {
  state: string;
  at: number;
}

/** One real `cw-agent run` process (the built dist/) with its own state directory. */
export class FleetAgent {
  readonly states: StateChange[] = [];
  readonly messages: string[] = [];
  readonly stderr: string[] = [];
  private child: ChildProcess | undefined;
  private exit: Promise<number | null> = Promise.resolve(null);

  constructor(
    readonly name: string,
    readonly stateDir: string,
    private readonly env: Record<string, string>,
  ) {}

  get pid(): number | undefined {
    return this.child?.exitCode === null ? this.child.pid : undefined;
  }

  get state(): string | undefined {
    return this.states.at(-1)?.state;
  }

  start(): void {
    const child = spawn(process.execPath, [CLI, "run"], {
      env: {
        PATH: process.env.PATH ?? "/usr/bin:/bin",
        CW_AGENT_STATE_DIR: this.stateDir,
        CYBUS_AGENT_NAME: this.name,
        ...this.env,
      },
      stdio: ["ignore", "pipe", "pipe"],
    });
    this.child = child;
    let buffered = "";
    child.stdout?.setEncoding("utf8").on("data", (chunk: string) => {
      buffered += chunk;
      let newline = buffered.indexOf("\n");
      while (newline >= 0) {
        this.accept(buffered.slice(0, newline));
        buffered = buffered.slice(newline + 1);
        newline = buffered.indexOf("\n");
      }
    });
    child.stderr?.setEncoding("utf8").on("data", (chunk: string) => this.stderr.push(chunk));
    this.exit = new Promise((resolve) => child.once("exit", (code) => resolve(code)));
  }

  private accept(raw: string): void {
    try {
      const line = JSON.parse(raw) as { msg?: unknown; state?: unknown; time?: unknown };
      if (typeof line.msg === "string") this.messages.push(line.msg);
      if (typeof line.state === "string" && typeof line.time === "number") {
        this.states.push({ state: line.state, at: line.time });
      }
    } catch {
      this.stderr.push(raw);
    }
  }

  /** First time at or after `since` the agent entered `state`. */
  reached(state: string, since: number): number | undefined {
    return this.states.find((change) => change.state === state && change.at >= since)?.at;
  }

  stop(signal: NodeJS.Signals = "SIGTERM"): Promise<number | null> {
    if (this.child !== undefined && this.child.exitCode === null && this.child.signalCode === null) {
      this.child.kill(signal);
    }
    return this.exit;
  }

  /** username and status plus a digest of the password: enough to see a change, nothing to leak. */
  credentialFingerprint(): string | undefined {
    const store = CredentialStore.openReadOnly(this.stateDir);
    try {
      const credentials = store?.load();
      if (credentials === undefined) return undefined;
      const digest = createHash("sha256").update(credentials.password).digest("hex");
      return `${credentials.username}:${credentials.status}:${digest}`;
    } finally {
      store?.close();
    }
  }

  /** The stored credentials, for the broker's password file only. */
  credentials(): { username: string; password: string } | undefined {
    const store = CredentialStore.openReadOnly(this.stateDir);
    try {
      const credentials = store?.load();
      return credentials && { username: credentials.username, password: credentials.password };
    } finally {
      store?.close();
    }
  }
}

const clockTicks = (() => {
  try {
    return Number(execFileSync("getconf", ["CLK_TCK"], { encoding: "utf8" }).trim()) || 100;
  } catch {
    return 100;
  }
})();

export interface ResourceSample {
  processes: number;
  rssBytes: number;
  cpuSeconds: number;
}

/** Summed resident memory (VmRSS) and user+system CPU time of the running processes. */
export function sampleResources(pids: readonly number[]): ResourceSample {
  let rssBytes = 0;
  let ticks = 0;
  let processes = 0;
  for (const pid of pids) {
    try {
      const status = readFileSync(join("/proc", String(pid), "status"), "utf8");
      const rss = /^VmRSS:\s+(\d+) kB/m.exec(status)?.[1];
      const stat = readFileSync(join("/proc", String(pid), "stat"), "utf8");
      // Fields after the command name, which may itself contain spaces and parentheses.
      const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
      rssBytes += Number(rss ?? 0) * 1024;
      ticks += Number(fields[11] ?? 0) + Number(fields[12] ?? 0);
      processes++;
    } catch {
      // the process ended in between
    }
  }
  return { processes, rssBytes, cpuSeconds: ticks / clockTicks };
}
