import { afterEach, describe, expect, it } from "vitest";
import { GpioResolutionError, resolveGpio } from "../../src/indicators/leds/gpio-base.js";
import { BOARDS, FakeSysfs } from "./fakes/sysfs.js";

const auto = { base: "auto", chipLabel: undefined } as const;
let sysfs: FakeSysfs | undefined;

function board(name: string): FakeSysfs {
  sysfs = new FakeSysfs().addGpioChips(BOARDS[name] ?? []);
  return sysfs;
}

afterEach(() => sysfs?.remove());

describe("BCM line to sysfs GPIO number", () => {
  it.each([
    ["Raspberry Pi 4, kernel 6.6", 529, "pinctrl-bcm2711"],
    ["Raspberry Pi 5", 588, "pinctrl-rp1"],
    ["Raspberry Pi 3, old kernel", 17, "pinctrl-bcm2835"],
  ])("%s: GPIO17 is sysfs %i on %s, never the firmware expander", async (name, expected, label) => {
    const resolved = await resolveGpio(17, auto, board(name).root);
    expect(resolved.sysfsNumber).toBe(expected);
    expect(resolved.chip?.label).toBe(label);
  });

  it("fails on a board without a known chip, listing the chips it found", async () => {
    const root = board("industrial gateway without a Pi pin controller").root;
    const failure = resolveGpio(17, auto, root);
    await expect(failure).rejects.toBeInstanceOf(GpioResolutionError);
    await expect(failure).rejects.toThrow(
      /gpiochip0 "30200000\.gpio" base 0 ngpio 32, gpiochip32 "30210000\.gpio"/,
    );
    await expect(failure).rejects.toThrow(/CW_AGENT_GPIO_CHIP/);
  });

  it("uses a chip chosen by label on other boards", async () => {
    const root = board("industrial gateway without a Pi pin controller").root;
    const resolved = await resolveGpio(5, { base: "auto", chipLabel: "30210000.gpio" }, root);
    expect(resolved.sysfsNumber).toBe(37);
  });

  it("takes an explicit base without reading sysfs", async () => {
    const resolved = await resolveGpio(17, { base: 512, chipLabel: undefined }, "/nonexistent");
    expect(resolved).toEqual({ sysfsNumber: 529, chip: undefined });
  });

  it("says when there is no GPIO sysfs at all", async () => {
    sysfs = new FakeSysfs();
    await expect(resolveGpio(17, auto, sysfs.root)).rejects.toThrow(/found: none/);
  });

  it("rejects a line beyond the chip", async () => {
    await expect(resolveGpio(60, auto, board("Raspberry Pi 5").root)).rejects.toThrow(/not on gpiochip571/);
  });
});
