/**
 * A 5x7 ASCII font (0x20-0x7E). Each glyph is seven rows of five pixels, written as two hex
 * digits per row with bit 4 as the leftmost pixel. Cells are 6x8 so characters and lines get a
 * one-pixel gap, the same cell an HD44780 uses.
 */
const GLYPH_ROWS =
  "00000000000000" + // space
  "04040404040004" + // !
  "0a0a0000000000" + // "
  "0a0a1f0a1f0a0a" + // #
  "040f140e051e04" + // $
  "18190204081303" + // %
  "0c12140815120d" + // &
  "04040800000000" + // '
  "02040808080402" + // (
  "08040202020408" + // )
  "0004150e150400" + // *
  "0004041f040400" + // +
  "000000000c0408" + // ,
  "0000001f000000" + // -
  "00000000000c0c" + // .
  "00010204081000" + // /
  "0e11131519110e" + // 0
  "040c040404040e" + // 1
  "0e11010204081f" + // 2
  "1f02040201110e" + // 3
  "02060a121f0202" + // 4
  "1f101e0101110e" + // 5
  "0608101e11110e" + // 6
  "1f010204080808" + // 7
  "0e11110e11110e" + // 8
  "0e11110f01020c" + // 9
  "000c0c000c0c00" + // :
  "000c0c000c0408" + // ;
  "02040810080402" + // <
  "00001f001f0000" + // =
  "08040201020408" + // >
  "0e110102040004" + // ?
  "0e11010d15150e" + // @
  "0e1111111f1111" + // A
  "1e11111e11111e" + // B
  "0e11101010110e" + // C
  "1c12111111121c" + // D
  "1f10101e10101f" + // E
  "1f10101e101010" + // F
  "0e11101711110f" + // G
  "1111111f111111" + // H
  "0e04040404040e" + // I
  "0702020202120c" + // J
  "11121418141211" + // K
  "1010101010101f" + // L
  "111b1515111111" + // M
  "11111915131111" + // N
  "0e11111111110e" + // O
  "1e11111e101010" + // P
  "0e11111115120d" + // Q
  "1e11111e141211" + // R
  "0f10100e01011e" + // S
  "1f040404040404" + // T
  "1111111111110e" + // U
  "11111111110a04" + // V
  "1111111515150a" + // W
  "11110a040a1111" + // X
  "1111110a040404" + // Y
  "1f01020408101f" + // Z
  "0e08080808080e" + // [
  "00100804020100" + // backslash
  "0e02020202020e" + // ]
  "040a1100000000" + // ^
  "0000000000001f" + // _
  "08040200000000" + // `
  "00000e010f110f" + // a
  "1010161911111e" + // b
  "00000e1010110e" + // c
  "01010d1311110f" + // d
  "00000e111f100e" + // e
  "0609081c080808" + // f
  "000f11110f010e" + // g
  "10101619111111" + // h
  "04000c0404040e" + // i
  "0200060202120c" + // j
  "10101214181412" + // k
  "0c04040404040e" + // l
  "00001a15151111" + // m
  "00001619111111" + // n
  "00000e1111110e" + // o
  "00001e111e1010" + // p
  "00000d130f0101" + // q
  "00001619101010" + // r
  "00000e100e011e" + // s
  "08081c08080906" + // t
  "0000111111130d" + // u
  "00001111110a04" + // v
  "0000111115150a" + // w
  "0000110a040a11" + // x
  "000011110f010e" + // y
  "00001f0204081f" + // z
  "02040408040402" + // {
  "04040404040404" + // |
  "08040402040408" + // }
  "00000815020000"; // ~

export const GLYPH_WIDTH = 5;
export const GLYPH_HEIGHT = 7;
export const CELL_WIDTH = 6;
export const CELL_HEIGHT = 8;
const FIRST = 0x20;
const LAST = 0x7e;

/** Characters the font (and the HD44780 ROM A00 at the same codes, bar '\\' and '~') can show. */
export function toDisplayable(text: string): string {
  let result = "";
  for (const char of text) {
    const code = char.codePointAt(0) ?? 0;
    result += code >= FIRST && code <= LAST ? char : "?";
  }
  return result;
}

/** Rows of the glyph for `char`, bit 4 leftmost; unknown characters show as '?'. */
export function glyphRows(char: string): readonly number[] {
  let code = char.codePointAt(0) ?? 0x3f;
  if (code < FIRST || code > LAST) code = 0x3f;
  const offset = (code - FIRST) * GLYPH_HEIGHT * 2;
  const rows: number[] = [];
  for (let row = 0; row < GLYPH_HEIGHT; row++) {
    rows.push(Number.parseInt(GLYPH_ROWS.slice(offset + row * 2, offset + row * 2 + 2), 16));
  }
  return rows;
}
