import { spawnSync } from "node:child_process";
import { existsSync, mkdtempSync, rmSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { pathToFileURL } from "node:url";
import { afterAll, beforeAll, describe, expect, it } from "vitest";

// The child runs the built logger (`npm test` builds dist/ first); a TS child would need a loader.
const SOURCE = new URL("../../src/logging/logger.ts", import.meta.url).pathname;
const BUILT = new URL("../../dist/src/logging/logger.js", import.meta.url).pathname;

/**
 * Logs one line per level to its stdout (a pipe). JOURNAL_STREAM is what systemd sets when stdout is
 * the journal: "<device>:<inode>" of that stream (systemd.exec(5)); the child computes it for its
 * own stdout when asked, or takes the given value.
 */
const CHILD = `
import { fstatSync } from "node:fs";
const mode = process.argv[2];
if (mode === "journal") {
  const stat = fstatSync(1);
  process.env.JOURNAL_STREAM = stat.dev + ":" + stat.ino;
} else if (mode === "other-stream") {
  process.env.JOURNAL_STREAM = "1:2";
} else {
  delete process.env.JOURNAL_STREAM;
}
const { createLogger } = await import(process.argv[3]);
const log = createLogger({ level: "debug", format: process.argv[4] ?? "auto" });
log.debug("debug line");
log.info({ state: "online" }, "info line");
log.warn("warn line");
log.error({ err: new Error("boom") }, "error line");
log.fatal("fatal line");
`;

describe("journald priority prefix", () => {
  let dir: string;
  let child: string;

  beforeAll(() => {
    if (!existsSync(BUILT) || statSync(BUILT).mtimeMs < statSync(SOURCE).mtimeMs) {
      throw new Error("dist/src/logging/logger.js is missing or older than its source: run `npm run build`");
    }
    dir = mkdtempSync(join(tmpdir(), "cw-agent-journal-"));
    child = join(dir, "child.mjs");
    writeFileSync(child, CHILD);
  });
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  function run(mode: "journal" | "other-stream" | "terminal", format = "auto"): string[] {
    const result = spawnSync(process.execPath, [child, mode, pathToFileURL(BUILT).href, format], {
      encoding: "utf8",
      stdio: ["ignore", "pipe", "pipe"],
    });
    expect(result.stderr).toBe("");
    expect(result.status).toBe(0);
    return result.stdout.split("\n").filter((line) => line !== "");
  }

  it("prefixes each JSON line with <N> for its syslog priority when stdout is the journal", () => {
    const lines = run("journal");
    expect(lines.map((line) => /^<(\d)>\{/.exec(line)?.[1])).toEqual(["7", "6", "4", "3", "2"]);
    // `journalctl -o cat` shows what follows the prefix: still one plain JSON object per line.
    const records = lines.map(
      (line) => JSON.parse(line.replace(/^<\d>/, "")) as { level: number; msg: string },
    );
    expect(records.map((record) => [record.level, record.msg])).toEqual([
      [20, "debug line"],
      [30, "info line"],
      [40, "warn line"],
      [50, "error line"],
      [60, "fatal line"],
    ]);
  });

  it.each(["terminal", "other-stream"] as const)("writes plain JSON lines without prefix (%s)", (mode) => {
    const lines = run(mode);
    expect(lines).toHaveLength(5);
    for (const line of lines) expect(line.startsWith("{")).toBe(true);
  });

  it("keeps the <N> prefix when the lines are forced readable (CW_AGENT_LOG_FORMAT=pretty)", () => {
    const lines = run("journal", "pretty");
    // The error's stack follows its line, each line with the error's priority.
    const stack = lines.filter((line) => /^<3> {4}at /.test(line));
    expect(stack.length).toBeGreaterThan(0);
    expect(
      lines
        .filter((line) => !stack.includes(line))
        .map((line) => /^<(\d)>\d\d:\d\d:\d\d\.\d{3} ([A-Z]+) +(.*)$/.exec(line)?.slice(1)),
    ).toEqual([
      ["7", "DEBUG", "debug line"],
      ["6", "INFO", "info line  state=online"],
      ["4", "WARN", "warn line"],
      ["3", "ERROR", "error line  err=boom"],
      ["2", "FATAL", "fatal line"],
    ]);
  });
});
