/**
 * The clock and one-shot timers every indicator component uses, injected so blink patterns,
 * identify and display retry backoff are tested with fake time.
 */
export interface Timers {
  now(): number;
  setTimeout(callback: () => void, delayMs: number): TimerHandle;
  clearTimeout(handle: TimerHandle): void;
}

/** Opaque: whatever the timer implementation returns. */
export type TimerHandle = unknown;

/**
 * Real timers, unref'd: a blinking LED or a display retry must never be the reason the process
 * stays alive after the agent has shut everything else down.
 */
export const realTimers: Timers = {
  now: () => Date.now(),
  setTimeout(callback, delayMs) {
    const handle = setTimeout(callback, Math.max(0, delayMs));
    handle.unref();
    return handle;
  },
  clearTimeout(handle) {
    clearTimeout(handle as NodeJS.Timeout);
  },
};

export function sleep(timers: Timers, ms: number): Promise<void> {
  return new Promise((resolve) => timers.setTimeout(resolve, ms));
}
