/**
 * Renders every lifecycle state's screen and the identify screen, for the OLED and for 16x2 and
 * 20x4 character LCDs, to PNG files in docs/screens/ (embedded by docs/indicators.md).
 *
 *   npx tsc -p . && node dist/scripts/render-screens.js
 */
import { mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { PNG } from "pngjs";
import {
  bitmapToRgba,
  LCD_PALETTE,
  lcdToBitmap,
  OLED_PALETTE,
  type RgbaImage,
} from "../src/indicators/display/raster.js";
import {
  renderLcdIdentifyScreen,
  renderLcdScreen,
  renderOledIdentifyScreen,
  renderOledScreen,
  sampleStatuses,
} from "../src/indicators/display/screens.js";

const OUTPUT = join(process.cwd(), "docs", "screens");
/** A fixed instant and clock format, so the images do not change from run to run. */
const NOW = Date.UTC(2025, 0, 15, 14, 3, 14);
const formatTime = (epochMs: number) => new Date(epochMs).toISOString().slice(11, 19);

function writePng(name: string, image: RgbaImage): void {
  const png = new PNG({ width: image.width, height: image.height });
  png.data = Buffer.from(image.data);
  writeFileSync(join(OUTPUT, name), PNG.sync.write(png));
}

mkdirSync(OUTPUT, { recursive: true });
const written: string[] = [];
for (const status of sampleStatuses(NOW)) {
  const oled = `oled-${status.state}.png`;
  writePng(oled, bitmapToRgba(renderOledScreen(status, formatTime), OLED_PALETTE));
  written.push(oled);
  for (const [columns, rows] of [
    [16, 2],
    [20, 4],
  ] as const) {
    const name = `lcd${columns}x${rows}-${status.state}.png`;
    const lines = renderLcdScreen(status, columns, rows, formatTime);
    writePng(name, bitmapToRgba(lcdToBitmap(lines, columns, rows), LCD_PALETTE, 3, 10));
    written.push(name);
  }
}
const identified = sampleStatuses(NOW)[0]?.agentName;
writePng("oled-identify.png", bitmapToRgba(renderOledIdentifyScreen(identified), OLED_PALETTE));
written.push("oled-identify.png");
for (const [columns, rows] of [
  [16, 2],
  [20, 4],
] as const) {
  const name = `lcd${columns}x${rows}-identify.png`;
  const lines = renderLcdIdentifyScreen(identified, columns, rows);
  writePng(name, bitmapToRgba(lcdToBitmap(lines, columns, rows), LCD_PALETTE, 3, 10));
  written.push(name);
}
console.log(`wrote ${written.length} images to ${OUTPUT}`);
