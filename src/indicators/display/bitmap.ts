import { CELL_HEIGHT, CELL_WIDTH, GLYPH_HEIGHT, GLYPH_WIDTH, glyphRows } from "./font.js";

/**
 * A 1-bit framebuffer laid out like SSD1306/SH1106 display RAM (SSD1306 datasheet 8.7, "Graphic
 * Display Data RAM"): one byte per column per 8-row page, bit 0 at the top, so a page row goes
 * to the controller without conversion.
 */
export class Bitmap {
  readonly pages: number;
  readonly data: Uint8Array;

  constructor(
    readonly width: number,
    readonly height: number,
  ) {
    if (height % 8 !== 0) throw new RangeError("bitmap height must be a multiple of 8");
    this.pages = height / 8;
    this.data = new Uint8Array(width * this.pages);
  }

  get(x: number, y: number): boolean {
    if (x < 0 || y < 0 || x >= this.width || y >= this.height) return false;
    return ((this.data[(y >> 3) * this.width + x] ?? 0) & (1 << (y & 7))) !== 0;
  }

  set(x: number, y: number, on: boolean): void {
    if (x < 0 || y < 0 || x >= this.width || y >= this.height) return;
    const index = (y >> 3) * this.width + x;
    const bit = 1 << (y & 7);
    const byte = this.data[index] ?? 0;
    this.data[index] = on ? byte | bit : byte & ~bit;
  }

  fill(x: number, y: number, width: number, height: number, on: boolean): void {
    for (let row = y; row < y + height; row++) {
      for (let column = x; column < x + width; column++) this.set(column, row, on);
    }
  }

  /** The bytes of one page, `width` long. */
  page(page: number): Uint8Array {
    return this.data.subarray(page * this.width, (page + 1) * this.width);
  }

  equals(other: Bitmap): boolean {
    return (
      this.width === other.width &&
      this.height === other.height &&
      Buffer.compare(this.data, other.data) === 0
    );
  }
}

export interface TextStyle {
  /** Integer magnification of the 5x7 glyphs. */
  readonly scale?: number;
  /** Dark text on a lit background. */
  readonly inverse?: boolean;
}

export function textWidth(text: string, scale = 1): number {
  return text.length === 0 ? 0 : (text.length * CELL_WIDTH - 1) * scale;
}

/** Characters of `scale` that fit in `width` pixels. */
export function charsThatFit(width: number, scale = 1): number {
  return Math.floor((width / scale + 1) / CELL_WIDTH);
}

/** Draws `text` with its top-left glyph pixel at (x, y). */
export function drawText(bitmap: Bitmap, text: string, x: number, y: number, style: TextStyle = {}): void {
  const scale = style.scale ?? 1;
  const lit = !style.inverse;
  let cursor = x;
  for (const char of text) {
    const rows = glyphRows(char);
    for (let row = 0; row < GLYPH_HEIGHT; row++) {
      const bits = rows[row] ?? 0;
      for (let column = 0; column < GLYPH_WIDTH; column++) {
        if ((bits & (0x10 >> column)) !== 0)
          bitmap.fill(cursor + column * scale, y + row * scale, scale, scale, lit);
      }
    }
    cursor += CELL_WIDTH * scale;
  }
}

export function drawCentered(bitmap: Bitmap, text: string, y: number, style: TextStyle = {}): void {
  const x = Math.max(0, Math.floor((bitmap.width - textWidth(text, style.scale)) / 2));
  drawText(bitmap, text, x, y, style);
}

export { CELL_HEIGHT, CELL_WIDTH };
