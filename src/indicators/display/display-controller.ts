import type { AgentStatus } from "../../lifecycle/lifecycle.js";
import type { Logger } from "../../logging/logger.js";
import { MAX_IDENTIFY_SECONDS } from "../config.js";
import { errorCode, errorMessage, i2cHint } from "../errors.js";
import type { TimerHandle, Timers } from "../timers.js";
import type { Display } from "./display.js";
import {
  renderLcdIdentifyScreen,
  renderLcdScreen,
  renderOledIdentifyScreen,
  renderOledScreen,
  type TimeFormatter,
} from "./screens.js";

/** A configured display as the agent sees it. */
export interface DisplayHealth {
  /** "SSD1306 128x64 OLED at 0x3c on /dev/i2c-1", or what is configured while it does not answer. */
  readonly description: string;
  /** The agent draws on it now. */
  readonly working: boolean;
  /** Why it last failed, while it does not work (and after it recovered, until it is drawn on again). */
  readonly error?: string;
}

export interface DisplayControllerOptions {
  /** Opens and locates the display (not yet initialised). */
  readonly open: () => Promise<Display>;
  readonly logger: Logger;
  readonly timers: Timers;
  readonly formatTime: TimeFormatter;
  /** What is configured, for log lines ("ssd1306 on /dev/i2c-1"). */
  readonly configured: string;
  readonly retryMinMs?: number;
  readonly retryMaxMs?: number;
}

/**
 * Keeps the display showing the latest status. Every bus operation runs on one promise chain so
 * two updates never interleave on the bus; a burst of transitions collapses into one draw of the
 * newest status. A display that stops answering is logged once per outage, retried with
 * exponential backoff and fully re-initialised when it answers again (it may have lost power).
 * `identify` lays the identify screen over the status for a while; the status screen returns after.
 */
export class DisplayController {
  private display: Display | undefined;
  private latest: AgentStatus | undefined;
  private chain: Promise<void> = Promise.resolve();
  private drawQueued = false;
  private retryTimer: TimerHandle | undefined;
  private identifyTimer: TimerHandle | undefined;
  private retryDelayMs: number;
  private outage = false;
  private lastFailure: string | undefined;
  private stopped = false;
  private readonly retryMinMs: number;
  private readonly retryMaxMs: number;

  constructor(private readonly options: DisplayControllerOptions) {
    this.retryMinMs = options.retryMinMs ?? 1_000;
    this.retryMaxMs = options.retryMaxMs ?? 60_000;
    this.retryDelayMs = this.retryMinMs;
  }

  /** Resolves once the first attempt is over, whether or not a display answered. */
  start(): Promise<void> {
    return this.enqueue(() => this.connect());
  }

  show(status: AgentStatus): void {
    if (this.stopped) return;
    this.latest = status;
    this.requestDraw();
  }

  /**
   * Shows the identify screen for `seconds` (status changes meanwhile are drawn when it ends),
   * then the latest status again. A new call replaces the running one; 0 ends it now.
   */
  identify(seconds: number): void {
    if (this.stopped) return;
    this.clearIdentify();
    if (Number.isFinite(seconds) && seconds > 0) {
      this.identifyTimer = this.options.timers.setTimeout(() => {
        this.identifyTimer = undefined;
        this.requestDraw();
      }, Math.min(seconds, MAX_IDENTIFY_SECONDS) * 1000);
    }
    this.requestDraw();
  }

  /** True while the identify screen is wanted (tests). */
  get identifying(): boolean {
    return this.identifyTimer !== undefined;
  }

  /** Shows the stopped screen (or blanks the display) and releases the bus. */
  async stop(): Promise<void> {
    this.stopped = true;
    this.clearIdentify();
    if (this.retryTimer !== undefined) this.options.timers.clearTimeout(this.retryTimer);
    this.retryTimer = undefined;
    await this.enqueue(async () => {
      const display = this.display;
      this.display = undefined;
      if (display === undefined) return;
      try {
        if (this.latest === undefined) await display.off();
        else await this.render(display, { ...this.latest, state: "stopped" });
      } catch (error) {
        this.options.logger.debug({ err: error }, "display not updated on stop");
      }
      await display.close().catch(() => {});
    });
  }

  /** True while a display is initialised and answering (tests). */
  get connected(): boolean {
    return this.display !== undefined;
  }

  private clearIdentify(): void {
    if (this.identifyTimer !== undefined) this.options.timers.clearTimeout(this.identifyTimer);
    this.identifyTimer = undefined;
  }

  /** One draw of the newest picture, however many requests come before it runs. */
  private requestDraw(): void {
    if (this.drawQueued) return;
    this.drawQueued = true;
    void this.enqueue(async () => {
      this.drawQueued = false;
      await this.drawLatest();
    });
  }

  private enqueue(task: () => Promise<void>): Promise<void> {
    const run = this.chain.then(task, task);
    // A failed task must not poison the chain; failures are handled inside the tasks.
    this.chain = run.catch(() => {});
    return this.chain;
  }

  /** Whether the display is drawn on now, as the agent itself sees it (its device filter included). */
  health(): DisplayHealth {
    return {
      description: this.display?.description ?? this.options.configured,
      working: this.display !== undefined,
      ...(this.lastFailure === undefined ? {} : { error: this.lastFailure }),
    };
  }

  private async connect(): Promise<void> {
    if (this.stopped || this.display !== undefined) return;
    let display: Display | undefined;
    try {
      display = await this.options.open();
      await display.init();
    } catch (error) {
      if (display !== undefined) await display.close().catch(() => {});
      this.lost(error);
      return;
    }
    this.display = display;
    this.retryDelayMs = this.retryMinMs;
    if (this.outage)
      this.options.logger.info({ display: display.description }, "display answered again, re-initialised");
    else this.options.logger.debug({ display: display.description }, "display ready");
    this.outage = false;
    this.lastFailure = undefined;
    await this.drawLatest();
  }

  private async drawLatest(): Promise<void> {
    const display = this.display;
    if (display === undefined) return;
    try {
      if (this.identifying) await this.renderIdentify(display, this.latest?.agentName);
      else if (this.latest !== undefined) await this.render(display, this.latest);
    } catch (error) {
      this.display = undefined;
      await display.close().catch(() => {});
      this.lost(error);
    }
  }

  private async render(display: Display, status: AgentStatus): Promise<void> {
    if (display.kind === "graphic") await display.draw(renderOledScreen(status, this.options.formatTime));
    else await display.draw(renderLcdScreen(status, display.columns, display.rows, this.options.formatTime));
  }

  private async renderIdentify(display: Display, agentName: string | undefined): Promise<void> {
    if (display.kind === "graphic") await display.draw(renderOledIdentifyScreen(agentName));
    else await display.draw(renderLcdIdentifyScreen(agentName, display.columns, display.rows));
  }

  private lost(error: unknown): void {
    const code = errorCode(error);
    const message = errorMessage(error);
    this.lastFailure = code && !message.includes(code) ? `${message} (${code})` : message;
    if (!this.outage) {
      this.outage = true;
      this.options.logger.warn(
        { display: this.options.configured, code, hint: i2cHint(code) },
        `display unavailable, carrying on without it and retrying: ${errorMessage(error)}`,
      );
    } else {
      this.options.logger.debug({ code, retryInMs: this.retryDelayMs }, "display still unavailable");
    }
    this.scheduleRetry();
  }

  private scheduleRetry(): void {
    if (this.stopped || this.retryTimer !== undefined) return;
    const delay = this.retryDelayMs;
    this.retryDelayMs = Math.min(this.retryDelayMs * 2, this.retryMaxMs);
    this.retryTimer = this.options.timers.setTimeout(() => {
      this.retryTimer = undefined;
      void this.enqueue(() => this.connect());
    }, delay);
  }
}
