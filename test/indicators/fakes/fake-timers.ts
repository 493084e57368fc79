import { setImmediate as nextMacrotask } from "node:timers/promises";
import type { TimerHandle, Timers } from "../../../src/indicators/timers.js";

interface Scheduled {
  readonly id: number;
  readonly at: number;
  readonly callback: () => void;
}

/** Manual clock: nothing happens until a test advances time. */
export class FakeTimers implements Timers {
  private current: number;
  private nextId = 1;
  private readonly queue = new Map<number, Scheduled>();
  /** Extra delay added to every firing, to prove patterns do not drift when timers run late. */
  lateByMs = 0;

  constructor(start = 1_700_000_000_000) {
    this.current = start;
  }

  now(): number {
    return this.current;
  }

  setTimeout(callback: () => void, delayMs: number): TimerHandle {
    const id = this.nextId++;
    this.queue.set(id, { id, at: this.current + Math.max(0, delayMs) + this.lateByMs, callback });
    return id;
  }

  clearTimeout(handle: TimerHandle): void {
    this.queue.delete(handle as number);
  }

  get pending(): number {
    return this.queue.size;
  }

  /** Runs every timer due within `ms`, in order, moving the clock to each one. Synchronous callers only. */
  advance(ms: number): void {
    const target = this.current + ms;
    for (let next = this.earliest(); next !== undefined && next.at <= target; next = this.earliest()) {
      this.queue.delete(next.id);
      this.current = Math.max(this.current, next.at);
      next.callback();
    }
    this.current = target;
  }

  /** Like advance, letting promise chains run after each timer (drivers await sleeps). */
  async advanceAsync(ms: number): Promise<void> {
    const target = this.current + ms;
    await flush();
    for (let next = this.earliest(); next !== undefined && next.at <= target; next = this.earliest()) {
      this.queue.delete(next.id);
      this.current = Math.max(this.current, next.at);
      next.callback();
      await flush();
    }
    this.current = target;
    await flush();
  }

  /** Advances time only as far as needed for `promise` to settle (sleeps inside drivers). */
  async settle<T>(promise: Promise<T>, limitMs = 10_000): Promise<T> {
    let settled = false;
    const watched = promise.finally(() => {
      settled = true;
    });
    const deadline = this.current + limitMs;
    await flush();
    while (!settled) {
      const next = this.earliest();
      if (next === undefined || next.at > deadline) break;
      this.queue.delete(next.id);
      this.current = Math.max(this.current, next.at);
      next.callback();
      await flush();
    }
    return watched;
  }

  private earliest(): Scheduled | undefined {
    let earliest: Scheduled | undefined;
    for (const entry of this.queue.values()) {
      if (
        earliest === undefined ||
        entry.at < earliest.at ||
        (entry.at === earliest.at && entry.id < earliest.id)
      ) {
        earliest = entry;
      }
    }
    return earliest;
  }
}

/** Lets every queued promise continuation run. */
export async function flush(): Promise<void> {
  for (let round = 0; round < 3; round++) await nextMacrotask();
}
