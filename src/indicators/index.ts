import type { AgentStatus, StatusObserver } from "../lifecycle/lifecycle.js";
import type { Logger } from "../logging/logger.js";
import type { DisplayConfig, IndicatorConfig } from "./config.js";
import { DisplayController } from "./display/display-controller.js";
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

export interface Indicators {
  /** Feed it every lifecycle transition (it is registered with lifecycle.observe). Must not throw. */
  readonly observe: StatusObserver;
  /** Fast-blinks the status LED and shows the identify screen for `seconds`, then the state again. */
  identify(seconds: number): void;
  /** Initialise hardware; a missing LED/display is ONE warning, never a throw. */
  start(): Promise<void>;
  /** LEDs to the defined "agent stopped" state, lines released, display shows a stopped screen or is cleared, all timers cleared. */
  stop(): Promise<void>;
}

export interface IndicatorDeps {
  readonly timers?: Timers;
  /** Root of sysfs; tests point it at a fake tree. Default "/sys". */
  readonly sysfsRoot?: string;
  readonly openI2cBus?: I2cOpener;
  readonly openDigitalLine?: DigitalLineOpener;
  /** Where virtual displays draw; default stderr. */
  readonly terminal?: Terminal;
  readonly formatTime?: TimeFormatter;
}

/** Status LEDs and the status display, observing the lifecycle. The constructor does no I/O. */
export function createIndicators(
  config: IndicatorConfig,
  logger: Logger,
  deps: IndicatorDeps = {},
): Indicators {
  const log = logger.child({ component: "indicators" });
  const timers = deps.timers ?? realTimers;
  const leds = new StatusLeds({
    config,
    logger: log,
    timers,
    sysfsRoot: deps.sysfsRoot ?? "/sys",
    openLine: deps.openDigitalLine ?? openOnoffLine,
  });
  const display =
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
  let latest: AgentStatus | undefined;
  let started = false;
  let stopped = false;

  const observe: StatusObserver = (status) => {
    try {
      latest = status;
      // Before start() the hardware is not open yet; start() replays the latest status.
      if (!started) return;
      leds.show(status.state);
      display?.show(status);
    } catch (error) {
      log.error({ err: error }, "indicator update failed");
    }
  };

  return {
    observe,
    identify(seconds) {
      try {
        leds.identify(seconds);
        display?.identify(seconds);
      } catch (error) {
        log.error({ err: error }, "identify failed");
      }
    },
    async start() {
      if (started || stopped) return;
      await leds.start();
      await display?.start();
      // A stop() while the hardware was opening has released it: nothing may light up again.
      if (stopped) return;
      started = true;
      if (latest !== undefined) observe(latest, undefined);
    },
    async stop() {
      started = false;
      stopped = true;
      leds.stop();
      await display?.stop();
    },
  };
}

function describeDisplay(config: DisplayConfig): string {
  if (displayModel(config.model).kind === "virtual") return config.model;
  const address = config.address === "auto" ? "auto" : `0x${config.address.toString(16)}`;
  return `${config.model} on /dev/i2c-${config.bus} at ${address}`;
}
