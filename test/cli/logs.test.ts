import { spawn } from "node:child_process";
import { chmodSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { scaled } from "../time-scale.js";
import { capture } from "./terminal.js";

const CLI = new URL("../../dist/src/cli.js", import.meta.url).pathname;

/**
 * A journalctl that records its arguments and pid, prints the lines of $FAKE_JOURNAL/lines and,
 * when following, waits to be killed like the real one.
 */
const FAKE_JOURNALCTL = `#!/bin/sh
printf '%s\\n' "$@" > "$FAKE_JOURNAL/args"
echo $$ > "$FAKE_JOURNAL/pid"
cat "$FAKE_JOURNAL/lines"
for arg in "$@"; do
  if [ "$arg" = "-f" ]; then exec sleep 60; fi
done
exit "\${FAKE_JOURNAL_EXIT:-0}"
`;

const TIME = new Date(2026, 10, 25, 8, 14, 2, 7).getTime();
const JOURNAL = [
  JSON.stringify({
    level: 30,
    time: TIME,
    pid: 812,
    hostname: "gw",
    msg: "Starting in distributed (edge) mode",
    version: "0.1.0",
  }),
  "node:internal/process: something the agent did not log as JSON",
  JSON.stringify({
    level: 40,
    time: TIME,
    pid: 812,
    hostname: "gw",
    component: "mqtt",
    msg: "Connection lost",
  }),
];
const PRETTY = [
  "2026-11-25 08:14:02.007 INFO  Starting in distributed (edge) mode  version=0.1.0",
  "node:internal/process: something the agent did not log as JSON",
  "2026-11-25 08:14:02.007 WARN  [mqtt] Connection lost",
];

let dir: string;
let bin: string;
beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), "cw-agent-logs-"));
  bin = join(dir, "bin");
  writeFileSync(join(dir, "lines"), `${JOURNAL.join("\n")}\n`);
  rmSync(bin, { recursive: true, force: true });
  mkdirSync(bin);
  writeFileSync(join(bin, "journalctl"), FAKE_JOURNALCTL);
  chmodSync(join(bin, "journalctl"), 0o755);
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function env(extra: Record<string, string> = {}): Record<string, string> {
  return {
    PATH: `${bin}:${process.env.PATH ?? "/usr/bin:/bin"}`,
    FAKE_JOURNAL: dir,
    TERM: "xterm",
    ...extra,
  };
}
const journalctlArgs = () => readFileSync(join(dir, "args"), "utf8").trimEnd().split("\n");
const journalctlPid = () => Number(readFileSync(join(dir, "pid"), "utf8"));
function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}
async function gone(pid: number): Promise<boolean> {
  const deadline = Date.now() + scaled(5_000);
  while (alive(pid) && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 20));
  return !alive(pid);
}

describe("cw-agent logs", () => {
  it("reads the unit's journal with journalctl -o cat and prints readable lines; other lines unchanged", async () => {
    const result = await capture([process.execPath, CLI, "logs"], env(), { terminal: false });
    expect(result).toMatchObject({ code: 0, stderr: "" });
    expect(journalctlArgs()).toEqual(["-u", "cw-agent", "-o", "cat"]);
    expect(result.stdout).toBe(`${PRETTY.join("\n")}\n`);
  });

  it("passes -n and --since, and reads the unit cw-agent@NAME for --instance", async () => {
    const result = await capture(
      [process.execPath, CLI, "logs", "--instance", "line1", "-n", "50", "--since", "1 hour ago"],
      env(),
      { terminal: false },
    );
    expect(result.code).toBe(0);
    expect(journalctlArgs()).toEqual([
      "-u",
      "cw-agent@line1",
      "-o",
      "cat",
      "-n",
      "50",
      "--since",
      "1 hour ago",
    ]);
  });

  it("colours on a terminal, not with NO_COLOR", async () => {
    const coloured = await capture([process.execPath, CLI, "logs"], env(), { terminal: true });
    expect(coloured.code).toBe(0);
    expect(coloured.stdout).toContain("\x1b[33mWARN \x1b[0m \x1b[36m[mqtt]\x1b[0m Connection lost");
    expect(coloured.stdout).toContain(`\n${JOURNAL[1]}\n`);
    const plain = await capture([process.execPath, CLI, "logs"], env({ NO_COLOR: "1" }), { terminal: true });
    expect(plain.stdout).toBe(`${PRETTY.join("\n")}\n`);
  });

  it.each(["SIGINT", "SIGTERM"] as const)(
    "-f follows until %s, then stops journalctl and exits 0",
    async (signal) => {
      const result = await capture([process.execPath, CLI, "logs", "-f"], env(), {
        terminal: false,
        stopAt: /Connection lost/,
        signal,
      });
      expect(result.code).toBe(0);
      expect(journalctlArgs()).toEqual(["-u", "cw-agent", "-o", "cat", "-f"]);
      expect(result.stdout).toBe(`${PRETTY.join("\n")}\n`);
      expect(await gone(journalctlPid())).toBe(true);
    },
  );

  it("stops journalctl when the reader of its output goes away (EPIPE)", async () => {
    const many = join(dir, "many");
    rmSync(many, { recursive: true, force: true });
    mkdirSync(many);
    writeFileSync(join(many, "lines"), `${Array.from({ length: 20_000 }, () => JOURNAL[2]).join("\n")}\n`);
    const child = spawn(process.execPath, [CLI, "logs", "-f"], {
      env: env({ FAKE_JOURNAL: many }),
      stdio: ["ignore", "pipe", "pipe"],
    });
    let stderr = "";
    child.stderr.setEncoding("utf8").on("data", (chunk: string) => {
      stderr += chunk;
    });
    // Read a little, then close the pipe, as `cw-agent logs -f | head` does.
    await new Promise<void>((resolve) => child.stdout.once("data", () => resolve()));
    child.stdout.destroy();
    const code = await new Promise<number | null>((resolve) => child.once("close", resolve));
    expect(code).toBe(0);
    expect(stderr).toBe("");
    expect(await gone(Number(readFileSync(join(many, "pid"), "utf8")))).toBe(true);
  });

  it("exits with journalctl's code when it fails, and says so when there is no journalctl", async () => {
    const failed = await capture([process.execPath, CLI, "logs"], env({ FAKE_JOURNAL_EXIT: "1" }), {
      terminal: false,
    });
    expect(failed.code).toBe(1);
    const missing = await capture(
      [process.execPath, CLI, "logs"],
      { PATH: "/nonexistent" },
      { terminal: false },
    );
    expect(missing.code).toBe(1);
    expect(missing.stderr).toContain("journalctl not found");
  });

  it.each([
    [["-n", "ten"], '--lines must be a number of lines or "all"'],
    [["--instance", "../etc"], 'invalid --instance "../etc"'],
    [["--since", ""], "--since needs a value (TIME)"],
    [["--verbose"], 'unknown option "--verbose"'],
    [["extra"], 'unexpected argument "extra"'],
  ])("bad usage %j exits 64", async (args, message) => {
    const result = await capture([process.execPath, CLI, "logs", ...args], env(), { terminal: false });
    expect(result.code).toBe(64);
    expect(result.stderr).toContain(message);
    expect(result.stderr).toContain('Run "cw-agent logs --help" for its usage.');
  });
});
