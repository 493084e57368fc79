/**
 * How much slower than a native CPU the tests run: CW_AGENT_TEST_TIME_SCALE, default 1. The suite
 * under qemu-user (scripts/ci/test-emulated.sh) sets it, because an emulated node needs about ten
 * times as long for the same work. Only deadlines that bound how long work may take are scaled; what
 * the agent is configured with and what the tests assert about it are not.
 */
export const TIME_SCALE: number = readScale(process.env.CW_AGENT_TEST_TIME_SCALE);

function readScale(text: string | undefined): number {
  if (text === undefined || text === "") return 1;
  const value = Number(text);
  if (!Number.isFinite(value) || value < 1) {
    throw new Error(`CW_AGENT_TEST_TIME_SCALE must be a number >= 1, not ${JSON.stringify(text)}`);
  }
  return value;
}

/** A deadline in milliseconds, stretched for a slow (emulated) CPU. */
export function scaled(ms: number): number {
  return Math.round(ms * TIME_SCALE);
}
