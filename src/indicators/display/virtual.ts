import { Bitmap } from "./bitmap.js";
import type { GraphicDisplay, TextDisplay } from "./display.js";
import { bitmapToBlocks, bitmapToBraille, framed } from "./raster.js";

/** Where the virtual display draws. stderr by default: stdout carries the JSON log lines. */
export interface Terminal {
  write(text: string): void;
  /** Width in characters when known (a TTY), to pick a style that does not wrap. */
  readonly columns?: number;
}

export const stderrTerminal: Terminal = {
  write: (text) => {
    process.stderr.write(text);
  },
  get columns() {
    return process.stderr.isTTY ? process.stderr.columns : undefined;
  },
};

/**
 * A 128x64 OLED on the terminal, fed the same framebuffer as the real drivers. It prints a
 * whole frame only when the picture changed, the terminal counterpart of diff-only updates.
 */
export class VirtualOled implements GraphicDisplay {
  readonly kind = "graphic";
  readonly width = 128;
  readonly height = 64;
  readonly description = "virtual 128x64 OLED (stderr)";
  private shown: Bitmap | undefined;
  /** Frames printed, for the benchmark. */
  frames = 0;

  constructor(
    private readonly terminal: Terminal,
    private readonly style: "auto" | "blocks" | "braille" = "auto",
  ) {}

  async init(): Promise<void> {
    this.shown = new Bitmap(this.width, this.height);
  }

  async draw(bitmap: Bitmap): Promise<void> {
    if (this.shown?.equals(bitmap)) return;
    const copy = new Bitmap(this.width, this.height);
    copy.data.set(bitmap.data);
    this.shown = copy;
    const braille =
      this.style === "braille" || (this.style === "auto" && (this.terminal.columns ?? 200) < 130);
    const lines = braille ? bitmapToBraille(bitmap) : bitmapToBlocks(bitmap);
    this.terminal.write(`${framed(lines, "cw-agent display")}\n`);
    this.frames++;
  }

  async off(): Promise<void> {
    await this.draw(new Bitmap(this.width, this.height));
  }

  async close(): Promise<void> {}
}

/** A character LCD on the terminal. */
export class VirtualLcd implements TextDisplay {
  readonly kind = "text";
  readonly description: string;
  private shown: string[] = [];

  constructor(
    private readonly terminal: Terminal,
    readonly columns: number,
    readonly rows: number,
  ) {
    this.description = `virtual ${columns}x${rows} LCD (stderr)`;
  }

  async init(): Promise<void> {
    this.shown = [];
  }

  async draw(lines: readonly string[]): Promise<void> {
    const padded = Array.from({ length: this.rows }, (_, row) =>
      (lines[row] ?? "").padEnd(this.columns, " ").slice(0, this.columns),
    );
    if (padded.join("\n") === this.shown.join("\n")) return;
    this.shown = padded;
    this.terminal.write(`${framed(padded, "LCD")}\n`);
  }

  async off(): Promise<void> {
    await this.draw([]);
  }

  async close(): Promise<void> {}
}
