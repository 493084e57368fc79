import { mkdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { loadIndicatorConfig } from "../../src/indicators/config.js";
import { Indicators } from "../../src/indicators/index.js";
import type { DigitalLine, DigitalLineOpener, Level } from "../../src/indicators/leds/gpio-led.js";
import type { Led } from "../../src/indicators/leds/led.js";
import { PatternPlayer } from "../../src/indicators/leds/pattern-player.js";
import { PATTERNS, STATE_PATTERNS, STOPPED_PATTERNS } from "../../src/indicators/leds/patterns.js";
import type { AgentState, AgentStatus } from "../../src/lifecycle/lifecycle.js";
import { FakeTimers } from "./fakes/fake-timers.js";
import { errno } from "./fakes/i2c.js";
import { memoryLogger } from "./fakes/logger.js";
import { BOARDS, FakeSysfs } from "./fakes/sysfs.js";

/** A GPIO line that remembers each level with the fake time it was written. */
class FakeLine implements DigitalLine {
  readonly writes: Array<{ at: number; level: Level }> = [];
  released = false;
  constructor(
    readonly sysfsNumber: number,
    private readonly timers: FakeTimers,
    /** The level the line was exported with. */
    readonly initial: Level,
  ) {}
  write(level: Level): void {
    this.writes.push({ at: this.timers.now(), level });
  }
  release(): void {
    this.released = true;
  }
  get level(): Level | undefined {
    return this.writes.at(-1)?.level ?? this.initial;
  }
}

function statusIn(state: AgentState): AgentStatus {
  return {
    state,
    since: 0,
    agentName: "press-line-4",
    username: "press-line-4",
    broker: "cw.local:1883",
    registry: "https://cw.local",
    pairingId: "7f3a9c",
  };
}

let sysfs: FakeSysfs | undefined;
afterEach(() => sysfs?.remove());

function setup(env: Record<string, string>, openFailure?: string) {
  sysfs = new FakeSysfs().addGpioChips(BOARDS["Raspberry Pi 4, kernel 6.6"] ?? []);
  const timers = new FakeTimers();
  const lines = new Map<number, FakeLine>();
  const openDigitalLine: DigitalLineOpener = async (sysfsNumber, initial) => {
    if (openFailure !== undefined) throw errno(openFailure);
    const line = new FakeLine(sysfsNumber, timers, initial);
    lines.set(sysfsNumber, line);
    return line;
  };
  const log = memoryLogger();
  const indicators = new Indicators(loadIndicatorConfig(env), log.logger, {
    timers,
    sysfsRoot: sysfs.root,
    openDigitalLine,
  });
  return { timers, lines, log, indicators, sysfs };
}

/** Level changes during [from, from + span), as [offset, level] pairs. */
function edges(line: FakeLine, from: number, span: number): Array<[number, Level]> {
  return line.writes
    .filter((write) => write.at >= from && write.at < from + span)
    .map((write) => [write.at - from, write.level]);
}

describe("pattern table", () => {
  it("covers every state; waiting blinks, online is steady, faults use the fault LED", () => {
    expect(Object.keys(STATE_PATTERNS).sort()).toEqual(
      [
        "starting",
        "registering",
        "registry-locked",
        "pending",
        "conflict",
        "connecting",
        "online",
        "reconnecting",
        "stopping",
        "stopped",
        "failed",
      ].sort(),
    );
    expect(PATTERNS[STATE_PATTERNS.pending.status].timeline.length).toBeGreaterThan(0);
    expect(STATE_PATTERNS.online.status).toBe("solid");
    // Stop releases the lines dark; the stopped state must agree.
    expect(STOPPED_PATTERNS).toEqual({ status: "off", fault: "off" });
    expect(STATE_PATTERNS.conflict.fault).not.toBe("off");
    expect(STATE_PATTERNS.failed.fault).not.toBe("off");
    for (const state of ["pending", "online", "connecting", "registry-locked"] as const) {
      expect(STATE_PATTERNS[state].fault).toBe("off");
    }
  });
});

describe("pattern scheduler", () => {
  it("keeps edges on the pattern's own grid even when every timer fires late", () => {
    const timers = new FakeTimers();
    const levels: Array<[number, boolean]> = [];
    const start = timers.now();
    const led: Led = {
      description: "probe",
      set: (lit) => levels.push([timers.now() - start, lit]),
      release() {},
    };
    const player = new PatternPlayer(timers);
    timers.lateByMs = 7;
    player.play(led, PATTERNS["slow-blink"]);
    timers.advance(10_000);
    // Each edge is at most one timer lateness after its ideal time, and the error does not accumulate.
    const ideal = levels.map(([, lit], index) => [index * 1000, lit]);
    levels.forEach(([at], index) => {
      expect(at - (ideal[index]?.[0] as number)).toBeGreaterThanOrEqual(0);
      expect(at - (ideal[index]?.[0] as number)).toBeLessThanOrEqual(7);
    });
    expect(levels.length).toBe(10);
  });

  it("uses one timer for several blinking LEDs and none for steady ones", () => {
    const timers = new FakeTimers();
    const quiet: Led = { description: "a", set() {}, release() {} };
    const other: Led = { description: "b", set() {}, release() {} };
    const player = new PatternPlayer(timers);
    player.play(quiet, PATTERNS["fast-blink"]);
    player.play(other, PATTERNS["double-flash"]);
    expect(timers.pending).toBe(1);
    player.play(quiet, PATTERNS.solid);
    player.play(other, PATTERNS.off);
    expect(timers.pending).toBe(0);
  });
});

describe("GPIO status and fault LEDs", () => {
  it("plays each state's pattern on the right lines, with Pi 4 numbering and active-low", async () => {
    const { timers, lines, log, indicators } = setup({
      CW_AGENT_LED_STATUS: "gpio:17",
      CW_AGENT_LED_STATUS_ACTIVE_LOW: "true",
      CW_AGENT_LED_FAULT: "gpio:27",
    });
    indicators.observe(statusIn("pending"), undefined);
    await indicators.start();
    const status = lines.get(529);
    const fault = lines.get(539);
    if (status === undefined || fault === undefined) throw new Error("lines not opened at 512 + BCM");
    // Exported already dark: active-low means high.
    expect(status.initial).toBe(1);
    expect(fault.initial).toBe(0);

    let from = timers.now();
    timers.advance(4000);
    // slow blink: lit (low) at 0, dark at 1000, lit at 2000, dark at 3000.
    expect(edges(status, from, 4000)).toEqual([
      [0, 0],
      [1000, 1],
      [2000, 0],
      [3000, 1],
    ]);
    expect(fault.level).toBe(0);

    indicators.observe(statusIn("online"), statusIn("pending"));
    expect(status.level).toBe(0);
    expect(timers.pending).toBe(0);

    indicators.observe(statusIn("failed"), statusIn("online"));
    expect(status.level).toBe(1);
    expect(fault.level).toBe(1);

    indicators.observe(statusIn("conflict"), statusIn("failed"));
    from = timers.now();
    timers.advance(2000);
    expect(edges(fault, from, 2000)).toEqual([
      [0, 1],
      [1000, 0],
    ]);
    expect(log.warnings()).toEqual([]);
    await indicators.stop();
  });

  it("double-flashes the fault LED while the lifecycle carries a warning, unless the state lights it", async () => {
    const { timers, lines, indicators } = setup({
      CW_AGENT_LED_STATUS: "gpio:17",
      CW_AGENT_LED_FAULT: "gpio:27",
    });
    await indicators.start();
    const fault = lines.get(539);
    if (fault === undefined) throw new Error("fault line not opened");
    const warned = { ...statusIn("online"), warning: "Power: under-voltage" };
    indicators.observe(warned, statusIn("online"));
    let from = timers.now();
    timers.advance(2000);
    expect(edges(fault, from, 2000)).toEqual([
      [0, 1],
      [150, 0],
      [300, 1],
      [450, 0],
    ]);
    // A failure's own pattern wins over the warning's.
    indicators.observe({ ...warned, state: "failed" }, warned);
    expect(fault.level).toBe(1);
    indicators.observe(statusIn("online"), warned);
    from = timers.now();
    timers.advance(2000);
    // Dark from the moment the warning cleared: no edge after it.
    expect(edges(fault, from + 1, 2000)).toEqual([]);
    expect(fault.level).toBe(0);
    await indicators.stop();
  });

  it("shows faults on the status LED when no fault LED is configured", async () => {
    const { timers, lines, indicators } = setup({ CW_AGENT_LED_STATUS: "gpio:17" });
    await indicators.start();
    indicators.observe(statusIn("failed"), undefined);
    const status = lines.get(529) as FakeLine;
    const from = timers.now();
    timers.advance(2000);
    expect(edges(status, from, 2000).map(([at]) => at)).toEqual([0, 150, 300, 450, 600, 750]);
    await indicators.stop();
  });

  it("identify flickers the status LED for the given time, then returns to the state's pattern", async () => {
    const { timers, lines, indicators } = setup({ CW_AGENT_LED_STATUS: "gpio:17" });
    await indicators.start();
    indicators.observe(statusIn("online"), undefined);
    const status = lines.get(529) as FakeLine;
    expect(status.level).toBe(1);
    indicators.identify(5);
    const from = timers.now();
    timers.advance(5000);
    expect(edges(status, from, 5000).length).toBeGreaterThanOrEqual(60);
    expect(status.level).toBe(1);
    expect(timers.pending).toBe(0);
    // A state change during identify does not cut it short.
    indicators.identify(2);
    indicators.observe(statusIn("reconnecting"), statusIn("online"));
    timers.advance(1000);
    expect(edges(status, from + 5000, 1000).length).toBeGreaterThan(10);
    timers.advance(1000);
    await indicators.stop();
  });

  it("a stop while a line is still opening releases that line too, and nothing lights up afterwards", async () => {
    sysfs = new FakeSysfs().addGpioChips(BOARDS["Raspberry Pi 4, kernel 6.6"] ?? []);
    const timers = new FakeTimers();
    const lines: FakeLine[] = [];
    let finishOpening: (() => void) | undefined;
    const slowOpen: DigitalLineOpener = async (sysfsNumber, initial) => {
      await new Promise<void>((resolve) => {
        finishOpening = resolve;
      });
      const line = new FakeLine(sysfsNumber, timers, initial);
      lines.push(line);
      return line;
    };
    const indicators = new Indicators(
      loadIndicatorConfig({ CW_AGENT_LED_STATUS: "gpio:17", CW_AGENT_LED_FAULT: "gpio:27" }),
      memoryLogger().logger,
      { timers, sysfsRoot: sysfs.root, openDigitalLine: slowOpen },
    );
    indicators.observe(statusIn("pending"), undefined);
    const starting = indicators.start();
    while (finishOpening === undefined) await new Promise((resolve) => setImmediate(resolve));
    await indicators.stop();
    finishOpening();
    await starting;
    expect(lines.map((line) => [line.sysfsNumber, line.released])).toEqual([[529, true]]);
    expect(lines[0]?.level).toBe(0);
    expect(timers.pending).toBe(0);
    // A start after the stop (a late call on the signal path) opens nothing.
    await indicators.start();
    expect(lines).toHaveLength(1);
  });

  it("stop leaves both LEDs dark, releases the lines and clears every timer", async () => {
    const { timers, lines, indicators } = setup({
      CW_AGENT_LED_STATUS: "gpio:17",
      CW_AGENT_LED_FAULT: "gpio:27",
      CW_AGENT_LED_FAULT_ACTIVE_LOW: "1",
    });
    await indicators.start();
    indicators.observe(statusIn("conflict"), undefined);
    indicators.identify(60);
    await indicators.stop();
    expect(lines.get(529)?.level).toBe(0);
    expect(lines.get(539)?.level).toBe(1);
    expect(lines.get(529)?.released).toBe(true);
    expect(lines.get(539)?.released).toBe(true);
    expect(timers.pending).toBe(0);
    // Late transitions after stop change nothing.
    indicators.observe(statusIn("stopped"), statusIn("conflict"));
    indicators.identify(5);
    expect(timers.pending).toBe(0);
  });

  it.each([
    ["EBUSY", /claimed by a kernel driver/],
    ["EACCES", /'gpio' group/],
    ["EINVAL", /CW_AGENT_GPIO_BASE/],
  ])("an export failing with %s is one warning with a hint, and the agent carries on", async (code, hint) => {
    const { log, indicators } = setup(
      { CW_AGENT_LED_STATUS: "gpio:17", CW_AGENT_LED_FAULT: "gpio:27" },
      code,
    );
    await expect(indicators.start()).resolves.toBeUndefined();
    indicators.observe(statusIn("pending"), undefined);
    const warnings = log.warnings();
    expect(warnings).toHaveLength(2);
    expect(warnings[0]).toMatchObject({ role: "status", led: "gpio:17", code });
    expect(String(warnings[0]?.hint)).toMatch(hint);
    await indicators.stop();
  });

  it("a board where the base cannot be resolved is one warning naming the chips", async () => {
    sysfs = new FakeSysfs().addGpioChips(BOARDS["industrial gateway without a Pi pin controller"] ?? []);
    const log = memoryLogger();
    const indicators = new Indicators(loadIndicatorConfig({ CW_AGENT_LED_STATUS: "gpio:17" }), log.logger, {
      timers: new FakeTimers(),
      sysfsRoot: sysfs.root,
      openDigitalLine: async () => {
        throw new Error("must not export a guessed number");
      },
    });
    await indicators.start();
    expect(log.warnings()).toHaveLength(1);
    expect(log.warnings()[0]?.msg).toMatch(/30200000\.gpio/);
    await indicators.stop();
  });
});

describe("Linux LED class backend", () => {
  it("writes brightness, hands plain blinks to the kernel timer trigger and keeps software patterns for the rest", async () => {
    sysfs = new FakeSysfs();
    const directory = sysfs.addLed("status", { maxBrightness: 1 });
    const faultDirectory = sysfs.addLed("fault", { triggers: "[none] heartbeat" });
    const read = (dir: string, attribute: string) => readFileSync(join(dir, attribute), "utf8").trim();
    const timers = new FakeTimers();
    const log = memoryLogger();
    const indicators = new Indicators(
      loadIndicatorConfig({ CW_AGENT_LED_STATUS: "led:status", CW_AGENT_LED_FAULT: "led:fault" }),
      log.logger,
      { timers, sysfsRoot: sysfs.root },
    );
    await indicators.start();
    // The kernel's own trigger (mmc0) is switched off so it cannot fight our writes.
    expect(read(directory, "trigger")).toBe("none");

    indicators.observe(statusIn("pending"), undefined);
    expect(read(directory, "trigger")).toBe("timer");
    expect(read(directory, "delay_on")).toBe("1000");
    expect(read(directory, "delay_off")).toBe("1000");
    expect(timers.pending).toBe(0);

    indicators.observe(statusIn("online"), statusIn("pending"));
    expect(read(directory, "trigger")).toBe("none");
    expect(read(directory, "brightness")).toBe("1");

    // No timer trigger on this one: the scheduler blinks it.
    indicators.observe(statusIn("conflict"), statusIn("online"));
    expect(read(faultDirectory, "brightness")).toBe("255");
    timers.advance(1000);
    expect(read(faultDirectory, "brightness")).toBe("0");
    expect(read(directory, "brightness")).toBe("0");

    await indicators.stop();
    expect(read(directory, "brightness")).toBe("0");
    expect(read(faultDirectory, "brightness")).toBe("0");
    expect(log.warnings()).toEqual([]);
  });

  it("inverts an active-low LED, including the timer trigger's phases", async () => {
    sysfs = new FakeSysfs();
    const directory = sysfs.addLed("front");
    const read = (attribute: string) => readFileSync(join(directory, attribute), "utf8").trim();
    const indicators = new Indicators(
      loadIndicatorConfig({ CW_AGENT_LED_STATUS: "led:front", CW_AGENT_LED_STATUS_ACTIVE_LOW: "yes" }),
      memoryLogger().logger,
      { timers: new FakeTimers(), sysfsRoot: sysfs.root },
    );
    await indicators.start();
    indicators.observe(statusIn("online"), undefined);
    expect(read("brightness")).toBe("0");
    indicators.observe(statusIn("reconnecting"), statusIn("online"));
    expect(read("delay_on")).toBe("1900");
    expect(read("delay_off")).toBe("100");
    await indicators.stop();
    expect(read("brightness")).toBe("255");
  });

  it("falls back to software blinking when the timer trigger's delay files cannot be written", async () => {
    sysfs = new FakeSysfs();
    const directory = sysfs.addLed("front");
    // A directory in place of delay_on makes every write to it fail, like a root-owned attribute.
    mkdirSync(join(directory, "delay_on"));
    const read = (attribute: string) => readFileSync(join(directory, attribute), "utf8").trim();
    const timers = new FakeTimers();
    const log = memoryLogger();
    const indicators = new Indicators(loadIndicatorConfig({ CW_AGENT_LED_STATUS: "led:front" }), log.logger, {
      timers,
      sysfsRoot: sysfs.root,
    });
    await indicators.start();
    indicators.observe(statusIn("pending"), undefined);
    expect(read("trigger")).toBe("none");
    expect(read("brightness")).toBe("255");
    timers.advance(1000);
    expect(read("brightness")).toBe("0");
    indicators.observe(statusIn("online"), statusIn("pending"));
    indicators.observe(statusIn("pending"), statusIn("online"));
    expect(log.warnings()).toHaveLength(1);
    await indicators.stop();
  });

  it("a missing LED is one warning", async () => {
    sysfs = new FakeSysfs();
    const log = memoryLogger();
    const indicators = new Indicators(loadIndicatorConfig({ CW_AGENT_LED_FAULT: "led:nope" }), log.logger, {
      timers: new FakeTimers(),
      sysfsRoot: sysfs.root,
    });
    await indicators.start();
    indicators.observe(statusIn("failed"), undefined);
    expect(log.warnings()).toHaveLength(1);
    expect(log.warnings()[0]).toMatchObject({ role: "fault", led: "led:nope", code: "ENOENT" });
    await indicators.stop();
  });
});
