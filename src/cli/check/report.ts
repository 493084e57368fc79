import { EXIT_FAILURE, EXIT_OK } from "../../exit-codes.js";
import type { Output } from "../output.js";
import type { CheckOutcome, CheckResult } from "./result.js";
import { type CheckDeps, runChecks } from "./run-checks.js";

const LABELS: Record<CheckOutcome, string> = {
  ok: "[ok]",
  warning: "[warning]",
  failed: "[failed]",
  skipped: "[skipped]",
};

export function summarize(results: readonly CheckResult[]): Record<CheckOutcome, number> {
  const summary: Record<CheckOutcome, number> = { ok: 0, warning: 0, failed: 0, skipped: 0 };
  for (const result of results) summary[result.outcome]++;
  return summary;
}

export function formatChecks(results: readonly CheckResult[]): string {
  const labelWidth = Math.max(...Object.values(LABELS).map((label) => label.length));
  const nameWidth = Math.max(0, ...results.map((result) => result.name.length));
  const indent = " ".repeat(labelWidth + nameWidth + 2);
  const lines: string[] = [];
  for (const result of results) {
    lines.push(
      `${LABELS[result.outcome].padEnd(labelWidth)} ${result.name.padEnd(nameWidth)} ${result.message}`,
    );
    if (result.hint !== undefined) lines.push(`${indent}hint: ${result.hint}`);
  }
  const summary = summarize(results);
  lines.push(
    "",
    `${summary.ok} ok, ${summary.warning} warning(s), ${summary.failed} failed, ${summary.skipped} skipped`,
  );
  return lines.join("\n");
}

/** `cw-agent check [--json]`: exit 1 when any check failed. */
export async function checkCommand(
  env: NodeJS.ProcessEnv,
  options: { json: boolean },
  output: Output,
  deps: CheckDeps = {},
): Promise<number> {
  const results = await runChecks(env, deps);
  const summary = summarize(results);
  if (options.json) output.out(JSON.stringify({ checks: results, summary }, null, 2));
  else output.out(formatChecks(results));
  return summary.failed > 0 ? EXIT_FAILURE : EXIT_OK;
}
