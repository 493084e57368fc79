import type { TimerHandle, Timers } from "../timers.js";
import type { Led } from "./led.js";
import type { Pattern } from "./patterns.js";

interface Channel {
  readonly led: Led;
  readonly pattern: Pattern;
  /** Cumulative segment ends within one period, e.g. [150, 300, 450, 2000]. */
  readonly edges: readonly number[];
  readonly period: number;
  readonly startedAt: number;
  lit: boolean | undefined;
}

/**
 * Plays patterns on any number of LEDs with one timer. Every level is computed from the
 * pattern's start time and the clock, so a late timer never shifts later edges (no drift) and
 * nothing runs between edges.
 */
export class PatternPlayer {
  private readonly channels = new Map<Led, Channel>();
  private readonly playing = new Map<Led, Pattern>();
  private timer: TimerHandle | undefined;

  constructor(private readonly timers: Timers) {}

  play(led: Led, pattern: Pattern): void {
    if (this.playing.get(led) === pattern) return;
    this.playing.set(led, pattern);
    this.channels.delete(led);
    if (pattern.timeline.length === 0) {
      led.set(pattern.lit);
    } else if (
      pattern.timeline.length === 2 &&
      led.blink?.(pattern.timeline[0] ?? 0, pattern.timeline[1] ?? 0)
    ) {
      // The kernel blinks it; nothing for us to schedule.
    } else {
      const edges: number[] = [];
      let sum = 0;
      for (const duration of pattern.timeline) {
        sum += duration;
        edges.push(sum);
      }
      this.channels.set(led, {
        led,
        pattern,
        edges,
        period: sum,
        startedAt: this.timers.now(),
        lit: undefined,
      });
    }
    this.reschedule();
  }

  /** Forgets every LED without touching it; the caller decides the final levels. */
  clear(): void {
    this.channels.clear();
    this.playing.clear();
    if (this.timer !== undefined) this.timers.clearTimeout(this.timer);
    this.timer = undefined;
  }

  /** True while a software timer is pending (tests assert that steady states cost nothing). */
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
      const lit = segment % 2 === 0;
      if (channel.lit !== lit) {
        channel.led.set(lit);
        channel.lit = lit;
      }
      nextEdgeAt = Math.min(nextEdgeAt, now + ((channel.edges[segment] ?? channel.period) - elapsed));
    }
    if (nextEdgeAt !== Number.POSITIVE_INFINITY) {
      this.timer = this.timers.setTimeout(() => {
        this.timer = undefined;
        this.reschedule();
      }, nextEdgeAt - now);
    }
  }
}
