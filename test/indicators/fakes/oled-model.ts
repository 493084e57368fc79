import { errno, type I2cDevice } from "./i2c.js";

/** Arguments that follow each multi-byte command (SSD1306 datasheet Table 9-1; SH1106 command table). */
const ARGUMENT_COUNT: Readonly<Record<number, number>> = {
  32: 1, // memory addressing mode (SSD1306)
  33: 2, // column range (SSD1306, horizontal/vertical mode)
  34: 2, // page range (SSD1306, horizontal/vertical mode)
  129: 1, // contrast
  141: 1, // charge pump (SSD1306)
  168: 1, // multiplex ratio
  173: 1, // DC-DC (SH1106)
  211: 1, // display offset
  213: 1, // clock divide
  217: 1, // pre-charge
  218: 1, // COM pins
  219: 1, // VCOMH
};

/**
 * Executes what an SSD1306 or SH1106 receives over I2C into its display RAM and registers, and
 * shows the panel as a person would see it.
 */
export class OledModel implements I2cDevice {
  readonly ramColumns: number;
  readonly ram: Uint8Array;
  page = 0;
  column = 0;
  addressingMode = 2;
  displayOn = false;
  chargePump = false;
  dcDc = true;
  segmentRemap = false;
  comReverse = false;
  multiplex = 63;
  /** Every complete command with its arguments, in order. */
  readonly commands: number[][] = [];
  /** Commands the model does not know. */
  readonly unknown: number[] = [];
  /** True if the panel was switched on while its supply (charge pump / DC-DC) was off. */
  displayOnWithoutSupply = false;
  private pending: number[] = [];

  constructor(readonly controller: "ssd1306" | "sh1106") {
    this.ramColumns = controller === "sh1106" ? 132 : 128;
    this.ram = new Uint8Array(this.ramColumns * 8);
    this.powerOn();
  }

  /** After power-on the RAM holds noise and the registers their reset values. */
  powerOn(): void {
    for (let index = 0; index < this.ram.length; index++) this.ram[index] = (index * 37 + 11) & 0xff;
    this.page = 0;
    this.column = 0;
    this.addressingMode = 2;
    this.displayOn = false;
    this.chargePump = false;
    this.dcDc = true;
    this.segmentRemap = false;
    this.comReverse = false;
    this.pending = [];
    this.commands.length = 0;
  }

  writeI2cBlock(control: number, data: Uint8Array): void {
    if (control === 0x00) {
      for (const byte of data) this.command(byte);
    } else if (control === 0x40) {
      for (const byte of data) this.data(byte);
    } else {
      throw errno("EINVAL");
    }
  }

  sendByte(): void {
    throw errno("EOPNOTSUPP");
  }

  receiveByte(): number {
    throw errno("EOPNOTSUPP");
  }

  /** Whether the pixel at (x, y) of the 128x64 glass is lit. */
  pixel(x: number, y: number): boolean {
    if (!this.displayOn || !this.supplyOn) return false;
    const offset = this.controller === "sh1106" ? 2 : 0;
    // The glass is mounted so that remapped segments and reversed COM scan show upright.
    const column = (this.segmentRemap ? x : 127 - x) + offset;
    const row = this.comReverse ? y : 63 - y;
    return ((this.ram[(row >> 3) * this.ramColumns + column] ?? 0) & (1 << (row & 7))) !== 0;
  }

  /** The whole glass as rows of '#' and '.'. */
  view(): string[] {
    const rows: string[] = [];
    for (let y = 0; y < 64; y++) {
      let row = "";
      for (let x = 0; x < 128; x++) row += this.pixel(x, y) ? "#" : ".";
      rows.push(row);
    }
    return rows;
  }

  ramColumn(page: number, column: number): number {
    return this.ram[page * this.ramColumns + column] ?? 0;
  }

  commandIndex(opcode: number, argument?: number): number {
    return this.commands.findIndex(
      (entry) => entry[0] === opcode && (argument === undefined || entry[1] === argument),
    );
  }

  private get supplyOn(): boolean {
    return this.controller === "ssd1306" ? this.chargePump : this.dcDc;
  }

  private command(byte: number): void {
    this.pending.push(byte);
    const opcode = this.pending[0] ?? 0;
    if (this.pending.length <= (ARGUMENT_COUNT[opcode] ?? 0)) return;
    const [, argument = 0] = this.pending;
    this.commands.push(this.pending);
    this.pending = [];
    if (opcode <= 0x0f) this.column = (this.column & 0xf0) | opcode;
    else if (opcode <= 0x1f) this.column = (this.column & 0x0f) | ((opcode & 0x0f) << 4);
    else if (opcode === 0x20 && this.controller === "ssd1306") this.addressingMode = argument & 0x03;
    else if (opcode === 0x8d && this.controller === "ssd1306") this.chargePump = (argument & 0x04) !== 0;
    else if (opcode === 0xad && this.controller === "sh1106") this.dcDc = (argument & 0x01) !== 0;
    else if (opcode === 0xa0 || opcode === 0xa1) this.segmentRemap = opcode === 0xa1;
    else if (opcode === 0xc0 || opcode === 0xc8) this.comReverse = opcode === 0xc8;
    else if (opcode === 0xa8) this.multiplex = argument;
    else if (opcode === 0xae || opcode === 0xaf) {
      this.displayOn = opcode === 0xaf;
      if (this.displayOn && !this.supplyOn) this.displayOnWithoutSupply = true;
    } else if (opcode >= 0xb0 && opcode <= 0xb7) this.page = opcode & 0x07;
    else if (
      !(opcode >= 0x40 && opcode <= 0x7f) &&
      !(this.controller === "sh1106" && opcode >= 0x30 && opcode <= 0x33) &&
      ![0x81, 0xa4, 0xa5, 0xa6, 0xa7, 0xd3, 0xd5, 0xd9, 0xda, 0xdb, 0xe3, 0x21, 0x22].includes(opcode)
    ) {
      this.unknown.push(opcode);
    }
  }

  private data(byte: number): void {
    if (this.column < this.ramColumns) this.ram[this.page * this.ramColumns + this.column] = byte;
    if (this.controller === "ssd1306" && this.addressingMode !== 2) {
      throw new Error("model only implements page addressing writes");
    }
    // SSD1306 page mode wraps within the page (10.1.3); the SH1106 stops counting at 131.
    this.column = this.controller === "ssd1306" ? (this.column + 1) % 128 : Math.min(this.column + 1, 131);
  }
}
