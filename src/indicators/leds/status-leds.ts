import type { AgentState } from "../../lifecycle/lifecycle.js";
import type { Logger } from "../../logging/logger.js";
import { type IndicatorConfig, type LedTarget, MAX_IDENTIFY_SECONDS } from "../config.js";
import { errorCode, errorMessage, gpioHint } from "../errors.js";
import type { TimerHandle, Timers } from "../timers.js";
import { resolveGpio } from "./gpio-base.js";
import { type DigitalLineOpener, GpioLed } from "./gpio-led.js";
import type { Led } from "./led.js";
import { LedClassLed } from "./led-class.js";
import { PatternPlayer } from "./pattern-player.js";
import { PATTERNS, type PatternName, STATE_PATTERNS } from "./patterns.js";

export type LedRole = "status" | "fault";

/** The fault LED while the lifecycle carries a warning and the state itself leaves it dark. */
export const WARNING_PATTERN: PatternName = "double-flash";

export interface StatusLedsOptions {
  readonly config: IndicatorConfig;
  readonly logger: Logger;
  readonly timers: Timers;
  readonly sysfsRoot: string;
  readonly openLine: DigitalLineOpener;
}

/** The status and fault LEDs: picks each state's pattern, the identify override and the stopped state. */
export class StatusLeds {
  private readonly player: PatternPlayer;
  private readonly leds = new Map<LedRole, Led>();
  private state: AgentState | undefined;
  private warning = false;
  private identifyTimer: TimerHandle | undefined;
  private stopped = false;

  constructor(private readonly options: StatusLedsOptions) {
    this.player = new PatternPlayer(options.timers);
  }

  async start(): Promise<void> {
    const { leds } = this.options.config;
    for (const role of ["status", "fault"] as const) {
      if (this.stopped) return;
      const led = await this.open(role, leds[role]);
      if (led === undefined) continue;
      // stop() ran while this line was being opened (a signal during start-up): it released what
      // existed then, so this line is released here, or it would stay exported.
      if (this.stopped) {
        led.release();
        return;
      }
      this.leds.set(role, led);
    }
    this.apply();
  }

  /** `warning`: the lifecycle carries a warning (under-voltage...), shown on an otherwise dark fault LED. */
  show(state: AgentState, warning = false): void {
    if (this.stopped) return;
    this.state = state;
    this.warning = warning;
    this.apply();
  }

  identify(seconds: number): void {
    if (this.stopped) return;
    if (this.identifyTimer !== undefined) this.options.timers.clearTimeout(this.identifyTimer);
    this.identifyTimer = undefined;
    if (Number.isFinite(seconds) && seconds > 0) {
      this.identifyTimer = this.options.timers.setTimeout(() => {
        this.identifyTimer = undefined;
        this.apply();
      }, Math.min(seconds, MAX_IDENTIFY_SECONDS) * 1000);
    }
    this.apply();
  }

  /** Both LEDs to the "agent stopped" state, timers cleared, lines released. */
  stop(): void {
    this.stopped = true;
    if (this.identifyTimer !== undefined) this.options.timers.clearTimeout(this.identifyTimer);
    this.identifyTimer = undefined;
    this.player.clear();
    // "Agent stopped" is both LEDs off (STOPPED_PATTERNS), which is what release leaves behind.
    for (const led of this.leds.values()) led.release();
    this.leds.clear();
  }

  /** Pattern currently wanted for a role (tests and the documentation script). */
  patternFor(role: LedRole): PatternName {
    if (role === "status" && this.identifyTimer !== undefined) return "identify";
    const patterns = STATE_PATTERNS[this.state ?? "starting"];
    if (role === "status" && !this.leds.has("fault") && patterns.statusWithoutFaultLed !== undefined) {
      return patterns.statusWithoutFaultLed;
    }
    if (role === "fault" && this.warning && patterns.fault === "off") return WARNING_PATTERN;
    return patterns[role];
  }

  get timerPending(): boolean {
    return this.player.scheduled;
  }

  private apply(): void {
    if (this.state === undefined && this.identifyTimer === undefined) return;
    for (const [role, led] of this.leds) this.player.play(led, PATTERNS[this.patternFor(role)]);
  }

  private async open(role: LedRole, target: LedTarget): Promise<Led | undefined> {
    if (target.kind === "none") return undefined;
    const { logger, sysfsRoot, config, openLine } = this.options;
    const configured = target.kind === "gpio" ? `gpio:${target.line}` : `led:${target.name}`;
    try {
      if (target.kind === "led-class") {
        return await LedClassLed.open(sysfsRoot, target.name, target.activeLow, logger);
      }
      const resolved = await resolveGpio(target.line, config.gpio, sysfsRoot);
      const line = await openLine(resolved.sysfsNumber, GpioLed.levelFor(false, target.activeLow));
      const description = `gpio:${target.line} (sysfs ${resolved.sysfsNumber})`;
      logger.debug({ role, led: description, chip: resolved.chip?.label }, "LED ready");
      return new GpioLed(description, line, target.activeLow, logger);
    } catch (error) {
      const code = errorCode(error);
      logger.warn(
        { role, led: configured, code, hint: code === undefined ? undefined : gpioHint(code) },
        `${role} LED unavailable, carrying on without it: ${errorMessage(error)}`,
      );
      return undefined;
    }
  }
}
