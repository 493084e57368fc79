import { accessSync, constants, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import type { Logger } from "../logging/logger.js";
import { errorMessage } from "../util/errors.js";
import { MAX_IDENTIFY_SECONDS } from "./config.js";
import { ledTriggers } from "./leds/led-class.js";
import { PATTERNS } from "./leds/patterns.js";

/**
 * The board's activity LED (`/sys/class/leds/ACT`; Bookworm dropped the old `led0` name), used by
 * remote `identify` when no status LED is configured. It normally shows SD card activity through a
 * kernel trigger: identify hands it to the `timer` trigger for the duration, then gives the
 * original trigger back. Only where the agent may write its attributes (a udev rule or root).
 */
export class ActivityLed {
  private readonly directory: string;
  private restoreTimer: NodeJS.Timeout | undefined;
  private originalTrigger: string | undefined;

  constructor(
    sysfsRoot: string,
    private readonly logger: Logger,
  ) {
    this.directory = join(sysfsRoot, "class", "leds", "ACT");
  }

  /** Whether the LED exists and its trigger and delays can be set by this process. */
  available(): boolean {
    try {
      accessSync(join(this.directory, "trigger"), constants.R_OK | constants.W_OK);
      return this.triggers().available.includes("timer");
    } catch {
      return false;
    }
  }

  /** Flickers the LED for `seconds` (at most MAX_IDENTIFY_SECONDS); a second call extends it. */
  identify(seconds: number): boolean {
    try {
      this.originalTrigger ??= this.triggers().current;
      this.write("trigger", "timer");
      // delay_on/delay_off appear once the timer trigger is set.
      const [on, off] = PATTERNS.identify.timeline;
      this.write("delay_on", String(on));
      this.write("delay_off", String(off));
    } catch (error) {
      this.logger.warn({ err: error }, `ACT LED unavailable for identify: ${errorMessage(error)}`);
      this.restore();
      return false;
    }
    clearTimeout(this.restoreTimer);
    this.restoreTimer = setTimeout(() => this.restore(), Math.min(seconds, MAX_IDENTIFY_SECONDS) * 1000);
    this.restoreTimer.unref();
    return true;
  }

  /** Gives the LED back to its original trigger now (at the agent's stop). */
  stop(): void {
    if (this.restoreTimer !== undefined) this.restore();
  }

  private restore(): void {
    clearTimeout(this.restoreTimer);
    this.restoreTimer = undefined;
    const trigger = this.originalTrigger;
    this.originalTrigger = undefined;
    if (trigger === undefined) return;
    try {
      this.write("trigger", trigger);
      if (trigger === "none") this.write("brightness", "0");
    } catch (error) {
      this.logger.warn({ err: error }, `Could not give the ACT LED back its trigger: ${errorMessage(error)}`);
    }
  }

  private triggers(): { current: string; available: string[] } {
    const { current, available } = ledTriggers(readFileSync(join(this.directory, "trigger"), "utf8"));
    return { current: current ?? "none", available };
  }

  private write(attribute: string, value: string): void {
    writeFileSync(join(this.directory, attribute), value);
  }
}
