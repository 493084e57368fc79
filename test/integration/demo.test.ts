import { type ChildProcess, execFile, spawn } from "node:child_process";
import { mkdtempSync, readdirSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { promisify } from "node:util";
import { afterAll, afterEach, describe, expect, it } from "vitest";
import { scaled } from "../time-scale.js";

const ROOT = new URL("../../", import.meta.url).pathname;
const DEMO = new URL("../../dist/scripts/demo.js", import.meta.url).pathname;
const run = promisify(execFile);

const parents: string[] = [];
const demos: Demo[] = [];
afterEach(() => {
  for (const demo of demos.splice(0)) demo.killAll();
});
afterAll(() => {
  for (const dir of parents.splice(0)) rmSync(dir, { recursive: true, force: true });
});

/**
 * `npm run demo` as a process of its own (its own process group, like a shell job), with TMPDIR
 * pointing at an empty directory: whatever the demo leaves behind is in there.
 */
class Demo {
  readonly tmp = mkdtempSync(join(tmpdir(), "cw-agent-demo-test-"));
  readonly child: ChildProcess;
  readonly exited: Promise<number | null>;
  output = "";
  private readonly waiters = new Set<() => void>();

  constructor(args: string[]) {
    parents.push(this.tmp);
    this.child = spawn(process.execPath, [DEMO, "--json", ...args], {
      cwd: ROOT,
      env: { PATH: process.env.PATH ?? "/usr/bin:/bin", TMPDIR: this.tmp },
      stdio: ["ignore", "pipe", "ignore"],
      detached: true,
    });
    this.child.stdout?.setEncoding("utf8").on("data", (chunk: string) => {
      this.output += chunk;
      for (const waiter of this.waiters) waiter();
    });
    this.exited = new Promise((resolve) => this.child.once("exit", (code) => resolve(code)));
  }

  /** Resolves with the first match of `pattern` in the output so far or to come. */
  waitFor(pattern: RegExp, timeoutMs = scaled(30_000)): Promise<RegExpExecArray> {
    return new Promise((resolve, reject) => {
      const check = () => {
        const match = pattern.exec(this.output);
        if (match === null) return;
        clearTimeout(timer);
        this.waiters.delete(check);
        resolve(match);
      };
      const timer = setTimeout(() => {
        this.waiters.delete(check);
        reject(new Error(`timed out waiting for ${pattern}:\n${this.output.slice(-2000)}`));
      }, timeoutMs);
      this.waiters.add(check);
      check();
    });
  }

  /** The pid of the agent process, from its first JSON log line. */
  async agentPid(): Promise<number> {
    return Number((await this.waitFor(/^\{"level":\d+,"time":\d+,"pid":(\d+)/m))[1]);
  }

  leftovers(): string[] {
    return readdirSync(this.tmp);
  }

  killAll(): void {
    try {
      if (this.child.pid !== undefined) process.kill(-this.child.pid, "SIGKILL");
    } catch {
      // already gone
    }
  }
}

function start(...args: string[]): Demo {
  const demo = new Demo(args);
  demos.push(demo);
  return demo;
}

async function gone(pid: number): Promise<boolean> {
  const deadline = Date.now() + scaled(10_000);
  for (;;) {
    try {
      process.kill(pid, 0);
    } catch {
      return true;
    }
    if (Date.now() > deadline) return false;
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

/** Runs one of the CLI lines the demo printed, from the repository root as the demo says. */
async function runPrinted(line: string) {
  // The agent's commands go through the launcher, which runs the first node on PATH: this one.
  const [first, ...args] = line.trim().split(" ");
  expect(["bin/cw-agent", "node"]).toContain(first);
  return run(first === "node" ? process.execPath : (first as string), args, {
    cwd: ROOT,
    env: { PATH: `${dirname(process.execPath)}:${process.env.PATH ?? "/usr/bin:/bin"}` },
  });
}

describe("npm run demo", () => {
  it("prints CLI lines that reach its agent; on SIGTERM it stops the agent and removes its directory", async () => {
    const demo = start();
    const agentPid = await demo.agentPid();
    const envFile = (await demo.waitFor(/Agent settings: (\S+\/demo\.env)/))[1] as string;
    expect(envFile.startsWith(demo.tmp)).toBe(true);
    const status = (await demo.waitFor(/^ {4}(bin\/cw-agent status --env-file \S+)$/m))[1] as string;
    const identify = (await demo.waitFor(/^ {4}(bin\/cw-agent identify 10 --env-file \S+)$/m))[1] as string;
    expect(status).toContain(envFile);
    await demo.waitFor(/"state":"online"/);

    const shown = await runPrinted(status);
    expect(shown.stdout).toContain("cw-agent demo-agent: Online");
    expect(shown.stdout).toMatch(new RegExp(`agent +running \\(pid ${agentPid},`));
    expect((await runPrinted(identify)).stdout).toContain("showing IDENTIFY on its display for 10 s");
    // The simulator's cmd line sends the command over MQTT, as Connectware would.
    const remote = (
      await demo.waitFor(/^ {4}(node \S+cli\.js --admin \S+ cmd demo-agent status)$/m)
    )[1] as string;
    const reply = await runPrinted(remote);
    expect(JSON.parse(reply.stdout)).toMatchObject({
      ok: true,
      result: { agentName: "demo-agent", state: "online" },
    });

    demo.child.kill("SIGTERM");
    expect(await demo.exited).toBe(0);
    expect(await gone(agentPid)).toBe(true);
    expect(demo.leftovers()).toEqual([]);
  });

  it("Ctrl-C (SIGINT to the whole process group) cleans up", async () => {
    const demo = start();
    const agentPid = await demo.agentPid();
    // Registering: the agent handles signals by now (it may never be registry-locked on a slow
    // machine, when its first request comes after the demo unlocked the registry).
    await demo.waitFor(/"state":"registering"/);
    process.kill(-(demo.child.pid as number), "SIGINT");
    expect(await demo.exited).toBe(0);
    expect(await gone(agentPid)).toBe(true);
    expect(demo.leftovers()).toEqual([]);
  });

  it.each(["SIGINT", "SIGHUP"] as const)("%s to the demo alone cleans up", async (signal) => {
    const demo = start();
    const agentPid = await demo.agentPid();
    demo.child.kill(signal);
    await demo.exited;
    expect(await gone(agentPid)).toBe(true);
    expect(demo.leftovers()).toEqual([]);
  });

  it("a closed output pipe (EPIPE, as `npm start | head`) cleans up", async () => {
    const demo = start();
    const agentPid = await demo.agentPid();
    // The demo writes again at the latest when the agent reports a state change.
    demo.child.stdout?.destroy();
    await demo.exited;
    expect(await gone(agentPid)).toBe(true);
    expect(demo.leftovers()).toEqual([]);
  });

  it("--exit-when-online ends by itself, with nothing left behind", async () => {
    const demo = start("--exit-when-online");
    const agentPid = await demo.agentPid();
    expect(await demo.exited).toBe(0);
    expect(demo.output).toContain('"state":"online"');
    expect(await gone(agentPid)).toBe(true);
    expect(demo.leftovers()).toEqual([]);
  });

  it("--manual leaves unlocking and granting to the user, with the commands to do it", async () => {
    const demo = start("--manual");
    const unlock = (
      await demo.waitFor(/^ {4}(node dist\/scripts\/connectware-sim\/cli\.js --admin \S+ unlock)$/m)
    )[1];
    await demo.waitFor(/"state":"registry-locked"/);
    // Well past the moment the automatic administrator would have unlocked it: still locked.
    await new Promise((resolve) => setTimeout(resolve, 3_000));
    expect(demo.output).not.toContain('"state":"pending"');
    expect(demo.output).not.toContain("Administrator: unlocked");

    await runPrinted(unlock as string);
    const grant = (
      await demo.waitFor(
        /^ {4}(node dist\/scripts\/connectware-sim\/cli\.js --admin \S+ grant [0-9a-f]{6})$/m,
      )
    )[1];
    await new Promise((resolve) => setTimeout(resolve, 1_000));
    expect(demo.output).not.toContain('"state":"online"');
    await runPrinted(grant as string);
    await demo.waitFor(/"state":"online"/);

    demo.child.kill("SIGINT");
    expect(await demo.exited).toBe(0);
    expect(demo.leftovers()).toEqual([]);
  });
});
