import type { Bitmap } from "./bitmap.js";

/** A pixel display (SSD1306, SH1106, virtual OLED). */
export interface GraphicDisplay {
  readonly kind: "graphic";
  readonly description: string;
  readonly width: number;
  readonly height: number;
  /** Brings the controller from any state (power-on, half-written command) to a blank, lit screen. */
  init(): Promise<void>;
  /** Shows `bitmap`, sending only what differs from what the display already holds. */
  draw(bitmap: Bitmap): Promise<void>;
  /** Blanks the panel. */
  off(): Promise<void>;
  close(): Promise<void>;
}

/** A character display (HD44780, virtual LCD). */
export interface TextDisplay {
  readonly kind: "text";
  readonly description: string;
  readonly columns: number;
  readonly rows: number;
  init(): Promise<void>;
  /** Shows `lines` (each `columns` long), sending only the characters that changed. */
  draw(lines: readonly string[]): Promise<void>;
  off(): Promise<void>;
  close(): Promise<void>;
}

export type Display = GraphicDisplay | TextDisplay;
