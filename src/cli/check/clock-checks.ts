import { readFileSync, statSync } from "node:fs";
import type { NtpQuery } from "../../util/clock-sync.js";
import { formatTime } from "../output.js";
import { type CheckResult, failed, ok, warning } from "./result.js";

/**
 * The earliest moment the clock can plausibly show: when the package.json shipped with this agent
 * was last written (built, unpacked or installed). A Raspberry Pi without RTC boots at its last
 * shutdown or in 1970 until NTP sets the clock, and TLS fails meanwhile ("certificate not yet valid").
 */
export function shippedPackageTime(): number | undefined {
  let directory = new URL(".", import.meta.url);
  for (let level = 0; level < 5; level++) {
    const candidate = new URL("package.json", directory);
    try {
      const pkg = JSON.parse(readFileSync(candidate, "utf8")) as { name?: string };
      if (pkg.name === "cw-agent") return statSync(candidate).mtimeMs;
    } catch {
      // not here: one level up
    }
    directory = new URL("..", directory);
  }
  return undefined;
}

export function checkClockPlausible(now: number, earliest: number | undefined): CheckResult {
  const name = "clock-plausible";
  if (earliest === undefined) {
    return warning(
      name,
      `the clock says ${formatTime(now)}; cannot tell whether that is plausible (the agent's package.json was not found)`,
    );
  }
  if (now < earliest) {
    return failed(
      name,
      `the clock says ${formatTime(now)}, before this agent was installed (${formatTime(earliest)})`,
      "set the time (NTP: check timedatectl and systemd-timesyncd); TLS fails while the clock is in the past",
    );
  }
  return ok(name, `the clock says ${formatTime(now)}, after this agent was installed`);
}

export async function checkClockSynchronized(query: NtpQuery, timeoutMs: number): Promise<CheckResult> {
  const name = "clock-synchronized";
  const synchronized = await query(timeoutMs);
  if (synchronized === "yes") return ok(name, "the clock is synchronized (NTP)");
  if (synchronized === "no") {
    return warning(
      name,
      "the clock is not synchronized (timedatectl: NTPSynchronized=no)",
      "check that an NTP server is reachable: timedatectl timesync-status",
    );
  }
  return warning(
    name,
    "cannot tell whether the clock is synchronized (timedatectl is not available or did not answer)",
    "make sure the gateway sets its clock from NTP",
  );
}
