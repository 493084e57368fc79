import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { AGENT_VERSION } from "../../src/version.js";
import { capture, withoutColours } from "./terminal.js";

const CLI = new URL("../../dist/src/cli.js", import.meta.url).pathname;
const dirs: string[] = [];
afterAll(() => {
  for (const dir of dirs.splice(0)) rmSync(dir, { recursive: true, force: true });
});

/** `cw-agent run` until it logged its pairing ID (nothing listens on port 1), then SIGTERM. */
function runAgent(extra: Record<string, string>, terminal: boolean) {
  const dir = mkdtempSync(join(tmpdir(), "cw-agent-logfmt-"));
  dirs.push(dir);
  const env = {
    PATH: process.env.PATH ?? "/usr/bin:/bin",
    TERM: "xterm-256color",
    CYBUS_AGENT_NAME: "gw-logfmt",
    CYBUS_MQTT_HOST: "127.0.0.1",
    CYBUS_MQTT_PORT: "1",
    CW_AGENT_REGISTRY_URL: "http://127.0.0.1:1",
    CW_AGENT_STATE_DIR: join(dir, "state"),
    CW_AGENT_REGISTRY_PENDING_POLL_MS: "200",
    ...extra,
  };
  return capture([process.execPath, CLI, "run"], env, {
    terminal,
    stopAt: /pairing ID \(should match in UI\)/,
  });
}

const FIRST_LINE =
  /^\d\d:\d\d:\d\d\.\d{3} INFO {2}Starting in distributed \(edge\) mode {2}version=(\S+) agentName=gw-logfmt broker=mqtt:\/\/127\.0\.0\.1:1 registry=http:\/\/127\.0\.0\.1:1$/;

const lines = (text: string) => text.split("\n").filter((line) => line !== "");

describe("log format of cw-agent run", () => {
  it("on a terminal: readable, coloured lines; the first names version, agent, broker and registry", async () => {
    const result = await runAgent({}, true);
    expect(result.code).toBe(0);
    const output = lines(result.stdout);
    expect(output.some((line) => line.startsWith("{"))).toBe(false);
    expect(result.stdout).toContain("\x1b[32mINFO \x1b[0m");
    const plain = output.map(withoutColours);
    expect(plain[0]).toMatch(FIRST_LINE);
    expect(FIRST_LINE.exec(plain[0] ?? "")?.[1]).toBe(AGENT_VERSION);
    expect(plain).toContainEqual(
      expect.stringMatching(
        / INFO {2}\[registration\] Username: gw-logfmt, pairing ID \(should match in UI\): [0-9a-f]{6}$/,
      ),
    );
    expect(plain.at(-1)).toMatch(/ INFO {2}\[agent\] Stopped {2}state=stopped$/);
  });

  it("on a terminal with NO_COLOR: readable lines without colours", async () => {
    const result = await runAgent({ NO_COLOR: "1" }, true);
    expect(result.code).toBe(0);
    expect(result.stdout).not.toContain("\x1b");
    expect(lines(result.stdout)[0]).toMatch(FIRST_LINE);
  });

  it("on a terminal with CW_AGENT_LOG_FORMAT=json: JSON lines", async () => {
    const result = await runAgent({ CW_AGENT_LOG_FORMAT: "json" }, true);
    expect(result.code).toBe(0);
    for (const line of lines(result.stdout)) expect(() => JSON.parse(line)).not.toThrow();
  });

  it("in a pipe: pino JSON lines, the first with version, agent name, broker and registry", async () => {
    const result = await runAgent({}, false);
    expect(result.code).toBe(0);
    const records = lines(result.stdout).map((line) => JSON.parse(line) as Record<string, unknown>);
    expect(records[0]).toMatchObject({
      level: 30,
      msg: "Starting in distributed (edge) mode",
      version: AGENT_VERSION,
      agentName: "gw-logfmt",
      broker: "mqtt://127.0.0.1:1",
      registry: "http://127.0.0.1:1",
    });
  });

  it("in a pipe with CW_AGENT_LOG_FORMAT=pretty: readable lines, coloured only with FORCE_COLOR", async () => {
    const plain = await runAgent({ CW_AGENT_LOG_FORMAT: "pretty" }, false);
    expect(plain.code).toBe(0);
    expect(plain.stdout).not.toContain("\x1b");
    expect(lines(plain.stdout)[0]).toMatch(FIRST_LINE);

    const forced = await runAgent({ CW_AGENT_LOG_FORMAT: "pretty", FORCE_COLOR: "1" }, false);
    expect(forced.stdout).toContain("\x1b[32mINFO \x1b[0m");
    expect(withoutColours(lines(forced.stdout)[0] ?? "")).toMatch(FIRST_LINE);
  });

  it("an invalid CW_AGENT_LOG_FORMAT is a configuration error (78)", async () => {
    const result = await runAgent({ CW_AGENT_LOG_FORMAT: "fancy" }, false);
    expect(result.code).toBe(78);
    expect(result.stdout).toContain("CW_AGENT_LOG_FORMAT");
  });
});
