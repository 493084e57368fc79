import { describe, expect, it } from "vitest";
import { textWidth } from "../../src/indicators/display/bitmap.js";
import { glyphRows } from "../../src/indicators/display/font.js";
import { IDENTIFY_TEXT_Y, renderLcdScreen, renderOledScreen } from "../../src/indicators/display/screens.js";
import { Indicators, loadIndicatorConfig } from "../../src/indicators/index.js";
import { FakeTimers, flush } from "./fakes/fake-timers.js";
import { FakeI2cAdapter } from "./fakes/i2c.js";
import { LcdModel } from "./fakes/lcd-model.js";
import { memoryLogger } from "./fakes/logger.js";
import { OledModel } from "./fakes/oled-model.js";
import { formatTime, statusOf } from "./fakes/statuses.js";

function oledSetup() {
  const timers = new FakeTimers();
  const adapter = new FakeI2cAdapter();
  const model = new OledModel("ssd1306");
  adapter.attach(0x3c, model);
  const indicators = new Indicators(
    loadIndicatorConfig({ CW_AGENT_DISPLAY_MODEL: "ssd1306" }),
    memoryLogger().logger,
    { timers, openI2cBus: adapter.open, formatTime },
  );
  return { timers, adapter, model, indicators };
}

const viewOf = (status: Parameters<typeof renderOledScreen>[0]) => {
  const bitmap = renderOledScreen(status, formatTime);
  return Array.from({ length: 64 }, (_, y) =>
    Array.from({ length: 128 }, (_, x) => (bitmap.get(x, y) ? "#" : ".")).join(""),
  );
};

const litShare = (view: string[]) => view.join("").split("#").length / (128 * 64);

/** True when `text`, drawn at `scale` with its top-left glyph pixel at (x, y), is dark on a lit panel. */
function darkTextAt(model: OledModel, text: string, x: number, y: number, scale: number): boolean {
  for (const [index, char] of [...text].entries()) {
    const rows = glyphRows(char);
    for (let row = 0; row < 7; row++) {
      for (let column = 0; column < 5; column++) {
        const ink = ((rows[row] ?? 0) & (0x10 >> column)) !== 0;
        const px = x + index * 6 * scale + column * scale;
        const py = y + row * scale;
        if (model.pixel(px, py) === ink) return false;
      }
    }
  }
  return true;
}

describe("identify on the display", () => {
  it("OLED: the lit panel with IDENTIFY and the name in 2x, over any state change, then the state screen again", async () => {
    const { timers, adapter, model, indicators } = oledSetup();
    await timers.settle(indicators.start());
    const pending = { ...statusOf("pending"), agentName: "press-7" };
    const online = { ...statusOf("online"), agentName: "press-7" };
    indicators.observe(pending, undefined);
    await flush();
    expect(model.view()).toEqual(viewOf(pending));

    indicators.identify(5);
    await flush();
    // Across a cabinet: nearly all of the glass lit, the lettering dark in it.
    expect(litShare(model.view())).toBeGreaterThan(0.75);
    const identifyX = Math.floor((128 - textWidth("IDENTIFY", 2)) / 2);
    expect(darkTextAt(model, "IDENTIFY", identifyX, IDENTIFY_TEXT_Y, 2)).toBe(true);
    const nameX = Math.floor((128 - textWidth("press-7", 2)) / 2);
    expect(darkTextAt(model, "press-7", nameX, 36, 2)).toBe(true);
    const identifyView = model.view();

    // The state machine goes on underneath; the overlay stays until its time is up.
    indicators.observe(online, pending);
    await timers.advanceAsync(4_900);
    expect(model.view()).toEqual(identifyView);
    await timers.advanceAsync(200);
    expect(model.view()).toEqual(viewOf(online));
    expect(adapter.overlaps).toBe(0);

    await timers.settle(indicators.stop());
    expect(timers.pending).toBe(0);
  });

  it("OLED: a longer agent name in 1x; stop during identify shows the stopped screen", async () => {
    const { timers, model, indicators } = oledSetup();
    await timers.settle(indicators.start());
    const long = { ...statusOf("online"), agentName: "packaging-line-4" };
    indicators.observe(long, undefined);
    await flush();
    indicators.identify(60);
    await flush();
    const nameX = Math.floor((128 - textWidth(long.agentName)) / 2);
    expect(darkTextAt(model, long.agentName, nameX, 35, 1)).toBe(true);

    await timers.settle(indicators.stop());
    expect(model.view()).toEqual(viewOf({ ...long, state: "stopped" }));
    expect(timers.pending).toBe(0);
  });

  it.each([
    [16, 2, ["*** IDENTIFY ***", "  press-line-4  "]],
    [20, 4, ["********************", "      IDENTIFY      ", "    press-line-4    ", "********************"]],
  ] as const)("LCD %ix%i: IDENTIFY and the name, then the state screen", async (columns, rows, expected) => {
    const timers = new FakeTimers();
    const model = new LcdModel(columns, rows, () => timers.now());
    const adapter = new FakeI2cAdapter();
    adapter.attach(0x27, model);
    const indicators = new Indicators(
      loadIndicatorConfig({
        CW_AGENT_DISPLAY_MODEL: "hd44780",
        CW_AGENT_DISPLAY_LCD_SIZE: `${columns}x${rows}`,
      }),
      memoryLogger().logger,
      { timers, openI2cBus: adapter.open, formatTime },
    );
    indicators.observe(statusOf("online"), undefined);
    await timers.settle(indicators.start());
    await timers.advanceAsync(10);
    indicators.identify(3);
    await timers.advanceAsync(10);
    expect(model.text()).toEqual(expected);
    await timers.advanceAsync(3_000);
    expect(model.text()).toEqual(renderLcdScreen(statusOf("online"), columns, rows, formatTime));
    await timers.settle(indicators.stop());
    expect(model.busyViolations).toBe(0);
    expect(timers.pending).toBe(0);
  });

  it("virtual OLED and LCD: the identify frame on the terminal, then the state frame again", async () => {
    for (const model of ["virtual", "virtual-lcd"] as const) {
      const frames: string[] = [];
      const timers = new FakeTimers();
      const indicators = new Indicators(
        loadIndicatorConfig({ CW_AGENT_DISPLAY_MODEL: model, CW_AGENT_DISPLAY_VIRTUAL_STYLE: "blocks" }),
        memoryLogger().logger,
        { timers, terminal: { write: (text) => frames.push(text) }, formatTime },
      );
      await indicators.start();
      indicators.observe(statusOf("online"), undefined);
      await flush();
      const stateFrame = frames.at(-1) ?? "";
      indicators.identify(2);
      await flush();
      const identifyFrame = frames.at(-1) ?? "";
      if (model === "virtual") {
        // Half blocks: a lit panel is mostly full blocks.
        const blocks = [...identifyFrame].filter((char) => char === "█").length;
        expect(blocks).toBeGreaterThan(0.6 * 128 * 32);
      } else {
        expect(identifyFrame).toContain("│*** IDENTIFY ***│");
        expect(identifyFrame).toContain("│  press-line-4  │");
      }
      await timers.advanceAsync(2_000);
      expect(frames.at(-1)).toBe(stateFrame);
      await indicators.stop();
    }
  });

  it("without a display, identify only concerns the LEDs and sets no display timer", async () => {
    const timers = new FakeTimers();
    const indicators = new Indicators(loadIndicatorConfig({}), memoryLogger().logger, { timers });
    await indicators.start();
    indicators.identify(5);
    await indicators.stop();
    expect(timers.pending).toBe(0);
  });
});

describe("the identify log line", () => {
  it.each([
    [
      { CW_AGENT_LED_STATUS: "led:status", CW_AGENT_DISPLAY_MODEL: "virtual" },
      "Identify requested: blinking the status LED and showing IDENTIFY on the display for 4 s",
    ],
    [{ CW_AGENT_LED_STATUS: "led:status" }, "Identify requested: blinking the status LED for 4 s"],
    [{ CW_AGENT_DISPLAY_MODEL: "virtual" }, "Identify requested: showing IDENTIFY on the display for 4 s"],
    [{}, "Identify requested, but there is no status LED and no display to show it on"],
  ])("names what shows it: %j", (env, message) => {
    const log = memoryLogger();
    const indicators = new Indicators(loadIndicatorConfig(env), log.logger, {
      timers: new FakeTimers(),
      terminal: { write: () => {} },
    });
    indicators.identify(4);
    expect(log.lines.filter((line) => line.msg.startsWith("Identify requested"))).toMatchObject([
      { msg: message, seconds: 4, component: "indicators" },
    ]);
  });
});
