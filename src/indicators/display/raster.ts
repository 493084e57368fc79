import { Bitmap } from "./bitmap.js";
import { CELL_HEIGHT, CELL_WIDTH, GLYPH_HEIGHT, GLYPH_WIDTH, glyphRows } from "./font.js";

/**
 * The picture an HD44780 shows: 5x8 dot cells (the eighth row is the cursor line) with a one-dot
 * gap between characters and rows, as on the glass.
 */
export function lcdToBitmap(lines: readonly string[], columns: number, rows: number): Bitmap {
  const height = Math.ceil((rows * (CELL_HEIGHT + 1) + 1) / 8) * 8;
  const bitmap = new Bitmap(columns * CELL_WIDTH + 1, height);
  for (let row = 0; row < rows; row++) {
    const line = lines[row] ?? "";
    for (let column = 0; column < columns; column++) {
      const glyph = glyphRows(line[column] ?? " ");
      const left = 1 + column * CELL_WIDTH;
      const top = 1 + row * (CELL_HEIGHT + 1);
      for (let y = 0; y < GLYPH_HEIGHT; y++) {
        for (let x = 0; x < GLYPH_WIDTH; x++) {
          if (((glyph[y] ?? 0) & (0x10 >> x)) !== 0) bitmap.set(left + x, top + y, true);
        }
      }
    }
  }
  return bitmap;
}

export interface RgbaImage {
  readonly width: number;
  readonly height: number;
  readonly data: Uint8Array;
}

export interface Palette {
  readonly lit: readonly [number, number, number];
  readonly dark: readonly [number, number, number];
  /** Unlit dots of an LCD are faintly visible; OLED pixels are not. */
  readonly unlitDot?: readonly [number, number, number];
}

export const OLED_PALETTE: Palette = { lit: [120, 200, 255], dark: [8, 10, 14] };
export const LCD_PALETTE: Palette = { lit: [235, 245, 255], dark: [30, 60, 200], unlitDot: [40, 75, 215] };

/**
 * Scales a bitmap into RGBA pixels with a one-pixel grid between dots, so PNGs look like the
 * panel. Encoding to PNG is left to the caller (pngjs is a development dependency only).
 */
export function bitmapToRgba(bitmap: Bitmap, palette: Palette, dot = 4, border = 8): RgbaImage {
  const width = bitmap.width * dot + 2 * border;
  const height = bitmap.height * dot + 2 * border;
  const data = new Uint8Array(width * height * 4);
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) {
      const bx = Math.floor((x - border) / dot);
      const by = Math.floor((y - border) / dot);
      const inside = x >= border && y >= border && bx < bitmap.width && by < bitmap.height;
      const gap = (x - border) % dot === dot - 1 || (y - border) % dot === dot - 1;
      let color = palette.dark;
      if (inside && !gap) color = bitmap.get(bx, by) ? palette.lit : (palette.unlitDot ?? palette.dark);
      const offset = (y * width + x) * 4;
      data[offset] = color[0];
      data[offset + 1] = color[1];
      data[offset + 2] = color[2];
      data[offset + 3] = 255;
    }
  }
  return { width, height, data };
}

/** Two pixel rows per character with half blocks: sharp, but 128 columns wide. */
export function bitmapToBlocks(bitmap: Bitmap): string[] {
  const lines: string[] = [];
  for (let y = 0; y < bitmap.height; y += 2) {
    let line = "";
    for (let x = 0; x < bitmap.width; x++) {
      const top = bitmap.get(x, y);
      const bottom = bitmap.get(x, y + 1);
      line += top ? (bottom ? "█" : "▀") : bottom ? "▄" : " ";
    }
    lines.push(line);
  }
  return lines;
}

/** Braille patterns (U+2800) pack 2x4 pixels per character: a 128x64 screen fits in 64x16. */
export function bitmapToBraille(bitmap: Bitmap): string[] {
  // Dot numbering of the braille cell: bits for (dx, dy).
  const bits = [
    [0x01, 0x08],
    [0x02, 0x10],
    [0x04, 0x20],
    [0x40, 0x80],
  ];
  const lines: string[] = [];
  for (let y = 0; y < bitmap.height; y += 4) {
    let line = "";
    for (let x = 0; x < bitmap.width; x += 2) {
      let code = 0;
      for (let dy = 0; dy < 4; dy++) {
        for (let dx = 0; dx < 2; dx++) if (bitmap.get(x + dx, y + dy)) code |= bits[dy]?.[dx] ?? 0;
      }
      line += String.fromCodePoint(0x2800 + code);
    }
    lines.push(line);
  }
  return lines;
}

/** Puts a frame around terminal lines, with a caption in the top edge. */
export function framed(lines: readonly string[], caption: string): string {
  const width = Math.max(0, ...lines.map((line) => [...line].length));
  const title = ` ${caption} `.slice(0, width);
  const top = `┌${title}${"─".repeat(width - [...title].length)}┐`;
  return [
    top,
    ...lines.map((line) => `│${line}${" ".repeat(width - [...line].length)}│`),
    `└${"─".repeat(width)}┘`,
  ].join("\n");
}
