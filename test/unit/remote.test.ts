import { chmodSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { IPublishPacket } from "mqtt";
import { afterEach, describe, expect, it } from "vitest";
import { EXIT_RESTART } from "../../src/exit-codes.js";
import { ActivityLed } from "../../src/indicators/activity-led.js";
import { createLogger } from "../../src/logging/logger.js";
import type { Publish } from "../../src/mqtt/session.js";
import { birthRecord } from "../../src/remote/birth-record.js";
import { runCheck } from "../../src/remote/check.js";
import { CommandError } from "../../src/remote/command-handler.js";
import { Remote } from "../../src/remote/remote.js";
import { loadSettings } from "../../src/settings.js";
import { FAKE_BTIME_S, FAKE_MODEL, type FakeMachine, fakeMachine } from "../fakes/fake-machine.js";

const machines: FakeMachine[] = [];
const dirs: string[] = [];
afterEach(() => {
  for (const machine of machines.splice(0)) machine.remove();
  for (const dir of dirs.splice(0)) rmSync(dir, { recursive: true, force: true });
});

function newMachine(): FakeMachine {
  const machine = fakeMachine();
  machines.push(machine);
  return machine;
}

const silent = createLogger({ level: "silent", destination: { write: () => {} } });

describe("ActivityLed", () => {
  it("hands the ACT LED to the timer trigger for identify, then gives its own trigger back", async () => {
    const machine = newMachine();
    const led = new ActivityLed(machine.sysfsRoot, silent);
    expect(led.available()).toBe(true);
    expect(led.identify(1)).toBe(true);
    expect(machine.read("sys/class/leds/ACT/trigger")).toBe("timer");
    expect(machine.read("sys/class/leds/ACT/delay_on")).toBe("80");
    expect(machine.read("sys/class/leds/ACT/delay_off")).toBe("80");
    // A second identify while the first runs keeps the LED's own trigger to give back.
    expect(led.identify(1)).toBe(true);
    led.stop();
    expect(machine.read("sys/class/leds/ACT/trigger")).toBe("mmc0");
  });

  it("is unavailable without the LED, without the timer trigger or without write access", () => {
    const machine = newMachine();
    expect(new ActivityLed(join(machine.root, "nowhere"), silent).available()).toBe(false);
    machine.write("sys/class/leds/ACT/trigger", "none [mmc0]\n");
    expect(new ActivityLed(machine.sysfsRoot, silent).available()).toBe(false);
    machine.write("sys/class/leds/ACT/trigger", "none timer [mmc0]\n");
    chmodSync(join(machine.sysfsRoot, "class/leds/ACT/trigger"), 0o444);
    // root may write anyway; everyone else may not.
    expect(new ActivityLed(machine.sysfsRoot, silent).available()).toBe(process.getuid?.() === 0);
  });

  it("reports failure when the LED vanished, and leaves the brightness off for a trigger of none", () => {
    const machine = newMachine();
    machine.write("sys/class/leds/ACT/trigger", "[none] timer\n");
    const led = new ActivityLed(machine.sysfsRoot, silent);
    expect(led.identify(5)).toBe(true);
    led.stop();
    expect(machine.read("sys/class/leds/ACT/trigger")).toBe("none");
    expect(machine.read("sys/class/leds/ACT/brightness")).toBe("0");
    expect(new ActivityLed(join(machine.root, "gone"), silent).identify(1)).toBe(false);
  });
});

describe("birth record", () => {
  it("names the software and the machine, leaving out what the machine lacks", async () => {
    const machine = newMachine();
    const roots = { procfsRoot: machine.procfsRoot, sysfsRoot: machine.sysfsRoot };
    const record = await birthRecord({
      agentName: "gw",
      pairingId: "a82123",
      state: "online",
      startedAt: 5,
      roots,
    });
    expect(record).toMatchObject({
      agentName: "gw",
      node: process.version,
      arch: process.arch,
      pairingId: "a82123",
      state: "online",
      bootTime: FAKE_BTIME_S * 1000,
      startedAt: 5,
      model: FAKE_MODEL,
    });
    const bare = await birthRecord({
      agentName: "gw",
      pairingId: undefined,
      state: "online",
      startedAt: 5,
      roots: { procfsRoot: join(machine.root, "none"), sysfsRoot: join(machine.root, "none") },
    });
    expect(Object.keys(bare).sort()).toEqual([
      "agentName",
      "arch",
      "hostname",
      "node",
      "startedAt",
      "state",
      "version",
    ]);
  });
});

describe("runCheck", () => {
  const node = process.execPath;

  it("parses the JSON report and keeps the exit code", async () => {
    const script =
      'if (process.argv.slice(-2).join(" ") === "check --json") { console.log(JSON.stringify({ checks: [], summary: { failed: 1 } })); process.exit(1) }';
    expect(await runCheck({}, [node, "-e", script, "--"])).toEqual({
      exitCode: 1,
      report: { checks: [], summary: { failed: 1 } },
    });
  });

  it("fails on output that is no report, and kills a check that outlives its deadline", async () => {
    await expect(runCheck({}, [node, "-e", "console.log('hello')", "--"])).rejects.toThrow(
      "without a JSON report",
    );
    await expect(runCheck({}, [node, "-e", "setTimeout(() => {}, 60000)", "--"], 200)).rejects.toThrow(
      CommandError,
    );
  });
});

describe("Remote", () => {
  it("publishes the birth record at login and serves commands against its target", async () => {
    const machine = newMachine();
    const stateDir = mkdtempSync(join(tmpdir(), "cw-agent-remote-"));
    dirs.push(stateDir);
    const settings = loadSettings({
      CYBUS_AGENT_NAME: "gw-unit",
      CYBUS_MQTT_HOST: "127.0.0.1",
      CW_AGENT_STATE_DIR: stateDir,
      CW_AGENT_SYSFS_ROOT: machine.sysfsRoot,
      CW_AGENT_PROCFS_ROOT: machine.procfsRoot,
      CW_AGENT_HEALTH_INTERVAL_S: "0",
    });
    const calls: string[] = [];
    const remote = new Remote({
      config: settings.agent,
      indicators: settings.indicators,
      env: {},
      logger: silent,
      controlSocket: join(stateDir, "control.sock"),
      startedAt: 42,
      target: {
        state: () => "online",
        pairingId: () => "a82123",
        certificate: () => undefined,
        registryRequests: () => 1,
        resetCredentials: () => calls.push("reset"),
        setWarning: (warning) => calls.push(`warning ${warning}`),
        identify: (seconds) => calls.push(`identify ${seconds}`),
        identifyTargets: () => [],
        liveStatus: () => {
          throw new Error("unused");
        },
        restart: () => calls.push("restart"),
      },
    });
    const published: { topic: string; payload: string; options: unknown }[] = [];
    const publish: Publish = async (topic, payload, options) => {
      published.push({ topic, payload, options });
    };
    expect(remote.messages.subscriptions).toEqual(["cw-agent/gw-unit/cmd/+"]);
    remote.messages.onLogin(publish);
    const request = (name: string, payload: string): IPublishPacket => ({
      cmd: "publish",
      topic: `cw-agent/gw-unit/cmd/${name}`,
      payload: Buffer.from(payload),
      qos: 1,
      dup: false,
      retain: false,
    });
    remote.messages.onMessage(request("identify", '{"id":"i"}'), publish);
    remote.messages.onMessage(request("restart", '{"id":"r"}'), publish);
    // The birth record waits for its file reads, the replies for their commands.
    while (published.length < 3) await new Promise((resolve) => setTimeout(resolve, 5));
    const info = published.find((message) => message.topic === "cw-agent/gw-unit/info");
    expect(info?.options).toEqual({ qos: 1, retain: true });
    expect(JSON.parse(info?.payload ?? "{}")).toMatchObject({
      agentName: "gw-unit",
      pairingId: "a82123",
      startedAt: 42,
    });
    // No status LED or display configured: the fake board's ACT LED shows identify.
    expect(
      JSON.parse(published.find((message) => message.topic.endsWith("/identify/reply"))?.payload ?? "{}"),
    ).toMatchObject({ id: "i", ok: true, result: { shownOn: ["ACT LED"] } });
    expect(calls).toContain("restart");
    remote.start();
    await remote.stop();
    expect(machine.read("sys/class/leds/ACT/trigger")).toBe("mmc0");
  });
});

describe("restart over MQTT and systemd", () => {
  it.each(["cw-agent.service", "cw-agent@.service"])(
    "%s starts the agent again after the restart exit code",
    (unit) => {
      const text = readFileSync(new URL(`../../systemd/${unit}`, import.meta.url), "utf8");
      expect(text).toMatch(/^Restart=on-failure$/m);
      const prevented = /^RestartPreventExitStatus=(.*)$/m.exec(text)?.[1]?.split(/\s+/) ?? [];
      expect(prevented.length).toBeGreaterThan(0);
      expect(prevented).not.toContain(String(EXIT_RESTART));
    },
  );
});
