import type { TimerHandle, Timers } from "../timers.js";
import type { Led } from "./led.js";
import type { Pattern } from "./patterns.js";

interface Channel {
  readonly led: Led;
  /** Cumulative segment ends within one period, e.g. [150, 300, 450, 2000]. */
  readonly edges: readonly number[];
  readonly period: number;
  readonly startedAt: number;
}

/**
 * Plays patterns on any number of LEDs with one timer. Every level is computed from the
 * pattern's start time and the clock, so a late timer never shifts later edges (no drift) and
 * nothing runs between edges or for steady patterns.
 */
export class PatternPlayer {
  private readonly channels = new Map<Led, Channel>();
  private readonly playing = new Map<Led, Pattern>();
  /** Last level written to each LED, so a new pattern does not rewrite the level it starts with. */
  private readonly levels = new Map<Led, boolean>();
  private timer: TimerHandle | undefined;

  constructor(private readonly timers: Timers) {}

  play(led: Led, pattern: Pattern): void {
    if (this.playing.get(led) === pattern) return;
    this.playing.set(led, pattern);
    this.channels.delete(led);
    const [onMs = 0, offMs = 0] = pattern.timeline;
    if (pattern.timeline.length === 0) {
      this.write(led, pattern.lit);
    } else if (pattern.timeline.length === 2 && led.blink?.(onMs, offMs)) {
      // The kernel blinks it: nothing to schedule, and its level is no longer known.
      this.levels.delete(led);
    } else {
      const edges: number[] = [];
      let period = 0;
      for (const duration of pattern.timeline) {
        period += duration;
        edges.push(period);
      }
      this.channels.set(led, { led, edges, period, startedAt: this.timers.now() });
    }
    this.reschedule();
  }

  /** Forgets every LED without touching it; the caller decides the final levels. */
  clear(): void {
    this.channels.clear();
    this.playing.clear();
    this.levels.clear();
    if (this.timer !== undefined) this.timers.clearTimeout(this.timer);
    this.timer = undefined;
  }

  /** True while a software timer is pending. */
  get scheduled(): boolean {
    return this.timer !== undefined;
  }

  private reschedule(): void {
    if (this.timer !== undefined) this.timers.clearTimeout(this.timer);
    this.timer = undefined;
    const now = this.timers.now();
    let nextEdgeAt = Number.POSITIVE_INFINITY;
    for (const channel of this.channels.values()) {
      const elapsed = (now - channel.startedAt) % channel.period;
      const segment = channel.edges.findIndex((edge) => elapsed < edge);
      this.write(channel.led, segment % 2 === 0);
      nextEdgeAt = Math.min(nextEdgeAt, now + ((channel.edges[segment] ?? channel.period) - elapsed));
    }
    if (nextEdgeAt !== Number.POSITIVE_INFINITY) {
      this.timer = this.timers.setTimeout(() => {
        this.timer = undefined;
        this.reschedule();
      }, nextEdgeAt - now);
    }
  }

  private write(led: Led, lit: boolean): void {
    if (this.levels.get(led) === lit) return;
    this.levels.set(led, lit);
    led.set(lit);
  }
}
