/** Spreads a nominal interval by ±spread so a fleet that lost power together does not retry in lockstep. */
export function withJitter(ms: number, random: () => number = Math.random, spread = 0.2): number {
  return Math.round(ms * (1 - spread + 2 * spread * random()));
}

/**
 * Exponential backoff with "equal jitter": each delay is between half and all of
 * min(cap, min * 2^attempt), so it grows, never exceeds the cap, and never synchronizes.
 */
export class ExponentialBackoff {
  private attempt = 0;

  constructor(
    private readonly minMs: number,
    private readonly maxMs: number,
    private readonly random: () => number = Math.random,
  ) {}

  next(): number {
    const ceiling = Math.min(this.maxMs, this.minMs * 2 ** Math.min(this.attempt, 30));
    this.attempt++;
    return Math.round(ceiling / 2 + (this.random() * ceiling) / 2);
  }

  reset(): void {
    this.attempt = 0;
  }

  get attempts(): number {
    return this.attempt;
  }
}
