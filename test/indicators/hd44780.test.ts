import { describe, expect, it } from "vitest";
import { Hd44780Display, toLcdCharacters } from "../../src/indicators/display/hd44780.js";
import { renderLcdScreen, sampleStatuses } from "../../src/indicators/display/screens.js";
import { FakeTimers } from "./fakes/fake-timers.js";
import { FakeI2cAdapter } from "./fakes/i2c.js";
import { LcdModel } from "./fakes/lcd-model.js";
import { formatTime, NOW, statusOf } from "./fakes/statuses.js";

async function setup(columns: 16 | 20, rows: 2 | 4) {
  const timers = new FakeTimers();
  const adapter = new FakeI2cAdapter();
  const model = new LcdModel(columns, rows, () => timers.now());
  adapter.attach(0x27, model);
  const display = new Hd44780Display(await adapter.open(1), 0x27, columns, rows, timers);
  return { timers, adapter, model, display };
}

describe("HD44780 behind a PCF8574, against the device model", () => {
  it("initialises into 4-bit, two-line mode with the display on and cleared", async () => {
    const { timers, model, display } = await setup(16, 2);
    await timers.settle(display.init());
    expect(model.eightBitInterface).toBe(false);
    expect(model.twoLine).toBe(true);
    expect(model.displayOn).toBe(true);
    expect(model.cursorOn).toBe(false);
    expect(model.text()).toEqual(["                ", "                "]);
    // The PCF8574 powers up with every pin high, so the first port write is a falling edge of E
    // that latches a stray nibble; what follows is datasheet Figure 24: function set 8-bit
    // three times, then 4-bit, then the configuration.
    expect(model.instructions.slice(-9)).toEqual([0x30, 0x30, 0x30, 0x20, 0x28, 0x08, 0x01, 0x06, 0x0c]);
    expect(model.instructions.length).toBeLessThanOrEqual(10);
    expect(model.busyViolations).toBe(0);
    expect(model.bytesWithoutBacklight).toBe(0);
  });

  it("recovers a controller left waiting for the second nibble by a previous process", async () => {
    const { timers, model, display } = await setup(16, 2);
    await timers.settle(display.init());
    model.desynchronise();
    expect(model.eightBitInterface).toBe(false);
    // The restarted agent: a new driver on the same, now out-of-step, controller.
    const restarted = new FakeI2cAdapter();
    restarted.attach(0x27, model);
    const fresh = new Hd44780Display(await restarted.open(1), 0x27, 16, 2, timers);
    await timers.settle(fresh.init());
    await timers.settle(fresh.draw(renderLcdScreen(statusOf("pending"), 16, 2, formatTime)));
    expect(model.text()).toEqual(["PENDING   7f3a9c", "press-line-4    "]);
  });

  it.each([
    [16, 2],
    [20, 4],
  ] as const)(
    "shows every state's %ix%i screen, backlight bit in every byte, waits after clear",
    async (columns, rows) => {
      const { timers, model, display } = await setup(columns, rows);
      await timers.settle(display.init());
      for (const status of sampleStatuses(NOW)) {
        const lines = renderLcdScreen(status, columns, rows, formatTime);
        await timers.settle(display.draw(lines));
        expect(model.text(), status.state).toEqual(lines.map(toLcdCharacters));
      }
      expect(model.bytesWithoutBacklight).toBe(0);
      expect(model.busyViolations).toBe(0);
    },
  );

  it("puts the pairing ID and the reconnect time where a technician looks", async () => {
    const { timers, model, display } = await setup(16, 2);
    await timers.settle(display.init());
    await timers.settle(display.draw(renderLcdScreen(statusOf("pending"), 16, 2, formatTime)));
    expect(model.text()[0]?.slice(10)).toBe("7f3a9c");
    await timers.settle(display.draw(renderLcdScreen(statusOf("reconnecting"), 16, 2, formatTime)));
    expect(model.text()[0]).toBe("RETRY   14:03:22");
    await timers.settle(display.draw(renderLcdScreen(statusOf("conflict"), 16, 2, formatTime)));
    expect(model.text()).toEqual(["CONFLICT: delete", "press-line-4    "]);
  });

  it("a notice takes the line of the name, and the state and pairing ID stay", async () => {
    const { timers, model, display } = await setup(20, 4);
    await timers.settle(display.init());
    const pending = { ...statusOf("pending"), notice: "cw-agent.txt invalid" };
    await timers.settle(display.draw(renderLcdScreen(pending, 20, 4, formatTime)));
    expect(model.text()).toEqual([
      "WAITING FOR APPROVAL",
      "Pairing ID 7f3a9c   ",
      "cw-agent.txt invalid",
      "Authorize this ID   ",
    ]);
    expect(renderLcdScreen(pending, 16, 2, formatTime)[0]).toBe("PENDING   7f3a9c");
  });

  it("uses the 20x4 row addresses 0x00, 0x40, 0x14, 0x54", async () => {
    const { timers, model, display } = await setup(20, 4);
    await timers.settle(display.init());
    await timers.settle(display.draw(["row zero", "row one", "row two", "row three"]));
    const addresses = model.instructions.filter((instruction) => instruction & 0x80).map((i) => i & 0x7f);
    expect(addresses).toEqual([0x00, 0x40, 0x14, 0x54]);
    expect(model.text().map((line) => line.trim())).toEqual(["row zero", "row one", "row two", "row three"]);
  });

  it("re-sends only the characters that changed", async () => {
    const { timers, adapter, model, display } = await setup(16, 2);
    await timers.settle(display.init());
    await timers.settle(display.draw(["PENDING   7f3a9c", "press-line-4"]));
    adapter.resetCounters();
    await timers.settle(display.draw(["PENDING   7f3a9c", "press-line-4"]));
    expect(adapter.transfers).toBe(0);
    await timers.settle(display.draw(["PENDING   7f3a9d", "press-line-4"]));
    // One address instruction and one character, four port writes each.
    expect(adapter.transfers).toBe(8);
    expect(model.text()[0]).toBe("PENDING   7f3a9d");
  });

  it("clears and switches the backlight off", async () => {
    const { timers, model, display } = await setup(16, 2);
    await timers.settle(display.init());
    await timers.settle(display.draw(["hello", "world"]));
    model.expectBacklight = false;
    await timers.settle(display.off());
    expect(model.backlight).toBe(false);
    expect(model.text()).toEqual(["                ", "                "]);
  });
});
