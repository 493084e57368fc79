/**
 * The cw-agent launcher (bin/cw-agent, also the package's /usr/bin/cw-agent): Node.js acts on an
 * --env-file anywhere on its command line, also among the script's arguments (nodejs/node#54232),
 * so the launcher hands such arguments to the agent escaped. Every case runs the launcher as an
 * operator would, with the node that runs this suite first on PATH.
 */
import { spawnSync } from "node:child_process";
import { chmodSync, existsSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";

const LAUNCHER = new URL("../../bin/cw-agent", import.meta.url).pathname;
const AS_ROOT = process.getuid?.() === 0;
// Root reads any file; without these two capabilities it meets file modes like anyone else.
const DROP_FILE_OVERRIDES = ["setpriv", "--bounding-set", "-dac_override,-dac_read_search", "--"];

const root = mkdtempSync(join(tmpdir(), "cw-agent-launcher-"));
afterAll(() => rmSync(root, { recursive: true, force: true }));

function launch(args: string[], options: { asUser?: boolean; env?: Record<string, string> } = {}) {
  const [command, ...rest] =
    options.asUser && AS_ROOT ? [...DROP_FILE_OVERRIDES, LAUNCHER, ...args] : [LAUNCHER, ...args];
  const result = spawnSync(command as string, rest, {
    env: { PATH: `${dirname(process.execPath)}:/usr/bin:/bin`, ...options.env },
    encoding: "utf8",
    stdio: ["ignore", "pipe", "pipe"],
  });
  if (result.error) throw result.error;
  return { code: result.status, stdout: result.stdout, stderr: result.stderr };
}

describe("cw-agent --env-file through the launcher", () => {
  it("a missing file: the agent's own message naming the file and the reason, exit 66", () => {
    const missing = join(root, "missing.env");
    for (const args of [
      ["status", "--env-file", missing],
      ["status", `--env-file=${missing}`],
      ["check", "--json", "--env-file", missing],
      ["pairing-id", "--instance", "line1", "--env-file", missing],
    ]) {
      expect({ args, ...launch(args) }).toEqual({
        args,
        code: 66,
        stdout: "",
        stderr: `cw-agent: cannot read --env-file ${missing}: no such file (ENOENT)\n`,
      });
    }
  });

  it("an unreadable file: permission denied, with the advice to run as root, exit 66", () => {
    const file = join(root, "unreadable.env");
    writeFileSync(file, "CYBUS_AGENT_NAME=gw-unreadable\n");
    chmodSync(file, 0o000);
    const result = launch(["status", "--env-file", file], { asUser: true });
    expect(result).toEqual({
      code: 66,
      stdout: "",
      stderr: `cw-agent: cannot read --env-file ${file}: permission denied (EACCES); run the command as root (sudo)\n`,
    });
  });

  it("a directory: named as such, exit 66", () => {
    expect(launch(["status", "--env-file", root])).toMatchObject({
      code: 66,
      stderr: `cw-agent: cannot read --env-file ${root}: it is a directory (EISDIR)\n`,
    });
  });

  it("a valid file is read by the agent, and node applies nothing from it", () => {
    const marker = join(root, "node-options-applied");
    const preload = join(root, "preload.cjs");
    writeFileSync(preload, `require("node:fs").writeFileSync(${JSON.stringify(marker)}, "");\n`);
    const file = join(root, "valid.env");
    writeFileSync(
      file,
      [
        "# a gateway's settings",
        "CYBUS_AGENT_NAME=gw-env-file",
        "CYBUS_MQTT_HOST=127.0.0.1",
        `CW_AGENT_STATE_DIR=${join(root, "state")}`,
        // node would apply this line if it read the file itself (it does for `node cli.js --env-file`).
        `NODE_OPTIONS="--require ${preload}"`,
        "",
      ].join("\n"),
    );
    for (const args of [
      ["status", "--env-file", file],
      ["status", `--env-file=${file}`],
    ]) {
      const result = launch(args);
      expect(result.stderr).toBe("");
      expect(result.stdout).toContain("cw-agent gw-env-file: Agent not running");
      expect(result.code).toBe(3);
    }
    const config = launch(["config", "--json", "--env-file", file]);
    expect(config.code).toBe(0);
    const report = JSON.parse(config.stdout) as {
      files: string[];
      settings: { name: string; file: string }[];
    };
    expect(report.files).toEqual([file]);
    expect(report.settings.find((entry) => entry.name === "CYBUS_AGENT_NAME")?.file).toBe(file);
    expect(existsSync(marker)).toBe(false);
  });

  it("arguments reach the agent exactly as typed, also those that look like the launcher's escape", () => {
    const escaped = "--cw-agent-arg=--env-file=x";
    expect(launch(["status", escaped])).toMatchObject({
      code: 64,
      stderr: `cw-agent status: unknown option ${JSON.stringify(escaped)}\nRun "cw-agent status --help" for its usage.\n`,
    });
    expect(launch(["status", "--env-file-if-exists", "x"])).toMatchObject({
      code: 64,
      stderr: expect.stringMatching(/^cw-agent status: unknown option "--env-file-if-exists"\n/),
    });
    expect(launch(["--version"])).toMatchObject({ code: 0, stderr: "" });
  });
});
