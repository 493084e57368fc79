import type { I2cDevice } from "./i2c.js";

const RS = 0x01;
const RW = 0x02;
const E = 0x04;
const BACKLIGHT = 0x08;
const ROW_ADDRESSES = [0x00, 0x40, 0x14, 0x54];

/**
 * A PCF8574 whose port drives an HD44780: nibbles are latched on the falling edge of E and
 * assembled according to the controller's interface mode, instructions run against DDRAM.
 */
export class LcdModel implements I2cDevice {
  port = 0xff;
  eightBitInterface = true;
  twoLine = false;
  displayOn = false;
  cursorOn = false;
  increment = true;
  address = 0;
  readonly ddram = new Uint8Array(0x80);
  /** Instructions (RS=0) executed, in order. */
  readonly instructions: number[] = [];
  /** Port writes with the backlight bit clear while the backlight was meant to be on. */
  bytesWithoutBacklight = 0;
  expectBacklight = true;
  /** Latches that arrived while a clear/home was still executing (1.52 ms). */
  busyViolations = 0;
  private highNibble: number | undefined;
  private busyUntil = 0;

  constructor(
    readonly columns: number,
    readonly rows: number,
    private readonly clock: () => number,
  ) {
    this.powerOn();
  }

  powerOn(): void {
    this.port = 0xff;
    this.eightBitInterface = true;
    this.twoLine = false;
    this.displayOn = false;
    this.highNibble = undefined;
    this.address = 0;
    this.ddram.fill(0x2a); // noise
    this.instructions.length = 0;
  }

  writeI2cBlock(): void {
    // A PCF8574 takes every byte as a port value; the driver must never use block writes on it.
    throw new Error("block write sent to a PCF8574");
  }

  sendByte(byte: number): void {
    const previous = this.port;
    this.port = byte & 0xff;
    if (this.expectBacklight && (byte & BACKLIGHT) === 0) this.bytesWithoutBacklight++;
    if ((previous & E) !== 0 && (byte & E) === 0) this.latch(byte >> 4, (byte & RS) !== 0, (byte & RW) !== 0);
  }

  receiveByte(): number {
    return this.port;
  }

  get backlight(): boolean {
    return (this.port & BACKLIGHT) !== 0;
  }

  /** Text on the glass, row by row (blank when the display is off). */
  text(): string[] {
    return Array.from({ length: this.rows }, (_, row) => {
      if (!this.displayOn) return " ".repeat(this.columns);
      const start = ROW_ADDRESSES[row] ?? 0;
      return String.fromCharCode(...this.ddram.subarray(start, start + this.columns));
    });
  }

  /** Sends a lone nibble, as a process that died mid-byte would have. */
  desynchronise(): void {
    this.sendByte(0x30 | E | BACKLIGHT);
    this.sendByte(0x30 | BACKLIGHT);
  }

  private latch(nibble: number, registerSelect: boolean, read: boolean): void {
    if (read) return;
    if (this.clock() < this.busyUntil) this.busyViolations++;
    if (this.eightBitInterface) {
      // D0..D3 are not wired: they read as 0.
      this.execute(nibble << 4, registerSelect);
      return;
    }
    if (this.highNibble === undefined) {
      this.highNibble = nibble;
      return;
    }
    const byte = (this.highNibble << 4) | nibble;
    this.highNibble = undefined;
    this.execute(byte, registerSelect);
  }

  private execute(byte: number, registerSelect: boolean): void {
    if (registerSelect) {
      this.ddram[this.address & 0x7f] = byte;
      this.address = this.nextAddress(this.address);
      return;
    }
    this.instructions.push(byte);
    if (byte & 0x80) {
      this.address = byte & 0x7f;
    } else if (byte & 0x40) {
      // CGRAM address: not used.
    } else if (byte & 0x20) {
      this.eightBitInterface = (byte & 0x10) !== 0;
      this.twoLine = (byte & 0x08) !== 0;
      this.highNibble = undefined;
    } else if (byte & 0x10) {
      // cursor/display shift: not used.
    } else if (byte & 0x08) {
      this.displayOn = (byte & 0x04) !== 0;
      this.cursorOn = (byte & 0x02) !== 0;
    } else if (byte & 0x04) {
      this.increment = (byte & 0x02) !== 0;
    } else if (byte & 0x02) {
      this.address = 0;
      this.busyUntil = this.clock() + 1.52;
    } else if (byte & 0x01) {
      this.ddram.fill(0x20);
      this.address = 0;
      this.increment = true;
      this.busyUntil = this.clock() + 1.52;
    }
  }

  /** Two-line DDRAM is 0x00-0x27 and 0x40-0x67 (datasheet Figure 6). */
  private nextAddress(address: number): number {
    const next = this.increment ? address + 1 : address - 1;
    if (!this.twoLine) return next & 0x7f;
    if (next === 0x28) return 0x40;
    if (next === 0x68) return 0x00;
    return next & 0x7f;
  }
}
