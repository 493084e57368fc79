import { describe, expect, it } from "vitest";
import { Bitmap, textWidth } from "../../src/indicators/display/bitmap.js";
import { glyphRows } from "../../src/indicators/display/font.js";
import { OledDisplay } from "../../src/indicators/display/oled.js";
import { renderOledScreen, sampleStatuses } from "../../src/indicators/display/screens.js";
import { FakeI2cAdapter } from "./fakes/i2c.js";
import { OledModel } from "./fakes/oled-model.js";
import { formatTime, NOW, statusOf } from "./fakes/statuses.js";

async function setup(controller: "ssd1306" | "sh1106", rotation: 0 | 180 = 0) {
  const adapter = new FakeI2cAdapter();
  const model = new OledModel(controller);
  adapter.attach(0x3c, model);
  const display = new OledDisplay(await adapter.open(1), 0x3c, controller, rotation);
  return { adapter, model, display };
}

function viewOf(bitmap: Bitmap): string[] {
  const rows: string[] = [];
  for (let y = 0; y < bitmap.height; y++) {
    let row = "";
    for (let x = 0; x < bitmap.width; x++) row += bitmap.get(x, y) ? "#" : ".";
    rows.push(row);
  }
  return rows;
}

/** Asserts that `char`, drawn at `scale` with its top-left at (x, y), is what the glass shows. */
function expectGlyphAt(model: OledModel, char: string, x: number, y: number, scale: number): void {
  const rows = glyphRows(char);
  for (let row = 0; row < 7; row++) {
    for (let column = 0; column < 5; column++) {
      const expected = ((rows[row] ?? 0) & (0x10 >> column)) !== 0;
      for (let dy = 0; dy < scale; dy++) {
        for (let dx = 0; dx < scale; dx++) {
          expect(
            model.pixel(x + column * scale + dx, y + row * scale + dy),
            `${char} at ${column},${row}`,
          ).toBe(expected);
        }
      }
    }
  }
}

describe.each(["ssd1306", "sh1106"] as const)("%s driver against the device model", (controller) => {
  it("initialises completely and in order: supply before display on, RAM cleared", async () => {
    const { model, display } = await setup(controller);
    await display.init();

    const opcodes = model.commands.map((command) => command[0]);
    expect(opcodes[0]).toBe(0xae);
    expect(opcodes.at(-1)).toBe(0xaf);
    expect(model.unknown).toEqual([]);
    expect(model.displayOnWithoutSupply).toBe(false);
    expect(model.multiplex).toBe(63);
    expect(model.commandIndex(0xda, 0x12)).toBeGreaterThan(0);
    if (controller === "ssd1306") {
      expect(model.commandIndex(0x8d, 0x14)).toBeGreaterThan(0);
      expect(model.commandIndex(0x8d, 0x14)).toBeLessThan(model.commandIndex(0xaf));
      expect(model.commandIndex(0x20, 0x02)).toBeGreaterThan(0);
    } else {
      expect(model.commandIndex(0xad, 0x8b)).toBeGreaterThan(0);
      expect(model.commandIndex(0xad, 0x8b)).toBeLessThan(model.commandIndex(0xaf));
      // The SH1106 has no addressing-mode command; 0x20 would be misread.
      expect(model.commandIndex(0x20)).toBe(-1);
      expect(model.commandIndex(0x8d)).toBe(-1);
    }
    expect(model.ram.every((byte) => byte === 0)).toBe(true);
    expect(model.view().every((row) => !row.includes("#"))).toBe(true);
  });

  it("shows every state's screen exactly as rendered, pairing ID at 3x where expected", async () => {
    const { model, display } = await setup(controller);
    await display.init();
    for (const status of sampleStatuses(NOW)) {
      const bitmap = renderOledScreen(status, formatTime);
      await display.draw(bitmap);
      expect(model.view(), status.state).toEqual(viewOf(bitmap));
    }

    await display.draw(renderOledScreen(statusOf("pending"), formatTime));
    const left = Math.floor((128 - textWidth("7f3a9c", 3)) / 2);
    for (const [index, char] of [..."7f3a9c"].entries()) expectGlyphAt(model, char, left + index * 18, 23, 3);
  });

  it("re-sends only what changed", async () => {
    const { adapter, model, display } = await setup(controller);
    await display.init();
    await display.draw(renderOledScreen(statusOf("pending"), formatTime));
    const fullFrameBytes = 8 * (1 + 3 + 128 + 4);

    adapter.resetCounters();
    await display.draw(renderOledScreen(statusOf("pending"), formatTime));
    expect(adapter.transfers).toBe(0);

    // Only the agent name line (page 1-2) differs between these two.
    const renamed = { ...statusOf("pending"), agentName: "press-line-5" };
    await display.draw(renderOledScreen(renamed, formatTime));
    expect(adapter.bytes).toBeGreaterThan(0);
    expect(adapter.bytes).toBeLessThan(40);
    expect(adapter.bytes).toBeLessThan(fullFrameBytes / 10);
    expect(model.view()).toEqual(viewOf(renderOledScreen(renamed, formatTime)));
  });

  it("never sends a block longer than 32 bytes", async () => {
    const { adapter, model, display } = await setup(controller);
    const sizes: number[] = [];
    const original = model.writeI2cBlock.bind(model);
    model.writeI2cBlock = (control, data) => {
      sizes.push(data.length);
      original(control, data);
    };
    await display.init();
    await display.draw(renderOledScreen(statusOf("failed"), formatTime));
    expect(Math.max(...sizes)).toBeLessThanOrEqual(32);
    expect(adapter.overlaps).toBe(0);
  });

  it("rotates by 180 degrees through the controller, not by redrawing", async () => {
    const { model, display } = await setup(controller, 180);
    await display.init();
    const bitmap = new Bitmap(128, 64);
    bitmap.set(0, 0, true);
    await display.draw(bitmap);
    expect(model.segmentRemap).toBe(false);
    expect(model.comReverse).toBe(false);
    // The image is upside down relative to the default mounting, so the pixel appears opposite.
    expect(model.pixel(127, 63)).toBe(true);
    expect(model.pixel(0, 0)).toBe(false);
  });
});

describe("SH1106 column offset", () => {
  it("shows the image unshifted: a frame touches both edges and the hidden columns stay blank", async () => {
    const { model, display } = await setup("sh1106");
    await display.init();
    const frame = new Bitmap(128, 64);
    for (let x = 0; x < 128; x++) {
      frame.set(x, 0, true);
      frame.set(x, 63, true);
    }
    for (let y = 0; y < 64; y++) {
      frame.set(0, y, true);
      frame.set(127, y, true);
    }
    await display.draw(frame);
    expect(model.view()).toEqual(viewOf(frame));
    for (let page = 0; page < 8; page++) {
      for (const hidden of [0, 1, 130, 131]) expect(model.ramColumn(page, hidden)).toBe(0);
      expect(model.ramColumn(page, 2)).not.toBe(0);
      expect(model.ramColumn(page, 129)).not.toBe(0);
    }
  });
});

describe("a notice beside the state", () => {
  it("takes over one inverted row and leaves the rest of every state's screen as it was", () => {
    for (const status of sampleStatuses(NOW)) {
      const plain = viewOf(renderOledScreen(status, formatTime));
      const noticed = viewOf(renderOledScreen({ ...status, notice: "cw-agent.txt invalid" }, formatTime));
      const changed = noticed.flatMap((row, y) => (row === plain[y] ? [] : [y]));
      // One text row: the band of one line of small text and its inverted frame.
      expect(changed.length, status.state).toBeGreaterThan(0);
      expect(Math.max(...changed) - Math.min(...changed), status.state).toBeLessThanOrEqual(8);
      const band = noticed.slice(Math.min(...changed), Math.max(...changed) + 1).join("");
      // Inverted: mostly lit, with dark text in it.
      expect(band.split("#").length - 1, status.state).toBeGreaterThan(band.length / 2);
    }
  });

  it("keeps the pairing ID whole while pending", () => {
    const pending = sampleStatuses(NOW).find((status) => status.state === "pending");
    if (pending === undefined) throw new Error("no pending sample");
    const plain = renderOledScreen(pending, formatTime);
    const noticed = renderOledScreen({ ...pending, notice: "cw-agent.txt invalid" }, formatTime);
    for (const page of [3, 4]) expect(noticed.page(page)).toEqual(plain.page(page));
  });
});
