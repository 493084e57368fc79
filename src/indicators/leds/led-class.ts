import { readFileSync, writeFileSync } from "node:fs";
import { access, constants, readFile } from "node:fs/promises";
import { join } from "node:path";
import type { Logger } from "../../logging/logger.js";
import { errorCode, errorMessage, gpioHint } from "../errors.js";
import type { Led } from "./led.js";

/**
 * A Linux LED class device (Documentation/leds/leds-class.rst): `brightness` 0..max_brightness,
 * and the `timer` trigger (ledtrig-timer) blinks in the kernel with `delay_on`/`delay_off` in ms.
 */
export class LedClassLed implements Led {
  private triggerIsTimer = false;
  private failed = false;

  private constructor(
    readonly description: string,
    private readonly directory: string,
    private readonly maxBrightness: number,
    private timerTriggerAvailable: boolean,
    private readonly activeLow: boolean,
    private readonly logger: Logger,
  ) {}

  static async open(
    sysfsRoot: string,
    name: string,
    activeLow: boolean,
    logger: Logger,
  ): Promise<LedClassLed> {
    const directory = join(sysfsRoot, "class", "leds", name);
    const maxText = await readFile(join(directory, "max_brightness"), "utf8");
    await access(join(directory, "brightness"), constants.W_OK);
    let triggers = "";
    try {
      triggers = await readFile(join(directory, "trigger"), "utf8");
    } catch {
      // Some drivers expose no trigger file; software blinking still works.
    }
    const maxBrightness = Number.parseInt(maxText, 10);
    const { current, available } = ledTriggers(triggers);
    const led = new LedClassLed(
      `led:${name}`,
      directory,
      Number.isInteger(maxBrightness) && maxBrightness > 0 ? maxBrightness : 1,
      available.includes("timer"),
      activeLow,
      logger,
    );
    // Another trigger (heartbeat, mmc0...) would keep overriding our brightness writes.
    if (available.length > 0 && current !== "none") led.write("trigger", "none");
    return led;
  }

  set(lit: boolean): void {
    if (this.triggerIsTimer) {
      this.write("trigger", "none");
      this.triggerIsTimer = false;
    }
    this.write("brightness", String(lit !== this.activeLow ? this.maxBrightness : 0));
  }

  blink(onMs: number, offMs: number): boolean {
    if (!this.timerTriggerAvailable) return false;
    // An inverted LED is lit while the kernel thinks it is off.
    const [delayOn, delayOff] = this.activeLow ? [offMs, onMs] : [onMs, offMs];
    if (!this.write("trigger", "timer")) return false;
    // delay_on/delay_off appear when the trigger is set, owned by root unless a udev rule says
    // otherwise; without them the kernel would blink at its default rate, so give up cleanly.
    const ok = this.write("delay_on", String(delayOn)) && this.write("delay_off", String(delayOff));
    if (!ok) {
      this.write("trigger", "none");
      // Blink in software from now on, rather than failing (and warning) on every blink.
      this.timerTriggerAvailable = false;
    }
    this.triggerIsTimer = ok;
    return ok;
  }

  release(): void {
    this.set(false);
  }

  /** Reads back a sysfs attribute (tests and diagnostics). */
  read(attribute: string): string {
    return readFileSync(join(this.directory, attribute), "utf8").trim();
  }

  private write(attribute: string, value: string): boolean {
    try {
      writeFileSync(join(this.directory, attribute), value);
      this.failed = false;
      return true;
    } catch (error) {
      if (!this.failed) {
        this.failed = true;
        const code = errorCode(error);
        this.logger.warn(
          { led: this.description, attribute, code, hint: gpioHint(code) },
          `LED write failed: ${errorMessage(error)}`,
        );
      }
      return false;
    }
  }
}

/**
 * An LED's `trigger` file: every trigger the kernel offers, the current one in brackets. Empty
 * text (no trigger file) offers none and has no current one.
 */
export function ledTriggers(text: string): { current: string | undefined; available: string[] } {
  const entries = text
    .trim()
    .split(/\s+/)
    .filter((entry) => entry !== "");
  const current = entries.find((entry) => entry.startsWith("["))?.replace(/^\[|\]$/g, "");
  return { current, available: entries.map((entry) => entry.replace(/^\[|\]$/g, "")) };
}
