import type { Part } from "../agent/parts.js";
import type { AgentStatus, StatusObserver, StatusSource } from "../lifecycle/lifecycle.js";
import type { Logger } from "../logging/logger.js";
import type { DisplayConfig, IndicatorConfig } from "./config.js";
import { DisplayController, type DisplayHealth } from "./display/display-controller.js";
import { type I2cOpener, openI2cBus } from "./display/i2c.js";
import { displayModel } from "./display/models.js";
import { openDisplay } from "./display/open-display.js";
import { formatLocalTime, type TimeFormatter } from "./display/screens.js";
import { stderrTerminal, type Terminal } from "./display/virtual.js";
import { type DigitalLineOpener, openOnoffLine } from "./leds/gpio-led.js";
import { StatusLeds } from "./leds/status-leds.js";
import { realTimers, type Timers } from "./timers.js";

export type { DisplayConfig, DisplayModel, IndicatorConfig, LedTarget } from "./config.js";
export { loadIndicatorConfig, MAX_IDENTIFY_SECONDS } from "./config.js";
export type { DisplayHealth } from "./display/display-controller.js";
export type { I2cBus, I2cOpener } from "./display/i2c.js";
export { openI2cBus } from "./display/i2c.js";
export { displayModel } from "./display/models.js";
export { openDisplay } from "./display/open-display.js";
export type { Terminal } from "./display/virtual.js";
export { stderrTerminal } from "./display/virtual.js";
export { gpioHint, i2cHint } from "./errors.js";
export { resolveGpio } from "./leds/gpio-base.js";
export type { DigitalLine, DigitalLineOpener } from "./leds/gpio-led.js";
export { PATTERNS, STATE_PATTERNS } from "./leds/patterns.js";
export type { TimerHandle, Timers } from "./timers.js";
export { realTimers } from "./timers.js";

export interface IndicatorDeps {
  readonly timers?: Timers;
  /** Root of sysfs; tests point it at a fake tree. Default "/sys". */
  readonly sysfsRoot?: string;
  readonly openI2cBus?: I2cOpener;
  readonly openDigitalLine?: DigitalLineOpener;
  /** Where virtual displays draw; default stderr. */
  readonly terminal?: Terminal;
  readonly formatTime?: TimeFormatter;
  /** Observed from `start()` to `stop()`; without it, feed `observe` directly. */
  readonly statuses?: StatusSource;
}

export type IdentifyTarget = "status LED" | "display";

const IDENTIFY_WAYS: Record<IdentifyTarget, string> = {
  "status LED": "blinking the status LED",
  display: "showing IDENTIFY on the display",
};

/** Status LEDs and the status display, observing the lifecycle. The constructor does no I/O. */
export class Indicators implements Part {
  readonly name = "indicators";
  private readonly log: Logger;
  private readonly leds: StatusLeds;
  private readonly display: DisplayController | undefined;
  /** What identify shows on, as people call it: "status LED", "display" (none: neither). */
  readonly identifyTargets: readonly IdentifyTarget[];
  private readonly statuses: StatusSource | undefined;
  private latest: AgentStatus | undefined;
  private started = false;
  private stopped = false;
  private unobserve: (() => void) | undefined;

  constructor(config: IndicatorConfig, logger: Logger, deps: IndicatorDeps = {}) {
    const log = logger.child({ component: "indicators" });
    const timers = deps.timers ?? realTimers;
    this.log = log;
    this.leds = new StatusLeds({
      config,
      logger: log,
      timers,
      sysfsRoot: deps.sysfsRoot ?? "/sys",
      openLine: deps.openDigitalLine ?? openOnoffLine,
    });
    this.display =
      displayModel(config.display.model).kind === "none"
        ? undefined
        : new DisplayController({
            open: () =>
              openDisplay({
                config: config.display,
                openBus: deps.openI2cBus ?? openI2cBus,
                timers,
                terminal: deps.terminal ?? stderrTerminal,
              }),
            logger: log,
            timers,
            formatTime: deps.formatTime ?? formatLocalTime,
            configured: describeDisplay(config.display),
          });
    this.identifyTargets = [
      ...(config.leds.status.kind === "none" ? [] : (["status LED"] as const)),
      ...(this.display === undefined ? [] : (["display"] as const)),
    ];
    this.statuses = deps.statuses;
  }

  /**
   * Feed it every lifecycle transition. Must not throw. An arrow function, because it is handed
   * over on its own, without the indicators.
   */
  readonly observe: StatusObserver = (status) => {
    try {
      this.latest = status;
      // Before start() the hardware is not open yet; start() replays the latest status.
      if (!this.started) return;
      this.leds.show(status.state, status.warning !== undefined);
      this.display?.show(status);
    } catch (error) {
      this.log.error({ err: error }, "indicator update failed");
    }
  };

  /** The display as the agent sees it; undefined without a display. */
  displayHealth(): DisplayHealth | undefined {
    return this.display?.health();
  }

  /** Fast-blinks the status LED and shows the identify screen for `seconds`, then the state again. */
  identify(seconds: number): void {
    const ways = this.identifyTargets.map((target) => IDENTIFY_WAYS[target]);
    this.log.info(
      { seconds },
      ways.length === 0
        ? "Identify requested, but there is no status LED and no display to show it on"
        : `Identify requested: ${ways.join(" and ")} for ${seconds} s`,
    );
    try {
      this.leds.identify(seconds);
      this.display?.identify(seconds);
    } catch (error) {
      this.log.error({ err: error }, "identify failed");
    }
  }

  /** Initialise hardware; a missing LED/display is ONE warning, never a throw. */
  async start(): Promise<void> {
    if (this.started || this.stopped) return;
    this.unobserve ??= this.statuses?.observe(this.observe);
    await this.leds.start();
    await this.display?.start();
    // A stop() while the hardware was opening has released it: nothing may light up again.
    if (this.stopped) return;
    this.started = true;
    if (this.latest !== undefined) this.observe(this.latest, undefined);
  }

  /** LEDs to the defined "agent stopped" state, lines released, display shows a stopped screen or is cleared, all timers cleared. */
  async stop(): Promise<void> {
    this.started = false;
    this.stopped = true;
    this.unobserve?.();
    this.unobserve = undefined;
    this.leds.stop();
    await this.display?.stop();
  }
}

function describeDisplay(config: DisplayConfig): string {
  if (displayModel(config.model).kind === "virtual") return config.model;
  const address = config.address === "auto" ? "auto" : `0x${config.address.toString(16)}`;
  return `${config.model} on /dev/i2c-${config.bus} at ${address}`;
}
