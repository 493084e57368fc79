import { spawnSync } from "node:child_process";
import { mkdtempSync, rmSync, statSync } from "node:fs";
import net from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import {
  ControlServer,
  ControlSocketInUseError,
  type ControlTarget,
  controlSocketPath,
  sendControlRequest,
} from "../../src/control/index.js";
import { type AgentStatus, Lifecycle } from "../../src/lifecycle/lifecycle.js";
import { createLogger } from "../../src/logging/logger.js";

const servers: ControlServer[] = [];
const directories: string[] = [];

afterEach(async () => {
  await Promise.all(servers.splice(0).map((server) => server.stop()));
  for (const directory of directories.splice(0)) rmSync(directory, { recursive: true, force: true });
});

function socketPath(): string {
  const directory = mkdtempSync(join(tmpdir(), "cw-agent-control-"));
  directories.push(directory);
  return join(directory, "control.sock");
}

function fakeAgent() {
  const lifecycle = new Lifecycle({
    agentName: "gw-ctl",
    username: "gw-ctl",
    broker: "127.0.0.1:1883",
    registry: "http://127.0.0.1:8080",
  });
  const calls: string[] = [];
  const lines: Record<string, unknown>[] = [];
  const logger = createLogger({
    level: "debug",
    destination: { write: (line: string) => lines.push(JSON.parse(line) as Record<string, unknown>) },
  });
  const target: ControlTarget & { observe: Lifecycle["observe"] } = {
    status: (): AgentStatus => lifecycle.current,
    startedAt: 1_000,
    resetCredentials: () => calls.push("reset"),
    identify: (seconds) => calls.push(`identify ${seconds}`),
    displayHealth: () => ({ description: "ssd1306 on /dev/i2c-1", working: false, error: "EPERM" }),
    observe: (observer) => lifecycle.observe(observer),
  };
  return { lifecycle, calls, lines, logger, target };
}

/** Starts a server on `path`; stopped after the test, even when it failed to start. */
async function startServer(path: string, agent: ReturnType<typeof fakeAgent>): Promise<ControlServer> {
  const server = new ControlServer(path, agent.target, agent.logger);
  servers.push(server);
  await server.start();
  return server;
}

/** Sends raw bytes and collects everything the server answers until it closes. */
function rawExchange(path: string, payload: string | Buffer): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = net.connect(path);
    let answer = "";
    socket.setEncoding("utf8");
    socket.on("data", (chunk: string) => {
      answer += chunk;
    });
    socket.on("error", reject);
    socket.on("close", () => resolve(answer));
    socket.on("connect", () => socket.write(payload));
  });
}

/** A process killed with SIGKILL while listening leaves its socket file behind, as a crashed agent does. */
function leaveStaleSocket(path: string): void {
  const child = spawnSync(process.execPath, [
    "-e",
    `require("node:net").createServer().listen(${JSON.stringify(path)}, () => process.kill(process.pid, "SIGKILL"))`,
  ]);
  expect(child.signal).toBe("SIGKILL");
}

describe("control socket server", () => {
  it("socket path: first RUNTIME_DIRECTORY entry, else the state directory", () => {
    expect(controlSocketPath({ RUNTIME_DIRECTORY: "/run/cw-agent/a:/run/other" }, "/var/lib/x")).toBe(
      "/run/cw-agent/a/control.sock",
    );
    expect(controlSocketPath({}, "/var/lib/x")).toBe("/var/lib/x/control.sock");
  });

  it("answers status, identify and reset; socket mode 0600; stop removes the file", async () => {
    const agent = fakeAgent();
    const path = socketPath();
    const server = await startServer(path, agent);
    expect(statSync(path).mode & 0o777).toBe(0o600);

    agent.lifecycle.transition("registering");
    agent.lifecycle.transition("pending", { pairingId: "a1b2c3" });
    const status = await sendControlRequest(path, { command: "status" });
    expect(status).toMatchObject({
      ok: true,
      status: {
        state: "pending",
        pairingId: "a1b2c3",
        description: "Waiting for authorization, pairing ID a1b2c3",
        startedAt: 1_000,
        pid: process.pid,
        display: { description: "ssd1306 on /dev/i2c-1", working: false, error: "EPERM" },
      },
    });

    expect(await sendControlRequest(path, { command: "identify", seconds: 7 })).toMatchObject({ ok: true });
    expect(await sendControlRequest(path, { command: "reset" })).toMatchObject({ ok: true });
    expect(agent.calls).toEqual(["identify 7", "reset"]);

    await server.stop();
    expect(() => statSync(path)).toThrow(/ENOENT/);
  });

  it("remembers the last error after the agent recovered", async () => {
    const agent = fakeAgent();
    const path = socketPath();
    await startServer(path, agent);
    agent.lifecycle.transition("connecting");
    agent.lifecycle.transition("reconnecting", {
      lastError: "to mqtt://127.0.0.1:1883 failed (connection refused)",
    });
    agent.lifecycle.transition("online");
    const answer = await sendControlRequest(path, { command: "status" });
    expect(answer).toMatchObject({
      ok: true,
      status: {
        state: "online",
        lastError: { message: "to mqtt://127.0.0.1:1883 failed (connection refused)" },
      },
    });
  });

  it("answers bad requests with JSON errors and bounds the request size", async () => {
    const agent = fakeAgent();
    const path = socketPath();
    await startServer(path, agent);
    const parse = (text: string) => JSON.parse(text.trim()) as { ok: boolean; error?: string };

    expect(parse(await rawExchange(path, "not json\n"))).toEqual({
      ok: false,
      error: "request is not valid JSON",
    });
    expect(parse(await rawExchange(path, '{"command":"format-disk"}\n')).error).toMatch(/unknown command/);
    expect(parse(await rawExchange(path, '{"command":"identify","seconds":0}\n')).error).toMatch(
      /positive integer/,
    );
    expect(parse(await rawExchange(path, '{"command":"identify","seconds":99999}\n')).error).toMatch(
      /at most/,
    );
    expect(parse(await rawExchange(path, Buffer.alloc(10_000, 0x61))).error).toMatch(
      /longer than 4096 bytes/,
    );
    expect(agent.calls).toEqual([]);
  });

  it("replaces a stale socket left by a killed agent, refuses one that still answers", async () => {
    const path = socketPath();
    const stale = net.createServer();
    await new Promise<void>((resolve) => stale.listen(path, resolve));
    const live = fakeAgent();
    await expect(startServer(path, live)).rejects.toBeInstanceOf(ControlSocketInUseError);
    await new Promise<void>((resolve) => stale.close(() => resolve()));
    leaveStaleSocket(path);
    expect(statSync(path).isSocket()).toBe(true);

    await startServer(path, live);
    expect(await sendControlRequest(path, { command: "status" })).toMatchObject({ ok: true });
  });

  it("a server that never listened leaves the socket file alone when stopped", async () => {
    const path = socketPath();
    const other = net.createServer();
    await new Promise<void>((resolve) => other.listen(path, resolve));
    const agent = fakeAgent();
    const server = new ControlServer(path, agent.target, agent.logger);
    await expect(server.start()).rejects.toBeInstanceOf(ControlSocketInUseError);
    await server.stop();
    expect(statSync(path).isSocket()).toBe(true);
    await new Promise<void>((resolve) => other.close(() => resolve()));
  });
});
