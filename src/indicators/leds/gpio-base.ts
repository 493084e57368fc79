import { readdir, readFile } from "node:fs/promises";
import { join } from "node:path";

export interface GpioChip {
  /** Directory name, e.g. "gpiochip512". */
  readonly name: string;
  readonly label: string;
  readonly base: number;
  readonly ngpio: number;
}

/**
 * Labels of the pin controllers that carry the 40-pin header's BCM lines, most specific first.
 * A Pi 5's header is on the RP1 south bridge; its SoC chips ("gpio-brcmstb@...") and the
 * firmware expander ("raspberrypi-exp-gpio") on every model must never be picked.
 */
export const HEADER_CHIP_LABELS: readonly string[] = ["pinctrl-rp1", "pinctrl-bcm2711", "pinctrl-bcm2835"];

export class GpioResolutionError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "GpioResolutionError";
  }
}

export async function listGpioChips(sysfsRoot: string): Promise<GpioChip[]> {
  const directory = join(sysfsRoot, "class", "gpio");
  let entries: string[];
  try {
    entries = await readdir(directory);
  } catch {
    return [];
  }
  const chips: GpioChip[] = [];
  for (const name of entries.filter((entry) => entry.startsWith("gpiochip")).sort()) {
    try {
      const [label, base, ngpio] = await Promise.all(
        ["label", "base", "ngpio"].map((file) => readFile(join(directory, name, file), "utf8")),
      );
      chips.push({ name, label: (label ?? "").trim(), base: Number(base), ngpio: Number(ngpio) });
    } catch {
      // A chip directory without the usual attributes is not one we can use.
    }
  }
  return chips;
}

export interface GpioNumbering {
  readonly base: number | "auto";
  readonly chipLabel: string | undefined;
}

export interface ResolvedGpio {
  /** The number to write to /sys/class/gpio/export. */
  readonly sysfsNumber: number;
  /** Undefined when the base came from CW_AGENT_GPIO_BASE. */
  readonly chip: GpioChip | undefined;
}

/**
 * Maps a BCM line to its sysfs number. `new Gpio(17)` fails with EINVAL on kernels since 6.6
 * because the header chip no longer starts at 0 (512 on a Pi 4, 571 on a Pi 5), and
 * `Gpio.accessible` cannot tell: it only checks that /sys/class/gpio/export is writable.
 */
export async function resolveGpio(
  line: number,
  numbering: GpioNumbering,
  sysfsRoot: string,
): Promise<ResolvedGpio> {
  if (numbering.base !== "auto") return { sysfsNumber: numbering.base + line, chip: undefined };
  const chips = await listGpioChips(sysfsRoot);
  const wanted = numbering.chipLabel === undefined ? HEADER_CHIP_LABELS : [numbering.chipLabel];
  const chip = wanted.map((label) => chips.find((candidate) => candidate.label === label)).find(Boolean);
  if (chip === undefined) {
    const found = chips.length === 0 ? "none" : chips.map(describeChip).join(", ");
    throw new GpioResolutionError(
      `no GPIO chip labelled ${wanted.join(" or ")} under ${join(sysfsRoot, "class", "gpio")} (found: ${found}); set CW_AGENT_GPIO_CHIP to one of the labels or CW_AGENT_GPIO_BASE to its base`,
    );
  }
  if (!Number.isInteger(chip.base) || !Number.isInteger(chip.ngpio) || line >= chip.ngpio) {
    throw new GpioResolutionError(`BCM line ${line} is not on ${describeChip(chip)}`);
  }
  return { sysfsNumber: chip.base + line, chip };
}

function describeChip(chip: GpioChip): string {
  return `${chip.name} "${chip.label}" base ${chip.base} ngpio ${chip.ngpio}`;
}
