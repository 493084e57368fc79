/** Where a command writes; the process streams in production. */
export interface Output {
  out(text: string): void;
  err(text: string): void;
}

export const processOutput: Output = {
  out: (text) => process.stdout.write(text.endsWith("\n") ? text : `${text}\n`),
  err: (text) => process.stderr.write(text.endsWith("\n") ? text : `${text}\n`),
};

/** "3h 2m", "2m 5s", "12s": enough precision for a human reading uptime or age. */
export function formatDuration(ms: number): string {
  const totalSeconds = Math.max(0, Math.round(ms / 1000));
  const days = Math.floor(totalSeconds / 86_400);
  const hours = Math.floor((totalSeconds % 86_400) / 3600);
  const minutes = Math.floor((totalSeconds % 3600) / 60);
  const seconds = totalSeconds % 60;
  if (days > 0) return `${days}d ${hours}h`;
  if (hours > 0) return `${hours}h ${minutes}m`;
  if (minutes > 0) return `${minutes}m ${seconds}s`;
  return `${seconds}s`;
}

export function formatTime(epochMs: number): string {
  return new Date(epochMs).toISOString().replace(/\.\d+Z$/, "Z");
}

/** "2026-11-25T22:13:15Z (12s ago)". */
export function formatMoment(epochMs: number, now: number): string {
  const delta = now - epochMs;
  const relative = delta >= 0 ? `${formatDuration(delta)} ago` : `in ${formatDuration(-delta)}`;
  return `${formatTime(epochMs)} (${relative})`;
}

/** Two columns, labels padded to the longest one. */
export function formatFields(fields: readonly (readonly [string, string | undefined])[]): string {
  const present = fields.filter((field): field is readonly [string, string] => field[1] !== undefined);
  const width = Math.max(0, ...present.map(([label]) => label.length));
  return present.map(([label, value]) => `  ${label.padEnd(width)}  ${value}`).join("\n");
}
