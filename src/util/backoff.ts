/** Spreads a nominal interval by ±spread so a fleet that lost power together does not retry in lockstep. */
export function withJitter(ms: number, random: () => number = Math.random, spread = 0.2): number {
  return Math.round(ms * (1 - spread + 2 * spread * random()));
}

/** Uniform over [0, ms]: a random phase within one interval, for the first of a series of polls. */
export function spreadOver(ms: number, random: () => number = Math.random): number {
  return Math.round(ms * random());
}

/**
 * Doubling steps that the first delay of a spread-out backoff covers at once. Every agent of a site
 * loses its broker in the same instant; with the usual first delay of [min/2, min] they would all
 * knock again within the same half second. The first delay is uniform over [0, min·2^steps]
 * (4 s with the default minimum) and the sequence goes on from that step, so all are still back
 * within a few steps.
 */
export const FLEET_SPREAD_STEPS = 2;

/**
 * Exponential backoff with "equal jitter": each delay is between half and all of
 * min(cap, min * 2^attempt), so it grows, never exceeds the cap, and never synchronizes.
 * With `spreadFirst`, the first delay is spread over FLEET_SPREAD_STEPS steps instead.
 */
export class ExponentialBackoff {
  private attempt = 0;

  constructor(
    private readonly minMs: number,
    private readonly maxMs: number,
    private readonly random: () => number = Math.random,
    private readonly options: { spreadFirst?: boolean } = {},
  ) {}

  next(): number {
    if (this.attempt === 0 && this.options.spreadFirst === true) {
      this.attempt = FLEET_SPREAD_STEPS;
      return Math.round(this.random() * this.ceiling(FLEET_SPREAD_STEPS));
    }
    const ceiling = this.ceiling(this.attempt);
    this.attempt++;
    return Math.round(ceiling / 2 + (this.random() * ceiling) / 2);
  }

  private ceiling(attempt: number): number {
    return Math.min(this.maxMs, this.minMs * 2 ** Math.min(attempt, 30));
  }

  reset(): void {
    this.attempt = 0;
  }

  get attempts(): number {
    return this.attempt;
  }
}
