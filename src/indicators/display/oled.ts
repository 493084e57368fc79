import type { Bitmap } from "./bitmap.js";
import type { GraphicDisplay } from "./display.js";
import { I2C_BLOCK_MAX, type I2cBus } from "./i2c.js";

export type OledController = "ssd1306" | "sh1106";

/** Control bytes (SSD1306 datasheet 8.1.5, SH1106 "I2C-bus Interface"): Co=0, then D/C# picks commands or RAM data. */
const COMMAND_STREAM = 0x00;
const DATA_STREAM = 0x40;

/**
 * Re-addressing costs one block transfer of three command bytes; resending up to this many
 * unchanged columns is cheaper than splitting a run.
 */
const MAX_UNCHANGED_GAP = 4;

/** Init sequences from the command tables (SSD1306 datasheet section 10; SH1106 datasheet "Commands"). */
function initCommands(controller: OledController, rotation: 0 | 180): number[] {
  // Segment remap (A0/A1) plus COM scan direction (C0/C8) together rotate the image by 180°.
  const orientation = rotation === 180 ? [0xa0, 0xc0] : [0xa1, 0xc8];
  if (controller === "ssd1306") {
    return [
      0xae, // display off while configuring
      0xd5,
      0x80, // clock divide ratio / oscillator frequency (reset value)
      0xa8,
      0x3f, // multiplex ratio: 64 rows
      0xd3,
      0x00, // display offset 0
      0x40, // display start line 0
      0x8d,
      0x14, // charge pump on; must precede display on (SSD1306 app note, "Charge Pump Regulator")
      0x20,
      0x02, // page addressing mode (10.1.3); the reset value, but a warm restart may have changed it
      ...orientation,
      0xda,
      0x12, // COM pins: alternative configuration, as wired on 128x64 panels
      0x81,
      0xcf, // contrast
      0xd9,
      0xf1, // pre-charge period for the internal charge pump
      0xdb,
      0x20, // VCOMH deselect level ~0.77 Vcc (reset value)
      0xa4, // display follows RAM
      0xa6, // normal, not inverted
    ];
  }
  return [
    0xae, // display off
    0xd5,
    0x80, // clock divide / oscillator
    0xa8,
    0x3f, // multiplex ratio: 64 rows
    0xd3,
    0x00, // display offset 0
    0x40, // start line 0
    0xad,
    0x8b, // DC-DC converter on ("Set DC-DC OFF/ON"); the SH1106 has no 0x8D charge pump command
    0x32, // pump voltage 8.0 V (reset value)
    ...orientation,
    0xda,
    0x12, // common pads: alternative
    0x81,
    0x80, // contrast
    0xd9,
    0x22, // pre-charge / dis-charge period (reset value)
    0xdb,
    0x35, // VCOM deselect level (reset value)
    0xa4,
    0xa6,
  ];
}

/**
 * SSD1306 and SH1106 128x64 OLEDs over SMBus block writes, in page addressing (the only mode the
 * SH1106 has). The SH1106 has 132 columns of RAM and the 128-pixel panel shows columns 2..129.
 */
export class OledDisplay implements GraphicDisplay {
  readonly kind = "graphic";
  readonly width = 128;
  readonly height = 64;
  readonly description: string;
  private readonly ramColumns: number;
  private readonly columnOffset: number;
  /** What the display RAM holds, as far as we know; undefined until init has cleared it. */
  private shadow: Uint8Array | undefined;

  constructor(
    private readonly bus: I2cBus,
    readonly address: number,
    readonly controller: OledController,
    private readonly rotation: 0 | 180 = 0,
  ) {
    this.description = `${controller} at 0x${address.toString(16)}`;
    this.ramColumns = controller === "sh1106" ? 132 : 128;
    this.columnOffset = controller === "sh1106" ? 2 : 0;
  }

  async init(): Promise<void> {
    this.shadow = undefined;
    await this.commands(initCommands(this.controller, this.rotation));
    // RAM content is undefined after power-on (and stale after a reconnect): clear all of it,
    // including the SH1106's four invisible columns, before the panel is switched on.
    const zeros = new Uint8Array(this.ramColumns);
    for (let page = 0; page < 8; page++) await this.writeRam(page, 0, zeros);
    this.shadow = new Uint8Array(this.width * 8);
    await this.commands([0xaf]);
  }

  async draw(bitmap: Bitmap): Promise<void> {
    if (bitmap.width !== this.width || bitmap.height !== this.height) {
      throw new RangeError(`expected a ${this.width}x${this.height} bitmap`);
    }
    const shadow = this.shadow;
    if (shadow === undefined) throw new Error(`${this.description} is not initialised`);
    for (let page = 0; page < 8; page++) {
      const wanted = bitmap.page(page);
      const known = shadow.subarray(page * this.width, (page + 1) * this.width);
      for (const [start, end] of changedRuns(known, wanted, MAX_UNCHANGED_GAP)) {
        await this.writeRam(page, start + this.columnOffset, wanted.subarray(start, end));
        known.set(wanted.subarray(start, end), start);
      }
    }
  }

  async off(): Promise<void> {
    await this.commands([0xae]);
  }

  async close(): Promise<void> {
    this.shadow = undefined;
    await this.bus.close();
  }

  private async commands(bytes: readonly number[]): Promise<void> {
    for (let index = 0; index < bytes.length; index += I2C_BLOCK_MAX) {
      await this.bus.writeI2cBlock(
        this.address,
        COMMAND_STREAM,
        Uint8Array.from(bytes.slice(index, index + I2C_BLOCK_MAX)),
      );
    }
  }

  /** Page addressing: B0+page (10.1.13), then the column's low and high nibble (10.1.1, 10.1.2). */
  private async writeRam(page: number, ramColumn: number, bytes: Uint8Array): Promise<void> {
    await this.commands([0xb0 | page, ramColumn & 0x0f, 0x10 | (ramColumn >> 4)]);
    for (let index = 0; index < bytes.length; index += I2C_BLOCK_MAX) {
      await this.bus.writeI2cBlock(this.address, DATA_STREAM, bytes.subarray(index, index + I2C_BLOCK_MAX));
    }
  }
}

/** [start, end) ranges where `wanted` differs from `known`, merging runs separated by at most `gap` equal bytes. */
export function changedRuns(known: Uint8Array, wanted: Uint8Array, gap: number): Array<[number, number]> {
  const runs: Array<[number, number]> = [];
  for (let index = 0; index < wanted.length; index++) {
    if (known[index] === wanted[index]) continue;
    const last = runs[runs.length - 1];
    if (last !== undefined && index - last[1] <= gap) last[1] = index + 1;
    else runs.push([index, index + 1]);
  }
  return runs;
}
