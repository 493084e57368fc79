import { execFile } from "node:child_process";
import { existsSync } from "node:fs";

/** "yes", "no", or undefined when it cannot be told (no timedatectl, no systemd). */
export type NtpQuery = (timeoutMs: number) => Promise<"yes" | "no" | undefined>;

/** systemd-timesyncd creates this file once it has set the clock from NTP (timesyncd.service(8)). */
export const TIMESYNC_MARKER = "/run/systemd/timesync/synchronized";

export const timedatectlNtpQuery: NtpQuery = (timeoutMs) =>
  new Promise((resolve) => {
    execFile(
      "timedatectl",
      ["show", "-p", "NTPSynchronized", "--value"],
      { timeout: timeoutMs, encoding: "utf8" },
      (error, stdout) => {
        const value = stdout.trim();
        resolve(error === null && (value === "yes" || value === "no") ? value : undefined);
      },
    );
  });

/**
 * Whether the system clock was set from NTP: timesyncd's marker file, else timedatectl. A Pi
 * without RTC boots at its last shutdown or in 1970, so a date judged before this says nothing.
 */
export async function isClockSynchronized(
  query: NtpQuery = timedatectlNtpQuery,
  marker: string = TIMESYNC_MARKER,
  timeoutMs = 5_000,
): Promise<boolean> {
  if (existsSync(marker)) return true;
  return (await query(timeoutMs)) === "yes";
}
