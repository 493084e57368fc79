import type { AgentStatus } from "../../lifecycle/lifecycle.js";
import type { Logger } from "../../logging/logger.js";
import { errorCode, errorMessage, i2cHint } from "../errors.js";
import type { TimerHandle, Timers } from "../timers.js";
import type { Display } from "./display.js";
import { renderLcdScreen, renderOledScreen, type TimeFormatter } from "./screens.js";

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
 */
export class DisplayController {
  private display: Display | undefined;
  private latest: AgentStatus | undefined;
  private chain: Promise<void> = Promise.resolve();
  private drawQueued = false;
  private retryTimer: TimerHandle | undefined;
  private retryDelayMs: number;
  private outage = false;
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
    if (this.drawQueued) return;
    this.drawQueued = true;
    void this.enqueue(async () => {
      this.drawQueued = false;
      await this.drawLatest();
    });
  }

  /** Shows the stopped screen (or blanks the display) and releases the bus. */
  async stop(): Promise<void> {
    this.stopped = true;
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

  private enqueue(task: () => Promise<void>): Promise<void> {
    const run = this.chain.then(task, task);
    // A failed task must not poison the chain; failures are handled inside the tasks.
    this.chain = run.catch(() => {});
    return this.chain;
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
    await this.drawLatest();
  }

  private async drawLatest(): Promise<void> {
    const display = this.display;
    if (display === undefined || this.latest === undefined) return;
    try {
      await this.render(display, this.latest);
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

  private lost(error: unknown): void {
    const code = errorCode(error);
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
