/** One physical LED, whatever drives it. `lit` is what a person sees; polarity is the adapter's job. */
export interface Led {
  /** For log lines: "gpio:17 (sysfs 529)", "led:ACT". */
  readonly description: string;
  /** Synchronous on purpose: sysfs writes are a few microseconds and patterns need no queue. */
  set(lit: boolean): void;
  /**
   * Hands a plain two-phase blink to the hardware (the kernel `timer` trigger), so no process
   * timer runs for it. Returns false when the LED cannot do that; the scheduler then blinks it.
   */
  blink?(onMs: number, offMs: number): boolean;
  /** Leaves the LED off and gives the line back to the system. */
  release(): void;
}
