import type { Timers } from "../timers.js";
import { sleep } from "../timers.js";
import type { TextDisplay } from "./display.js";
import type { I2cBus } from "./i2c.js";

/**
 * PCF8574 port bits as wired on the common LCD backpacks: P0=RS, P1=R/W, P2=E, P3=backlight
 * transistor, P4..P7 = D4..D7.
 */
export const PCF_RS = 0x01;
export const PCF_RW = 0x02;
export const PCF_E = 0x04;
export const PCF_BACKLIGHT = 0x08;

/** DDRAM address of each row's first character (HD44780 datasheet Table 4 / Figure 10: 0x00, 0x40, then 0x14, 0x54 on 20x4). */
export const ROW_ADDRESSES = [0x00, 0x40, 0x14, 0x54] as const;

/** Instructions from HD44780 datasheet Table 6. */
const CLEAR_DISPLAY = 0x01;
const ENTRY_MODE_INCREMENT = 0x06;
const DISPLAY_OFF = 0x08;
const DISPLAY_ON_NO_CURSOR = 0x0c;
const FUNCTION_SET_4BIT_2LINE = 0x28;
const SET_DDRAM_ADDRESS = 0x80;

/**
 * An HD44780 behind a PCF8574 I/O expander, written one SMBus "send byte" at a time. Each 4-bit
 * nibble is latched on the falling edge of E; at 100 kHz each send takes ~90 µs, longer than the
 * E pulse width and the 37 µs instruction time, so only clear/home need an explicit wait.
 */
export class Hd44780Display implements TextDisplay {
  readonly kind = "text";
  readonly description: string;
  private backlight = PCF_BACKLIGHT;
  private shadow: string[] | undefined;

  constructor(
    private readonly bus: I2cBus,
    readonly address: number,
    readonly columns: number,
    readonly rows: number,
    private readonly timers: Timers,
  ) {
    this.description = `hd44780 ${columns}x${rows} (PCF8574 at 0x${address.toString(16)})`;
  }

  /**
   * "Initializing by instruction" for 4-bit interfaces (datasheet Figure 24): three 0x3 nibbles
   * put the controller into 8-bit mode from any state, including a restart that left it waiting
   * for the second half of a byte, then 0x2 switches to 4-bit.
   */
  async init(): Promise<void> {
    this.shadow = undefined;
    this.backlight = PCF_BACKLIGHT;
    await this.bus.sendByte(this.address, this.backlight);
    await sleep(this.timers, 50); // > 40 ms after Vcc rises to 2.7 V (hot-plugged modules)
    await this.nibble(0x3, 0);
    await sleep(this.timers, 5); // > 4.1 ms
    await this.nibble(0x3, 0);
    await sleep(this.timers, 1); // > 100 µs
    await this.nibble(0x3, 0);
    await sleep(this.timers, 1);
    await this.nibble(0x2, 0);
    await this.command(FUNCTION_SET_4BIT_2LINE);
    await this.command(DISPLAY_OFF);
    await this.command(CLEAR_DISPLAY);
    await sleep(this.timers, 2); // clear display takes 1.52 ms
    await this.command(ENTRY_MODE_INCREMENT);
    await this.command(DISPLAY_ON_NO_CURSOR);
    this.shadow = Array.from({ length: this.rows }, () => " ".repeat(this.columns));
  }

  async draw(lines: readonly string[]): Promise<void> {
    const shadow = this.shadow;
    if (shadow === undefined) throw new Error(`${this.description} is not initialised`);
    for (let row = 0; row < this.rows; row++) {
      const wanted = toLcdCharacters((lines[row] ?? "").padEnd(this.columns, " ").slice(0, this.columns));
      const known = shadow[row] ?? "";
      let column = 0;
      while (column < this.columns) {
        if (wanted[column] === known[column]) {
          column++;
          continue;
        }
        // Setting the address costs as much as one character, so a single unchanged character
        // between two changes is rewritten rather than skipped.
        let end = column + 1;
        while (end < this.columns && (wanted[end] !== known[end] || wanted[end + 1] !== known[end + 1]))
          end++;
        await this.command(SET_DDRAM_ADDRESS | ((ROW_ADDRESSES[row] ?? 0) + column));
        for (let index = column; index < end; index++) await this.data(wanted.charCodeAt(index));
        shadow[row] =
          (shadow[row] ?? "").slice(0, column) + wanted.slice(column, end) + (shadow[row] ?? "").slice(end);
        column = end;
      }
    }
  }

  /** Clears the text and switches the backlight off. */
  async off(): Promise<void> {
    await this.command(CLEAR_DISPLAY);
    await sleep(this.timers, 2);
    this.backlight = 0;
    await this.bus.sendByte(this.address, this.backlight);
    this.shadow = Array.from({ length: this.rows }, () => " ".repeat(this.columns));
  }

  async close(): Promise<void> {
    this.shadow = undefined;
    await this.bus.close();
  }

  private async command(byte: number): Promise<void> {
    await this.nibble(byte >> 4, 0);
    await this.nibble(byte & 0x0f, 0);
  }

  private async data(byte: number): Promise<void> {
    await this.nibble(byte >> 4, PCF_RS);
    await this.nibble(byte & 0x0f, PCF_RS);
  }

  /** D4..D7 with E high, then E low: the HD44780 latches on the falling edge. R/W stays 0 (write). */
  private async nibble(value: number, registerSelect: number): Promise<void> {
    const port = ((value & 0x0f) << 4) | registerSelect | this.backlight;
    await this.bus.sendByte(this.address, port | PCF_E);
    await this.bus.sendByte(this.address, port);
  }
}

/**
 * ROM A00 matches ASCII from 0x20 to 0x7D except 0x5C (a yen sign) and has arrows at 0x7E/0x7F,
 * so those are substituted rather than shown wrongly.
 */
export function toLcdCharacters(text: string): string {
  let result = "";
  for (const char of text) {
    const code = char.charCodeAt(0);
    if (char === "\\") result += "/";
    else if (char === "~") result += "-";
    else result += code >= 0x20 && code <= 0x7d ? char : "?";
  }
  return result;
}
