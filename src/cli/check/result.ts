export type CheckOutcome = "ok" | "warning" | "failed" | "skipped";

export interface CheckResult {
  /** Stable identifier, e.g. "broker-tls". */
  readonly name: string;
  readonly outcome: CheckOutcome;
  /** What was found, one line. */
  readonly message: string;
  /** What to do about it, one line; absent when there is nothing to do. */
  readonly hint?: string;
}

export const ok = (name: string, message: string): CheckResult => ({ name, outcome: "ok", message });
export const skipped = (name: string, message: string): CheckResult => ({
  name,
  outcome: "skipped",
  message,
});
export const warning = (name: string, message: string, hint?: string): CheckResult =>
  hint === undefined ? { name, outcome: "warning", message } : { name, outcome: "warning", message, hint };
export const failed = (name: string, message: string, hint: string): CheckResult => ({
  name,
  outcome: "failed",
  message,
  hint,
});

/** Resolves with `work`, or rejects with a timeout error naming `what` after `timeoutMs`. */
export function withTimeout<T>(work: Promise<T>, timeoutMs: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const deadline = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new CheckTimeoutError(what, timeoutMs)), timeoutMs);
  });
  return Promise.race([work, deadline]).finally(() => clearTimeout(timer));
}

export class CheckTimeoutError extends Error {
  readonly code = "ETIMEDOUT";
  constructor(what: string, timeoutMs: number) {
    super(`${what}: no answer within ${timeoutMs} ms`);
    this.name = "CheckTimeoutError";
  }
}
