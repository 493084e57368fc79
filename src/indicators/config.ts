import { ConfigError, type Env, read } from "../config/config-error.js";

/** Where one LED role is connected. BCM line numbers, not sysfs numbers: the base offset is resolved at start. */
export type LedTarget =
  | { readonly kind: "none" }
  | { readonly kind: "gpio"; readonly line: number; readonly activeLow: boolean }
  | { readonly kind: "led-class"; readonly name: string; readonly activeLow: boolean };

export type DisplayModel = "none" | "auto" | "ssd1306" | "sh1106" | "hd44780" | "virtual" | "virtual-lcd";

export interface DisplayConfig {
  readonly model: DisplayModel;
  /** /dev/i2c-N. */
  readonly bus: number;
  /** 7-bit address, or probe the usual addresses of the model. */
  readonly address: number | "auto";
  /** OLED only: 180 flips the panel through the controller's remap commands. */
  readonly rotation: 0 | 180;
  /** Character LCD geometry (also used by the virtual LCD). */
  readonly lcd: { readonly columns: 16 | 20; readonly rows: 2 | 4 };
  /** How the virtual OLED draws on the terminal: half blocks are sharper, braille fits in 80 columns. */
  readonly virtualStyle: "auto" | "blocks" | "braille";
}

export interface IndicatorConfig {
  readonly leds: { readonly status: LedTarget; readonly fault: LedTarget };
  readonly gpio: {
    /** Explicit sysfs base of the chip that carries the BCM lines; "auto" reads /sys/class/gpio. */
    readonly base: number | "auto";
    /** Label of the gpiochip to use when it is not one of the known Raspberry Pi SoC controllers. */
    readonly chipLabel: string | undefined;
  };
  /** Default duration of the identify action (the CLI and MQTT will pass it to `identify`). */
  readonly identifySeconds: number;
  readonly display: DisplayConfig;
}

export const OLED_ADDRESSES: readonly number[] = [0x3c, 0x3d];
/** PCF8574 (0x20–0x27) and PCF8574A (0x38–0x3F) backpacks, most common first. */
export const PCF8574_ADDRESSES: readonly number[] = [
  0x27, 0x3f, 0x20, 0x21, 0x22, 0x23, 0x24, 0x25, 0x26, 0x38, 0x39, 0x3a, 0x3b, 0x3e, 0x3c, 0x3d,
];

const LED_TARGET_RULE = "none, gpio:<BCM line 0-63> (e.g. gpio:17) or led:<name under /sys/class/leds>";
const LED_NAME_PATTERN = /^[A-Za-z0-9_.:+-]+$/;

export function loadIndicatorConfig(env: Env): IndicatorConfig {
  const status = readLedTarget(env, "CW_AGENT_LED_STATUS");
  const fault = readLedTarget(env, "CW_AGENT_LED_FAULT");
  if (status.kind !== "none" && fault.kind !== "none" && sameTarget(status, fault)) {
    throw new ConfigError(
      "CW_AGENT_LED_FAULT",
      env.CW_AGENT_LED_FAULT,
      "a different LED than CW_AGENT_LED_STATUS",
    );
  }
  return {
    leds: { status, fault },
    gpio: {
      base: readGpioBase(env),
      chipLabel: read.optionalString(env, "CW_AGENT_GPIO_CHIP"),
    },
    identifySeconds: read.integer(env, "CW_AGENT_LED_IDENTIFY_S", 30, 1, 3600, "seconds"),
    display: readDisplay(env),
  };
}

function readLedTarget(env: Env, variable: string): LedTarget {
  const value = read.optionalString(env, variable);
  const activeLow = read.boolean(env, `${variable}_ACTIVE_LOW`, false);
  if (value === undefined || value.toLowerCase() === "none") return { kind: "none" };
  const separator = value.indexOf(":");
  const kind = separator < 0 ? "" : value.slice(0, separator).toLowerCase();
  const rest = separator < 0 ? "" : value.slice(separator + 1);
  if (kind === "gpio" && /^\d{1,2}$/.test(rest) && Number(rest) <= 63) {
    return { kind: "gpio", line: Number(rest), activeLow };
  }
  if (kind === "led" && LED_NAME_PATTERN.test(rest) && rest !== "." && rest !== "..") {
    return { kind: "led-class", name: rest, activeLow };
  }
  throw new ConfigError(variable, value, LED_TARGET_RULE);
}

function sameTarget(a: LedTarget, b: LedTarget): boolean {
  if (a.kind === "gpio" && b.kind === "gpio") return a.line === b.line;
  if (a.kind === "led-class" && b.kind === "led-class") return a.name === b.name;
  return false;
}

function readGpioBase(env: Env): number | "auto" {
  const value = read.optionalString(env, "CW_AGENT_GPIO_BASE");
  if (value === undefined || value.toLowerCase() === "auto") return "auto";
  if (!/^\d{1,4}$/.test(value)) {
    throw new ConfigError(
      "CW_AGENT_GPIO_BASE",
      value,
      "auto or the sysfs base of the GPIO chip (e.g. 512 or 571)",
    );
  }
  return Number(value);
}

function readDisplay(env: Env): DisplayConfig {
  const model = read.oneOf(
    env,
    "CW_AGENT_DISPLAY_MODEL",
    ["none", "auto", "ssd1306", "sh1106", "hd44780", "virtual", "virtual-lcd"] as const,
    "none",
  );
  const address = readAddress(env, model);
  const rotationText = read.oneOf(env, "CW_AGENT_DISPLAY_ROTATION", ["0", "180"] as const, "0");
  const size = read.oneOf(env, "CW_AGENT_DISPLAY_LCD_SIZE", ["16x2", "20x4"] as const, "16x2");
  return {
    model,
    bus: read.integer(env, "CW_AGENT_DISPLAY_I2C_BUS", 1, 0, 255),
    address,
    rotation: rotationText === "180" ? 180 : 0,
    lcd: size === "20x4" ? { columns: 20, rows: 4 } : { columns: 16, rows: 2 },
    virtualStyle: read.oneOf(
      env,
      "CW_AGENT_DISPLAY_VIRTUAL_STYLE",
      ["auto", "blocks", "braille"] as const,
      "auto",
    ),
  };
}

function readAddress(env: Env, model: DisplayModel): number | "auto" {
  const variable = "CW_AGENT_DISPLAY_ADDRESS";
  const value = read.optionalString(env, variable);
  if (value === undefined || value.toLowerCase() === "auto") return "auto";
  const allowedAddresses =
    model === "ssd1306" || model === "sh1106"
      ? OLED_ADDRESSES
      : model === "hd44780"
        ? PCF8574_ADDRESSES
        : [...OLED_ADDRESSES, ...PCF8574_ADDRESSES];
  const rule =
    model === "ssd1306" || model === "sh1106"
      ? "auto, 0x3C or 0x3D"
      : model === "hd44780"
        ? "auto or a PCF8574 address 0x20-0x27 or 0x38-0x3F"
        : "auto, 0x3C/0x3D (OLED) or 0x20-0x27/0x38-0x3F (PCF8574 backpack)";
  const parsed = /^0x[0-9a-f]{1,2}$/i.test(value)
    ? Number.parseInt(value.slice(2), 16)
    : /^\d{1,3}$/.test(value)
      ? Number(value)
      : Number.NaN;
  if (!allowedAddresses.includes(parsed)) throw new ConfigError(variable, value, rule);
  return parsed;
}
