import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

export interface FakeChip {
  readonly name: string;
  readonly label: string;
  readonly base: number;
  readonly ngpio: number;
}

/** /sys/class/gpio as seen on each board (kernel 6.6+ numbering unless noted). */
export const BOARDS: Readonly<Record<string, readonly FakeChip[]>> = {
  "Raspberry Pi 4, kernel 6.6": [
    { name: "gpiochip512", label: "pinctrl-bcm2711", base: 512, ngpio: 58 },
    { name: "gpiochip570", label: "raspberrypi-exp-gpio", base: 570, ngpio: 8 },
  ],
  "Raspberry Pi 5": [
    { name: "gpiochip512", label: "gpio-brcmstb@107d508500", base: 512, ngpio: 32 },
    { name: "gpiochip544", label: "gpio-brcmstb@107d508520", base: 544, ngpio: 4 },
    { name: "gpiochip548", label: "gpio-brcmstb@107d517c00", base: 548, ngpio: 17 },
    { name: "gpiochip565", label: "gpio-brcmstb@107d517c20", base: 565, ngpio: 6 },
    { name: "gpiochip571", label: "pinctrl-rp1", base: 571, ngpio: 54 },
  ],
  "Raspberry Pi 3, old kernel": [
    { name: "gpiochip0", label: "pinctrl-bcm2835", base: 0, ngpio: 54 },
    { name: "gpiochip504", label: "raspberrypi-exp-gpio", base: 504, ngpio: 8 },
  ],
  "industrial gateway without a Pi pin controller": [
    { name: "gpiochip0", label: "30200000.gpio", base: 0, ngpio: 32 },
    { name: "gpiochip32", label: "30210000.gpio", base: 32, ngpio: 32 },
  ],
};

/** A temporary directory standing in for /sys. */
export class FakeSysfs {
  readonly root = mkdtempSync(join(tmpdir(), "cw-agent-sysfs-"));

  addGpioChips(chips: readonly FakeChip[]): this {
    for (const chip of chips) {
      const directory = join(this.root, "class", "gpio", chip.name);
      mkdirSync(directory, { recursive: true });
      writeFileSync(join(directory, "label"), `${chip.label}\n`);
      writeFileSync(join(directory, "base"), `${chip.base}\n`);
      writeFileSync(join(directory, "ngpio"), `${chip.ngpio}\n`);
    }
    return this;
  }

  addLed(name: string, options: { maxBrightness?: number; triggers?: string } = {}): string {
    const directory = join(this.root, "class", "leds", name);
    mkdirSync(directory, { recursive: true });
    writeFileSync(join(directory, "brightness"), "0\n");
    writeFileSync(join(directory, "max_brightness"), `${options.maxBrightness ?? 255}\n`);
    writeFileSync(join(directory, "trigger"), `${options.triggers ?? "none [mmc0] timer heartbeat"}\n`);
    return directory;
  }

  remove(): void {
    rmSync(this.root, { recursive: true, force: true });
  }
}
