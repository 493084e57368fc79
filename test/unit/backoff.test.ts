import { describe, expect, it } from "vitest";
import { AuthRejectionTracker, isAuthRejection } from "../../src/mqtt/auth-rejection.js";
import { ExponentialBackoff, withJitter } from "../../src/util/backoff.js";

describe("ExponentialBackoff", () => {
  it("doubles up to the cap, stays within [ceiling/2, ceiling], and starts over after reset", () => {
    const low = new ExponentialBackoff(1000, 8000, () => 0);
    const high = new ExponentialBackoff(1000, 8000, () => 1);
    expect([1, 2, 3, 4, 5, 6].map(() => low.next())).toEqual([500, 1000, 2000, 4000, 4000, 4000]);
    expect([1, 2, 3, 4, 5, 6].map(() => high.next())).toEqual([1000, 2000, 4000, 8000, 8000, 8000]);
    high.reset();
    expect(high.next()).toBe(1000);
  });

  it("does not overflow after very many attempts", () => {
    const backoff = new ExponentialBackoff(1000, 60_000, () => 0.5);
    for (let i = 0; i < 5000; i++) backoff.next();
    expect(backoff.next()).toBe(45_000);
  });
});

describe("withJitter", () => {
  it("spreads by ±20%", () => {
    expect(withJitter(2000, () => 0)).toBe(1600);
    expect(withJitter(2000, () => 1)).toBe(2400);
    expect(withJitter(2000, () => 0.5)).toBe(2000);
  });
});

describe("AuthRejectionTracker", () => {
  it("needs both the count and the window before calling rejections persistent", () => {
    let now = 0;
    const tracker = new AuthRejectionTracker(3, 30_000, () => now);
    expect(tracker.record()).toBe(false);
    now = 1000;
    expect(tracker.record()).toBe(false);
    now = 2000;
    expect(tracker.record()).toBe(false); // three rejections, but within 2 s
    now = 31_000;
    expect(tracker.record()).toBe(true);
  });

  it("starts over after a successful login", () => {
    let now = 0;
    const tracker = new AuthRejectionTracker(2, 30_000, () => now);
    tracker.record();
    now = 40_000;
    tracker.reset();
    expect(tracker.record()).toBe(false);
    now = 50_000;
    expect(tracker.record()).toBe(false);
  });

  it("recognizes CONNACK codes of MQTT 3.1.1 and 5 only", () => {
    expect([4, 5, 0x86, 0x87].every((code) => isAuthRejection({ code }))).toBe(true);
    expect([1, 2, 3, 0x80, 0x88, "ECONNREFUSED"].some((code) => isAuthRejection({ code }))).toBe(false);
    expect(isAuthRejection(undefined)).toBe(false);
  });
});
