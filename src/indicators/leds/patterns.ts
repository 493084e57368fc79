import type { AgentState } from "../../lifecycle/lifecycle.js";

export type PatternName =
  | "off"
  | "solid"
  | "slow-blink"
  | "fast-blink"
  | "double-flash"
  | "triple-flash"
  | "heartbeat"
  | "identify";

export interface Pattern {
  readonly name: PatternName;
  /**
   * Alternating on/off durations in milliseconds, starting with "on", repeated forever.
   * Empty means a steady level: lit for "solid", dark for "off".
   */
  readonly timeline: readonly number[];
  readonly lit: boolean;
  /** For the documentation table. */
  readonly description: string;
}

export const PATTERNS: Readonly<Record<PatternName, Pattern>> = {
  off: { name: "off", timeline: [], lit: false, description: "off" },
  solid: { name: "solid", timeline: [], lit: true, description: "steady on" },
  "slow-blink": { name: "slow-blink", timeline: [1000, 1000], lit: true, description: "1 s on, 1 s off" },
  "fast-blink": { name: "fast-blink", timeline: [200, 200], lit: true, description: "0.2 s on, 0.2 s off" },
  "double-flash": {
    name: "double-flash",
    timeline: [150, 150, 150, 1550],
    lit: true,
    description: "two short flashes every 2 s",
  },
  "triple-flash": {
    name: "triple-flash",
    timeline: [150, 150, 150, 150, 150, 1250],
    lit: true,
    description: "three short flashes every 2 s",
  },
  heartbeat: {
    name: "heartbeat",
    timeline: [100, 1900],
    lit: true,
    description: "one short flash every 2 s",
  },
  identify: { name: "identify", timeline: [80, 80], lit: true, description: "very fast flicker (~6 Hz)" },
};

export interface StatePatterns {
  readonly status: PatternName;
  readonly fault: PatternName;
  /** What the status LED shows instead when no fault LED is configured, so faults stay visible. */
  readonly statusWithoutFaultLed?: PatternName;
}

/**
 * The documented state → pattern table (docs/indicators.md renders it). Waiting for a person
 * blinks, online is steady, conflict and failure light the fault LED.
 */
export const STATE_PATTERNS: Readonly<Record<AgentState, StatePatterns>> = {
  starting: { status: "fast-blink", fault: "off" },
  registering: { status: "fast-blink", fault: "off" },
  "registry-locked": { status: "double-flash", fault: "off" },
  pending: { status: "slow-blink", fault: "off" },
  conflict: { status: "off", fault: "slow-blink", statusWithoutFaultLed: "triple-flash" },
  connecting: { status: "fast-blink", fault: "off" },
  online: { status: "solid", fault: "off" },
  reconnecting: { status: "heartbeat", fault: "off" },
  stopping: { status: "off", fault: "off" },
  stopped: { status: "off", fault: "off" },
  failed: { status: "off", fault: "solid", statusWithoutFaultLed: "triple-flash" },
};

/** The "agent stopped" state both LEDs are left in before their lines are released. */
export const STOPPED_PATTERNS: StatePatterns = STATE_PATTERNS.stopped;
