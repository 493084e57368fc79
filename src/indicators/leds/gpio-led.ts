import type { Logger } from "../../logging/logger.js";
import { errorCode, errorMessage, gpioHint } from "../errors.js";
import type { Led } from "./led.js";

export type Level = 0 | 1;

/** One exported output line. The only GPIO surface the agent needs; `onoff` sits behind it. */
export interface DigitalLine {
  write(level: Level): void;
  /** Unexports the line. */
  release(): void;
}

/** Exports sysfs GPIO `sysfsNumber` as an output already driven to `initialLevel` (no glitch). */
export type DigitalLineOpener = (sysfsNumber: number, initialLevel: Level) => Promise<DigitalLine>;

/** The real adapter. `onoff` is an optional dependency, loaded only when a GPIO LED is configured. */
export const openOnoffLine: DigitalLineOpener = async (sysfsNumber, initialLevel) => {
  const onoff = await import("onoff");
  const Gpio = onoff.Gpio ?? (onoff as unknown as { default: typeof onoff }).default.Gpio;
  // "high"/"low" set direction and level in one sysfs write, so the LED never flashes on export.
  const gpio = new Gpio(sysfsNumber, initialLevel === 1 ? "high" : "low");
  return {
    write: (level) => gpio.writeSync(level),
    release: () => gpio.unexport(),
  };
};

/** A LED on a GPIO line. Polarity is handled here rather than via sysfs active_low, so release leaves nothing behind. */
export class GpioLed implements Led {
  private failed = false;

  constructor(
    readonly description: string,
    private readonly line: DigitalLine,
    private readonly activeLow: boolean,
    private readonly logger: Logger,
  ) {}

  static levelFor(lit: boolean, activeLow: boolean): Level {
    return lit !== activeLow ? 1 : 0;
  }

  set(lit: boolean): void {
    try {
      this.line.write(GpioLed.levelFor(lit, this.activeLow));
      this.failed = false;
    } catch (error) {
      if (this.failed) return;
      this.failed = true;
      const code = errorCode(error);
      this.logger.warn(
        { led: this.description, code, hint: gpioHint(code) },
        `LED write failed: ${errorMessage(error)}`,
      );
    }
  }

  release(): void {
    this.set(false);
    try {
      this.line.release();
    } catch (error) {
      this.logger.debug({ led: this.description, err: error }, "GPIO unexport failed");
    }
  }
}
