import { type ChildProcess, execFileSync, spawn } from "node:child_process";
import { readFileSync, statSync, writeFileSync } from "node:fs";
import { userInfo } from "node:os";
import { join } from "node:path";
import { freePort, portOpen } from "../local-mosquitto.js";

export { findMosquitto } from "../local-mosquitto.js";

/** One line of the broker's log with the broker's own timestamp (whole seconds since the epoch). */
export interface BrokerLogLine {
  epochSecond: number;
  text: string;
}

/**
 * A real Mosquitto on a loopback port with a password file, as Connectware's broker would be: only
 * granted users log in. Its log (connection messages on) is the count of CONNECTs: every accepted
 * login is one "New client connected" line, every rejected one a "not authorised" line.
 */
export class BenchMosquitto {
  private process: ChildProcess | undefined;
  private readonly passwordFile: string;
  private readonly logFile: string;
  private readonly configFile: string;

  private constructor(
    private readonly binaries: { broker: string; passwd: string },
    dir: string,
    readonly port: number,
  ) {
    this.passwordFile = join(dir, "passwd");
    this.logFile = join(dir, "mosquitto.log");
    this.configFile = join(dir, "mosquitto.conf");
  }

  static async start(binaries: { broker: string; passwd: string }, dir: string): Promise<BenchMosquitto> {
    const broker = new BenchMosquitto(binaries, dir, await freePort());
    writeFileSync(broker.passwordFile, "", { mode: 0o600 });
    writeFileSync(broker.logFile, "");
    writeFileSync(
      broker.configFile,
      [
        // As root, mosquitto would switch to its own user, which cannot read our private temp dir.
        `user ${userInfo().username}`,
        `listener ${broker.port} 127.0.0.1`,
        "allow_anonymous false",
        `password_file ${broker.passwordFile}`,
        "persistence false",
        "max_connections -1",
        `log_dest file ${broker.logFile}`,
        "log_type error",
        "log_type warning",
        "log_type notice",
        "log_type information",
        "connection_messages true",
        "log_timestamp true",
        "",
      ].join("\n"),
    );
    await broker.launch();
    return broker;
  }

  get pid(): number | undefined {
    return this.process?.pid;
  }

  async launch(): Promise<void> {
    const child = spawn(this.binaries.broker, ["-c", this.configFile], { stdio: "ignore" });
    this.process = child;
    const deadline = Date.now() + 10_000;
    while (!(await portOpen(this.port))) {
      if (child.exitCode !== null) throw new Error(`mosquitto exited with ${child.exitCode}`);
      if (Date.now() > deadline) throw new Error(`mosquitto did not listen on ${this.port}`);
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
  }

  /** A clean stop (SIGTERM): Mosquitto closes every client socket, as a restarted broker does. */
  async stop(): Promise<void> {
    const child = this.process;
    if (!child || child.exitCode !== null || child.signalCode !== null) return;
    const exited = new Promise((resolve) => child.once("exit", resolve));
    child.kill("SIGTERM");
    await exited;
  }

  /**
   * Grants users the way an administrator's grant reaches the broker: the password file is
   * rewritten (hashed by mosquitto_passwd, never passed on a command line) and reloaded.
   */
  async setUsers(users: ReadonlyMap<string, string>): Promise<void> {
    const lines = [...users].map(([username, password]) => `${username}:${password}\n`);
    writeFileSync(this.passwordFile, lines.join(""), { mode: 0o600 });
    execFileSync(this.binaries.passwd, ["-U", this.passwordFile], { stdio: "ignore" });
    const before = this.logLines().filter((line) => line.text.startsWith("Reloading config")).length;
    this.process?.kill("SIGHUP");
    const deadline = Date.now() + 10_000;
    while (this.logLines().filter((line) => line.text.startsWith("Reloading config")).length <= before) {
      if (Date.now() > deadline) throw new Error("mosquitto did not reload its password file");
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
  }

  /** The log so far; cheap enough to re-read for a fleet of a few hundred agents. */
  logLines(): BrokerLogLine[] {
    if (statSync(this.logFile).size === 0) return [];
    const lines: BrokerLogLine[] = [];
    for (const raw of readFileSync(this.logFile, "utf8").split("\n")) {
      const match = /^(\d+): (.*)$/.exec(raw);
      if (match?.[1] !== undefined && match[2] !== undefined) {
        lines.push({ epochSecond: Number(match[1]), text: match[2] });
      }
    }
    return lines;
  }

  /** CONNECTs the broker answered since log line `from`: accepted and rejected logins. */
  connects(from = 0): BrokerLogLine[] {
    return this.logLines()
      .slice(from)
      .filter((line) => line.text.startsWith("New client connected") || line.text.includes("not authorised"));
  }
}
