import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { HealthReporter } from "../../src/health/health-reporter.js";
import {
  readBoardModel,
  readBootTime,
  readCpuTemperature,
  readLoad,
  readMemory,
  readStorageWrites,
  readUptimeSeconds,
} from "../../src/health/machine.js";
import { decodeThrottled, powerWarning, readPower } from "../../src/health/power.js";
import { Lifecycle } from "../../src/lifecycle/lifecycle.js";
import { createLogger } from "../../src/logging/logger.js";
import type { Publish } from "../../src/mqtt/session.js";
import {
  FAKE_BTIME_S,
  FAKE_MODEL,
  FAKE_SECTORS_WRITTEN,
  type FakeMachine,
  fakeMachine,
} from "../fakes/fake-machine.js";

const cleanups: (() => void)[] = [];
afterEach(() => {
  for (const cleanup of cleanups.splice(0)) cleanup();
});

function machine(
  options: { underVoltage?: boolean; storage?: boolean } = {},
): FakeMachine & { stateDir: string } {
  const stateDir = mkdtempSync(join(tmpdir(), "cw-agent-health-"));
  const fake = fakeMachine({
    ...(options.underVoltage === undefined ? {} : { underVoltage: options.underVoltage }),
    ...(options.storage === false ? {} : { storageFor: stateDir }),
  });
  cleanups.push(() => {
    fake.remove();
    rmSync(stateDir, { recursive: true, force: true });
  });
  return Object.assign(fake, { stateDir });
}

function capture() {
  const lines: { level: number; msg: string }[] = [];
  const logger = createLogger({
    level: "debug",
    destination: { write: (line: string) => lines.push(JSON.parse(line)) },
  });
  return { lines, logger };
}

describe("get_throttled", () => {
  it("decodes hex without 0x into the now and has-occurred bits", () => {
    expect(decodeThrottled("50005\n")).toEqual({
      raw: "50005",
      underVoltageNow: true,
      frequencyCappedNow: false,
      throttledNow: true,
      softTempLimitNow: false,
      underVoltageOccurred: true,
      frequencyCappedOccurred: false,
      throttledOccurred: true,
      softTempLimitOccurred: false,
    });
    expect(decodeThrottled("80008")).toMatchObject({ softTempLimitNow: true, softTempLimitOccurred: true });
    expect(decodeThrottled("0x2")).toMatchObject({ raw: "2", frequencyCappedNow: true });
    expect(decodeThrottled("not hex")).toBeUndefined();
  });

  it("warns on what is happening now, never on what has occurred", () => {
    expect(powerWarning(undefined)).toBeUndefined();
    expect(powerWarning({ throttled: decodeThrottled("50000") as never })).toBeUndefined();
    expect(powerWarning({ underVoltage: true, throttled: decodeThrottled("e") as never })).toBe(
      "under-voltage, throttled, CPU frequency capped, soft temperature limit",
    );
  });
});

describe("machine readings", () => {
  it("reads every fact from the fake procfs and sysfs", async () => {
    const fake = machine();
    const roots = { procfsRoot: fake.procfsRoot, sysfsRoot: fake.sysfsRoot };
    expect(await readUptimeSeconds(roots)).toBe(12345.67);
    expect(await readLoad(roots)).toEqual([0.52, 0.4, 0.31]);
    expect(await readMemory(roots)).toEqual({ totalBytes: 3884328 * 1024, availableBytes: 2999000 * 1024 });
    expect(await readBootTime(roots)).toBe(FAKE_BTIME_S * 1000);
    expect(await readBoardModel(roots)).toBe(FAKE_MODEL);
    expect(await readCpuTemperature(roots)).toBe(48.25);
    expect(await readStorageWrites(roots, fake.stateDir)).toEqual({
      device: "mmcblk0",
      bytesWrittenSinceBoot: FAKE_SECTORS_WRITTEN * 512,
    });
  });

  it("prefers the CPU's thermal zone over others", async () => {
    const fake = machine();
    fake.write("sys/class/thermal/thermal_zone0/type", "battery\n");
    fake.write("sys/class/thermal/thermal_zone0/temp", "30000\n");
    fake.write("sys/class/thermal/thermal_zone1/type", "x86_pkg_temp\n");
    fake.write("sys/class/thermal/thermal_zone1/temp", "61000\n");
    expect(await readCpuTemperature({ procfsRoot: fake.procfsRoot, sysfsRoot: fake.sysfsRoot })).toBe(61);
  });

  it("takes under-voltage from rpi_volt when present, else from get_throttled, and says which", async () => {
    const fake = machine({ underVoltage: true });
    expect(await readPower(fake.sysfsRoot)).toMatchObject({
      underVoltage: true,
      underVoltageSource: "rpi_volt",
    });
    fake.write("sys/class/hwmon/hwmon1/in0_lcrit_alarm", "0\n");
    // The firmware still says "now"; the hwmon alarm is the source that counts.
    expect(await readPower(fake.sysfsRoot)).toMatchObject({
      underVoltage: false,
      underVoltageSource: "rpi_volt",
    });
    rmSync(join(fake.root, "sys/class/hwmon/hwmon1"), { recursive: true });
    expect(await readPower(fake.sysfsRoot)).toMatchObject({
      underVoltage: true,
      underVoltageSource: "get_throttled",
      throttled: { raw: "50005" },
    });
  });

  it("leaves out what a machine does not have: an empty tree gives nothing, and no error", async () => {
    const empty = mkdtempSync(join(tmpdir(), "cw-agent-empty-"));
    cleanups.push(() => rmSync(empty, { recursive: true, force: true }));
    const roots = { procfsRoot: join(empty, "proc"), sysfsRoot: join(empty, "sys") };
    const { logger } = capture();
    const reporter = new HealthReporter({
      topicPrefix: "cw-agent/gw",
      stateDir: join(empty, "missing"),
      roots,
      intervalS: 60,
      logger,
      registryRequests: () => 3,
      setWarning: () => {},
      now: () => 1234,
    });
    expect(await reporter.sample()).toEqual({ time: 1234, mqttReconnects: 0, registryRequests: 3 });
    expect(await readPower(roots.sysfsRoot)).toBeUndefined();
    expect(await readStorageWrites(roots, empty)).toBeUndefined();
  });
});

describe("HealthReporter", () => {
  it("publishes QoS 0 unretained health while connected, counts reconnects and follows the power supply once per change", async () => {
    const fake = machine({ underVoltage: true });
    const { lines, logger } = capture();
    const lifecycle = new Lifecycle({ agentName: "gw", username: "gw", broker: "b", registry: "r" });
    const published: { topic: string; payload: string; options: unknown }[] = [];
    const publish: Publish = async (topic, payload, options) => {
      published.push({ topic, payload, options });
    };
    const reporter = new HealthReporter({
      topicPrefix: "cw-agent/gw",
      stateDir: fake.stateDir,
      roots: { procfsRoot: fake.procfsRoot, sysfsRoot: fake.sysfsRoot },
      intervalS: 60,
      logger,
      registryRequests: () => 2,
      setWarning: (warning) => lifecycle.setWarning(warning),
    });
    // Not connected yet: the power is watched, nothing is published.
    await reporter.tick();
    expect(published).toEqual([]);
    expect(lifecycle.current.warning).toBe("Power: under-voltage, throttled");

    reporter.connected(publish);
    reporter.connected(publish);
    await reporter.tick();
    await reporter.tick();
    expect(published).toHaveLength(2);
    expect(published[0]).toMatchObject({ topic: "cw-agent/gw/health", options: { qos: 0, retain: false } });
    expect(JSON.parse(published[0]?.payload ?? "{}")).toMatchObject({
      mqttReconnects: 1,
      registryRequests: 2,
    });
    expect(lines.filter((line) => line.msg.startsWith("Power problem"))).toHaveLength(1);

    fake.write("sys/class/hwmon/hwmon1/in0_lcrit_alarm", "0\n");
    fake.write("sys/devices/platform/soc/soc:firmware/get_throttled", "50000\n");
    await reporter.tick();
    expect(lifecycle.current.warning).toBeUndefined();
    expect(lines.filter((line) => line.msg.startsWith("Power back to normal"))).toHaveLength(1);

    // A publish that fails (the connection went) is a debug line, not an error.
    reporter.connected(() => Promise.reject(new Error("not connected to the broker")));
    await reporter.tick();
    expect(lines.some((line) => line.level === 20 && line.msg.includes("Health message not sent"))).toBe(
      true,
    );
    await reporter.stop();
  });

  it("publishes nothing with an interval of 0, and still watches the power supply", async () => {
    const fake = machine({ underVoltage: true, storage: false });
    const { logger } = capture();
    const warnings: (string | undefined)[] = [];
    const published: string[] = [];
    const reporter = new HealthReporter({
      topicPrefix: "cw-agent/gw",
      stateDir: fake.stateDir,
      roots: { procfsRoot: fake.procfsRoot, sysfsRoot: fake.sysfsRoot },
      intervalS: 0,
      logger,
      registryRequests: () => 0,
      setWarning: (warning) => warnings.push(warning),
    });
    reporter.connected(async (topic) => {
      published.push(topic);
    });
    reporter.start();
    await reporter.tick();
    await reporter.stop();
    expect(published).toEqual([]);
    expect(warnings).toEqual(["Power: under-voltage, throttled"]);
  });
});
