import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { Lifecycle } from "../../src/lifecycle/lifecycle.js";
import { createLogger } from "../../src/logging/logger.js";
import {
  SystemdNotifier,
  type SystemdNotifierDeps,
  sanitizeStatus,
  watchdogInterval,
} from "../../src/systemd/notify.js";
import { HAVE_PYTHON, HAVE_SYSTEMD_NOTIFY, NotifyListener } from "./notify-listener.js";

const identity = {
  agentName: "gw-1",
  username: "gw-1",
  broker: "connectware.local:8883",
  registry: "https://connectware.local",
};

/** A logger whose lines the test can read. */
function capturingLogger() {
  const lines: { level: number; msg: string; kind?: string }[] = [];
  const logger = createLogger({
    level: "debug",
    destination: { write: (line: string) => void lines.push(JSON.parse(line)) },
  });
  return { logger, lines };
}

/** A fake interval: the test decides when the watchdog ticks, so it counts pings instead of timing them. */
function manualTimer() {
  const state = {
    ms: undefined as number | undefined,
    tick: undefined as (() => void) | undefined,
    cancelled: 0,
  };
  const every: NonNullable<SystemdNotifierDeps["every"]> = (tick, ms) => {
    if (state.tick !== undefined) throw new Error("interval started twice");
    state.tick = tick;
    state.ms = ms;
    return () => {
      state.cancelled++;
      state.tick = undefined;
    };
  };
  return { state, every };
}

describe("watchdogInterval and sanitizeStatus", () => {
  it("pings at half of WATCHDOG_USEC, only when WATCHDOG_PID is unset or ours", () => {
    expect(watchdogInterval({ WATCHDOG_USEC: "30000000" }, 42)).toBe(15_000);
    expect(watchdogInterval({ WATCHDOG_USEC: "30000000", WATCHDOG_PID: "42" }, 42)).toBe(15_000);
    expect(watchdogInterval({ WATCHDOG_USEC: "30000000", WATCHDOG_PID: "41" }, 42)).toBeUndefined();
    expect(watchdogInterval({}, 42)).toBeUndefined();
    expect(watchdogInterval({ WATCHDOG_USEC: "0" }, 42)).toBeUndefined();
    expect(watchdogInterval({ WATCHDOG_USEC: "soon" }, 42)).toBeUndefined();
  });

  it("keeps a status on one line so it cannot inject another assignment", () => {
    expect(sanitizeStatus("Failed: boom\nMAINPID=1\r\n\0x")).toBe("Failed: boom MAINPID=1 x");
    expect(sanitizeStatus("x".repeat(1000))).toHaveLength(400);
  });
});

describe("without NOTIFY_SOCKET", () => {
  let dir: string;
  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), "cw-agent-nonotify-"));
  });
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  it("sends nothing, fails nothing and spawns no process", async () => {
    // A stand-in binary that leaves a trace if it is ever run.
    const marker = join(dir, "ran");
    const command = join(dir, "systemd-notify");
    writeFileSync(command, `#!/bin/sh\ntouch '${marker}'\n`, { mode: 0o755 });
    const timer = manualTimer();
    const { logger, lines } = capturingLogger();
    const notifier = new SystemdNotifier({ WATCHDOG_USEC: "1000000" }, logger, {
      command,
      every: timer.every,
    });
    const lifecycle = new Lifecycle(identity);
    lifecycle.observe(notifier.observe);
    lifecycle.transition("connecting");
    notifier.start();
    await notifier.ready();
    await notifier.stopping();
    await notifier.stop();

    expect(notifier.enabled).toBe(false);
    expect(notifier.watchdogIntervalMs).toBeUndefined();
    expect(timer.state.tick).toBeUndefined();
    expect(existsSync(marker)).toBe(false);
    expect(lines).toEqual([]);
  });
});

describe("with a status source", () => {
  let dir: string;
  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), "cw-agent-notify-source-"));
  });
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  it("observes it from start() to stop()", async () => {
    // A stand-in binary that records each message it is asked to send.
    const sent = join(dir, "sent");
    const command = join(dir, "systemd-notify");
    writeFileSync(command, `#!/bin/sh\necho "$1" >> '${sent}'\n`, { mode: 0o755 });
    const lifecycle = new Lifecycle(identity);
    const notifier = new SystemdNotifier({ NOTIFY_SOCKET: join(dir, "notify") }, capturingLogger().logger, {
      command,
      statuses: lifecycle,
    });
    lifecycle.transition("registering");
    notifier.start();
    lifecycle.transition("pending", { pairingId: "a82123" });
    await notifier.stop();
    lifecycle.transition("connecting");
    await notifier.flush();

    expect(readFileSync(sent, "utf8").split("\n").filter(Boolean)).toEqual([
      "STATUS=Registering at https://connectware.local",
      "STATUS=Waiting for authorization, pairing ID a82123",
    ]);
  });
});

describe.skipIf(!HAVE_PYTHON || !HAVE_SYSTEMD_NOTIFY)(
  "notify protocol with the real systemd-notify binary",
  () => {
    let listener: NotifyListener;
    beforeEach(async () => {
      listener = await NotifyListener.start();
    });
    afterEach(async () => {
      await listener.stop();
    });

    it("sends READY=1 once, STATUS= per state change in order, and STOPPING=1", async () => {
      const { logger, lines } = capturingLogger();
      const notifier = new SystemdNotifier(
        { NOTIFY_SOCKET: listener.socketPath, PATH: process.env.PATH },
        logger,
      );
      const lifecycle = new Lifecycle(identity);
      lifecycle.observe(notifier.observe);
      // Nothing is awaited in between: the notifier alone keeps the order.
      void notifier.ready();
      lifecycle.transition("registering");
      lifecycle.transition("pending", { pairingId: "a82123" });
      lifecycle.transition("pending", { pairingId: "a82123", nextAttemptAt: 1 }); // same text: not sent again
      lifecycle.transition("connecting");
      void notifier.ready(); // only the first call sends
      lifecycle.transition("online");
      void notifier.stopping();
      lifecycle.transition("stopping");
      lifecycle.transition("stopped");
      await notifier.flush();

      const expected = [
        "STATUS=Starting",
        "READY=1",
        "STATUS=Registering at https://connectware.local",
        "STATUS=Waiting for authorization, pairing ID a82123",
        "STATUS=Connecting (connectware.local:8883)",
        "STATUS=Online (connectware.local:8883)",
        "STOPPING=1",
        "STATUS=Stopping",
        "STATUS=Stopped",
      ];
      await listener.until((l) => l.messages.length >= expected.length && l.barriers >= expected.length);
      expect(listener.messages).toEqual(expected);
      // systemd-notify waits on a barrier after each message, so the manager has seen it before it exits.
      expect(listener.barriers).toBe(expected.length);
      expect(lines).toEqual([]);
    });

    it("never sends READY=1 after STOPPING=1 (a signal during start-up)", async () => {
      const { logger } = capturingLogger();
      const notifier = new SystemdNotifier({ NOTIFY_SOCKET: listener.socketPath }, logger);
      void notifier.stopping();
      void notifier.ready();
      await notifier.flush();
      await listener.until((l) => l.barriers >= 1);
      expect(listener.messages).toEqual(["STOPPING=1"]);
    });

    it("sends a failure text as one STATUS= line", async () => {
      const { logger } = capturingLogger();
      const notifier = new SystemdNotifier({ NOTIFY_SOCKET: listener.socketPath }, logger);
      const lifecycle = new Lifecycle(identity);
      lifecycle.transition("failed", { lastError: "database unusable\nMAINPID=1" });
      lifecycle.observe(notifier.observe);
      await notifier.flush();
      await listener.until((l) => l.messages.length >= 1);
      expect(listener.messages).toEqual(["STATUS=Failed: database unusable MAINPID=1"]);
    });

    it("pings WATCHDOG=1 once per interval tick at half of WATCHDOG_USEC, never piling up", async () => {
      const { logger } = capturingLogger();
      const timer = manualTimer();
      const notifier = new SystemdNotifier(
        { NOTIFY_SOCKET: listener.socketPath, WATCHDOG_USEC: "3000000", WATCHDOG_PID: String(process.pid) },
        logger,
        { every: timer.every },
      );
      expect(notifier.watchdogIntervalMs).toBe(1500);
      notifier.start();
      notifier.start(); // idempotent: manualTimer throws on a second interval
      expect(timer.state.ms).toBe(1500);

      for (let i = 0; i < 3; i++) {
        timer.state.tick?.();
        await notifier.flush();
      }
      // Two ticks while a ping is still in flight send one ping: a slow systemd-notify must not pile up.
      timer.state.tick?.();
      timer.state.tick?.();
      await notifier.flush();
      await notifier.stop();
      expect(timer.state.cancelled).toBe(1);
      expect(timer.state.tick).toBeUndefined();

      await listener.until((l) => l.messages.length >= 4);
      expect(listener.messages).toEqual(["WATCHDOG=1", "WATCHDOG=1", "WATCHDOG=1", "WATCHDOG=1"]);
    });

    it("pings from a real unref'd interval", async () => {
      const { logger } = capturingLogger();
      // 100 ms watchdog: pings every 50 ms. The test waits for three, whenever they come.
      const notifier = new SystemdNotifier(
        { NOTIFY_SOCKET: listener.socketPath, WATCHDOG_USEC: "100000" },
        logger,
      );
      notifier.start();
      await listener.until((l) => l.messages.filter((m) => m === "WATCHDOG=1").length >= 3);
      await notifier.stop();
      expect(new Set(listener.messages)).toEqual(new Set(["WATCHDOG=1"]));
    });

    it("does not ping when WATCHDOG_PID names another process", async () => {
      const { logger } = capturingLogger();
      const timer = manualTimer();
      const notifier = new SystemdNotifier(
        {
          NOTIFY_SOCKET: listener.socketPath,
          WATCHDOG_USEC: "3000000",
          WATCHDOG_PID: String(process.pid + 1),
        },
        logger,
        { every: timer.every },
      );
      notifier.start();
      expect(notifier.enabled).toBe(true);
      expect(notifier.watchdogIntervalMs).toBeUndefined();
      expect(timer.state.tick).toBeUndefined();
    });

    it("logs a failing systemd-notify once per kind and never rejects", async () => {
      const { logger, lines } = capturingLogger();
      // The real binary, but nobody listens on this socket: it exits non-zero.
      const notifier = new SystemdNotifier({ NOTIFY_SOCKET: `${listener.socketPath}.absent` }, logger);
      const lifecycle = new Lifecycle(identity);
      lifecycle.observe(notifier.observe);
      lifecycle.transition("registering");
      lifecycle.transition("connecting");
      await expect(notifier.ready()).resolves.toBeUndefined();
      await expect(notifier.stopping()).resolves.toBeUndefined();
      await notifier.flush();

      const warnings = lines.filter((line) => line.level === 40);
      expect(warnings.map((line) => line.kind)).toEqual(["status", "ready", "stopping"]);
      expect(listener.datagrams).toEqual([]);
    });

    it("logs a missing binary once and keeps going", async () => {
      const { logger, lines } = capturingLogger();
      const notifier = new SystemdNotifier({ NOTIFY_SOCKET: listener.socketPath }, logger, {
        command: "/nonexistent/systemd-notify",
      });
      await notifier.ready();
      notifier.observe(new Lifecycle(identity).current, undefined);
      await notifier.flush();
      expect(lines.map((line) => line.kind)).toEqual(["ready", "status"]);
    });
  },
);
