import { sampleStatuses } from "../../../src/indicators/display/screens.js";
import type { AgentStatus } from "../../../src/lifecycle/lifecycle.js";

/** A fixed clock for screen tests, so "next try 14:03:22" style texts are stable. */
export const NOW = Date.UTC(2025, 0, 15, 14, 3, 14);
export const formatTime = (ms: number) => new Date(ms).toISOString().slice(11, 19);

/** The sample status of one state, as the render script and the screen tests use it. */
export function statusOf(state: AgentStatus["state"]): AgentStatus {
  const status = sampleStatuses(NOW).find((candidate) => candidate.state === state);
  if (status === undefined) throw new Error(state);
  return status;
}
