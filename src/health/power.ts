import { readdir, readFile } from "node:fs/promises";
import { join } from "node:path";

/**
 * Raspberry Pi power supply and throttling, from two kernel sources:
 *
 * - the `rpi_volt` hwmon device's `in0_lcrit_alarm` (1 = the supply is below the lower critical
 *   limit now), the preferred under-voltage source on current kernels;
 * - the firmware driver's `get_throttled` file, a hex number without `0x`. Reading it logs a
 *   "deprecated" kernel warning once per boot, and the hwmon poll may clear its "has occurred"
 *   bits, so only its "now" bits are trusted for warnings. It is the only source of throttling.
 *
 * Both are optional; on other machines this finds nothing. Nothing here writes.
 */

/** The bits of get_throttled (Raspberry Pi documentation, `vcgencmd get_throttled`). */
const THROTTLED_BITS = {
  underVoltageNow: 0,
  frequencyCappedNow: 1,
  throttledNow: 2,
  softTempLimitNow: 3,
  underVoltageOccurred: 16,
  frequencyCappedOccurred: 17,
  throttledOccurred: 18,
  softTempLimitOccurred: 19,
} as const;

export type ThrottledFlags = { readonly [Flag in keyof typeof THROTTLED_BITS]: boolean };

export interface ThrottledReading extends ThrottledFlags {
  /** The value as the firmware printed it (hex, without 0x). */
  readonly raw: string;
}

export interface PowerReading {
  /** Whether the supply is too low now, and which source said so. */
  readonly underVoltage?: boolean;
  readonly underVoltageSource?: "rpi_volt" | "get_throttled";
  /** The decoded firmware flags, where the firmware file exists. */
  readonly throttled?: ThrottledReading;
}

export function decodeThrottled(raw: string): ThrottledReading | undefined {
  const text = raw.trim().replace(/^0x/i, "");
  if (!/^[0-9a-f]{1,8}$/i.test(text)) return undefined;
  const value = Number.parseInt(text, 16);
  const flags = Object.fromEntries(
    Object.entries(THROTTLED_BITS).map(([flag, bit]) => [flag, (value & (1 << bit)) !== 0]),
  ) as unknown as ThrottledFlags;
  return { raw: text.toLowerCase(), ...flags };
}

async function readText(path: string): Promise<string | undefined> {
  try {
    return await readFile(path, "utf8");
  } catch {
    return undefined;
  }
}

async function entries(path: string): Promise<string[]> {
  try {
    return (await readdir(path)).sort();
  } catch {
    return [];
  }
}

/** `in0_lcrit_alarm` of the hwmon device named rpi_volt, as a boolean; undefined without one. */
async function readRpiVoltAlarm(sysfsRoot: string): Promise<boolean | undefined> {
  const base = join(sysfsRoot, "class", "hwmon");
  for (const device of await entries(base)) {
    if ((await readText(join(base, device, "name")))?.trim() !== "rpi_volt") continue;
    const alarm = (await readText(join(base, device, "in0_lcrit_alarm")))?.trim();
    if (alarm === "0" || alarm === "1") return alarm === "1";
  }
  return undefined;
}

/**
 * The firmware's get_throttled: under /sys/devices/platform/soc/soc:firmware on most models; the
 * SoC node's name differs between boards, so every `soc*` node's `*firmware` child is tried.
 */
async function readGetThrottled(sysfsRoot: string): Promise<ThrottledReading | undefined> {
  const platform = join(sysfsRoot, "devices", "platform");
  for (const soc of (await entries(platform)).filter((entry) => entry.startsWith("soc"))) {
    for (const child of (await entries(join(platform, soc))).filter((entry) => entry.endsWith("firmware"))) {
      const text = await readText(join(platform, soc, child, "get_throttled"));
      if (text !== undefined) return decodeThrottled(text);
    }
  }
  return undefined;
}

export async function readPower(sysfsRoot: string): Promise<PowerReading | undefined> {
  const [alarm, throttled] = await Promise.all([readRpiVoltAlarm(sysfsRoot), readGetThrottled(sysfsRoot)]);
  if (alarm === undefined && throttled === undefined) return undefined;
  return {
    ...(alarm !== undefined
      ? { underVoltage: alarm, underVoltageSource: "rpi_volt" as const }
      : throttled !== undefined
        ? { underVoltage: throttled.underVoltageNow, underVoltageSource: "get_throttled" as const }
        : {}),
    ...(throttled === undefined ? {} : { throttled }),
  };
}

/**
 * What a technician must hear of: under-voltage, throttling, frequency capping or the soft
 * temperature limit, now. Undefined when the supply and the clocks are fine (or unknown).
 */
export function powerWarning(power: PowerReading | undefined): string | undefined {
  if (power === undefined) return undefined;
  const problems: string[] = [];
  if (power.underVoltage === true) problems.push("under-voltage");
  if (power.throttled?.throttledNow) problems.push("throttled");
  if (power.throttled?.frequencyCappedNow) problems.push("CPU frequency capped");
  if (power.throttled?.softTempLimitNow) problems.push("soft temperature limit");
  return problems.length === 0 ? undefined : problems.join(", ");
}
