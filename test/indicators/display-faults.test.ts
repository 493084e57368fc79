import { describe, expect, it } from "vitest";
import { type IndicatorConfig, loadIndicatorConfig } from "../../src/indicators/config.js";
import { renderLcdScreen, renderOledScreen } from "../../src/indicators/display/screens.js";
import { Indicators } from "../../src/indicators/index.js";
import type { AgentStatus } from "../../src/lifecycle/lifecycle.js";
import { FakeTimers, flush } from "./fakes/fake-timers.js";
import { FakeI2cAdapter } from "./fakes/i2c.js";
import { LcdModel } from "./fakes/lcd-model.js";
import { memoryLogger } from "./fakes/logger.js";
import { OledModel } from "./fakes/oled-model.js";
import { formatTime, statusOf } from "./fakes/statuses.js";

function oledView(status: AgentStatus): string[] {
  const bitmap = renderOledScreen(status, formatTime);
  return Array.from({ length: 64 }, (_, y) =>
    Array.from({ length: 128 }, (_, x) => (bitmap.get(x, y) ? "#" : ".")).join(""),
  );
}

function setup(
  env: Record<string, string>,
  attach: (adapter: FakeI2cAdapter, timers: FakeTimers) => void = () => {},
) {
  const timers = new FakeTimers();
  const adapter = new FakeI2cAdapter();
  attach(adapter, timers);
  const log = memoryLogger();
  const config: IndicatorConfig = loadIndicatorConfig(env);
  const indicators = new Indicators(config, log.logger, {
    timers,
    openI2cBus: adapter.open,
    formatTime,
    terminal: { write: () => {} },
  });
  return { timers, adapter, log, indicators };
}

describe("display outages", () => {
  it.each(["EIO", "ENXIO", "EREMOTEIO"])(
    "an OLED unplugged at runtime (%s) is logged once, retried with backoff and re-initialised when it answers",
    async (code) => {
      const model = new OledModel("ssd1306");
      const { timers, adapter, log, indicators } = setup({ CW_AGENT_DISPLAY_MODEL: "ssd1306" }, (bus) =>
        bus.attach(0x3c, model),
      );
      await timers.settle(indicators.start());
      indicators.observe(statusOf("pending"), undefined);
      await flush();
      expect(model.view()).toEqual(oledView(statusOf("pending")));
      expect(log.warnings()).toEqual([]);

      adapter.unplug(code);
      expect(() => indicators.observe(statusOf("connecting"), statusOf("pending"))).not.toThrow();
      await flush();
      indicators.observe(statusOf("online"), statusOf("connecting"));
      await timers.advanceAsync(20_000);
      const warnings = log.warnings();
      expect(warnings).toHaveLength(1);
      expect(warnings[0]?.code).toBe(code);
      // 1 s, 2 s, 4 s, 8 s: four more attempts in 20 s, not one per transition or per second.
      const opensWhileUnplugged = adapter.opens;
      expect(opensWhileUnplugged).toBeGreaterThanOrEqual(4);
      expect(opensWhileUnplugged).toBeLessThanOrEqual(6);

      adapter.replug(); // power-cycled: RAM noise, display off
      expect(model.displayOn).toBe(false);
      await timers.advanceAsync(20_000);
      expect(model.displayOn).toBe(true);
      expect(model.view()).toEqual(oledView(statusOf("online")));
      expect(log.lines.some((line) => line.msg === "display answered again, re-initialised")).toBe(true);
      expect(log.warnings()).toHaveLength(1);
      expect(adapter.overlaps).toBe(0);

      await indicators.stop();
      expect(timers.pending).toBe(0);
    },
  );

  it("a display missing at start is one warning and is picked up when it appears; its health says so", async () => {
    const model = new LcdModel(16, 2, () => 0);
    const { timers, adapter, log, indicators } = setup({ CW_AGENT_DISPLAY_MODEL: "auto" });
    await timers.settle(indicators.start());
    indicators.observe(statusOf("pending"), undefined);
    await timers.advanceAsync(10_000);
    expect(log.warnings()).toHaveLength(1);
    expect(log.warnings()[0]?.msg).toContain("no display answered on /dev/i2c-1");
    expect(indicators.displayHealth()).toMatchObject({
      working: false,
      error: expect.stringContaining("no display answered on /dev/i2c-1"),
    });

    adapter.attach(0x27, model);
    await timers.advanceAsync(70_000);
    expect(model.text()).toEqual(renderLcdScreen(statusOf("pending"), 16, 2, formatTime));
    expect(log.warnings()).toHaveLength(1);
    expect(indicators.displayHealth()).toEqual({
      working: true,
      description: expect.stringContaining("0x27"),
    });
    await indicators.stop();
  });

  it("a display that fails while re-initialising stays one outage", async () => {
    const model = new OledModel("sh1106");
    const { timers, adapter, log, indicators } = setup({ CW_AGENT_DISPLAY_MODEL: "sh1106" }, (bus) =>
      bus.attach(0x3c, model),
    );
    await timers.settle(indicators.start());
    indicators.observe(statusOf("online"), undefined);
    await flush();
    adapter.unplug("EREMOTEIO");
    indicators.observe(statusOf("reconnecting"), statusOf("online"));
    await timers.advanceAsync(3_000);
    adapter.unplug("ETIMEDOUT");
    await timers.advanceAsync(3_000);
    expect(log.warnings()).toHaveLength(1);
    adapter.replug();
    await timers.advanceAsync(60_000);
    expect(model.view()).toEqual(oledView(statusOf("reconnecting")));
    await indicators.stop();
  });
});

describe("display updates", () => {
  it("serialises writes: a burst of transitions never interleaves on the bus and ends on the newest", async () => {
    const model = new OledModel("ssd1306");
    const { timers, adapter, indicators } = setup({ CW_AGENT_DISPLAY_MODEL: "auto" }, (bus) =>
      bus.attach(0x3d, model),
    );
    await timers.settle(indicators.start());
    const states = ["registering", "pending", "connecting", "online", "reconnecting", "online"] as const;
    let previous: AgentStatus | undefined;
    for (const state of states) {
      const status = statusOf(state);
      indicators.observe(status, previous);
      previous = status;
    }
    await flush();
    await timers.advanceAsync(100);
    expect(adapter.overlaps).toBe(0);
    expect(model.view()).toEqual(oledView(statusOf("online")));
    await indicators.stop();
  });

  it("auto-detects a PCF8574 backpack and shows the stopped screen on stop", async () => {
    const timers = new FakeTimers();
    const model = new LcdModel(20, 4, () => timers.now());
    const adapter = new FakeI2cAdapter();
    adapter.attach(0x3f, model);
    const log = memoryLogger();
    const indicators = new Indicators(
      loadIndicatorConfig({ CW_AGENT_DISPLAY_MODEL: "auto", CW_AGENT_DISPLAY_LCD_SIZE: "20x4" }),
      log.logger,
      { timers, openI2cBus: adapter.open, formatTime },
    );
    indicators.observe(statusOf("online"), undefined);
    await timers.settle(indicators.start());
    await timers.advanceAsync(10);
    expect(model.text()).toEqual(renderLcdScreen(statusOf("online"), 20, 4, formatTime));
    await timers.settle(indicators.stop());
    expect(model.text()[0]?.trim()).toBe("AGENT STOPPED");
    expect(adapter.closes).toBe(adapter.opens);
    expect(timers.pending).toBe(0);
    expect(log.warnings()).toEqual([]);
    expect(model.busyViolations).toBe(0);
  });

  it("blanks the display on stop when no status was ever shown", async () => {
    const model = new OledModel("ssd1306");
    const { timers, adapter, indicators } = setup({ CW_AGENT_DISPLAY_MODEL: "ssd1306" }, (bus) =>
      bus.attach(0x3c, model),
    );
    await timers.settle(indicators.start());
    await timers.settle(indicators.stop());
    expect(model.displayOn).toBe(false);
    expect(adapter.closes).toBe(1);
  });
});
