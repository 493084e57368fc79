import { throwIfInvalid } from "../config/config.js";
import { ConfigError, type Env } from "../config/config-error.js";
import {
  boolean,
  integer,
  oneOf,
  optionalText,
  parseSettings,
  rawValue,
  type Setting,
  type SettingValues,
} from "../config/settings.js";
import { DISPLAY_MODELS, type DisplayModel, displayModel, modelAddresses } from "./display/models.js";

/** Where one LED role is connected. BCM line numbers, not sysfs numbers: the base offset is resolved at start. */
export type LedTarget =
  | { readonly kind: "none" }
  | { readonly kind: "gpio"; readonly line: number; readonly activeLow: boolean }
  | { readonly kind: "led-class"; readonly name: string; readonly activeLow: boolean };

export type { DisplayModel };
/** The longest identify an operator can ask for, from the CLI or the settings. */
export const MAX_IDENTIFY_SECONDS = 3600;

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

export { OLED_ADDRESSES, PCF8574_ADDRESSES } from "./display/models.js";

const LED_TARGET_RULE = "none, gpio:<BCM line 0-63> (e.g. gpio:17) or led:<name under /sys/class/leds>";
const LED_NAME_PATTERN = /^[A-Za-z0-9_.:+-]+$/;

/** The indicator settings, in the one settings table (see src/config/settings.ts). */
export const INDICATOR_SETTINGS = {
  CW_AGENT_LED_STATUS: ledSetting(
    "Status LED: none, gpio:<BCM line 0-63> (e.g. gpio:17) or led:<name under /sys/class/leds> (e.g. led:ACT).",
  ),
  CW_AGENT_LED_STATUS_ACTIVE_LOW: activeLowSetting(
    "true for a status LED wired to 3.3 V (lit when the line is low).",
  ),
  CW_AGENT_LED_FAULT: ledSetting("Fault LED, as the status LED; both must be different LEDs."),
  CW_AGENT_LED_FAULT_ACTIVE_LOW: activeLowSetting("true for a fault LED wired to 3.3 V."),
  CW_AGENT_LED_IDENTIFY_S: {
    group: "Indicators",
    help: "Seconds `cw-agent identify` blinks the status LED and shows IDENTIFY on the display.",
    defaultText: "30",
    readmeHidden: true,
    parse: integer(1, MAX_IDENTIFY_SECONDS, 30, "seconds"),
  },
  CW_AGENT_GPIO_BASE: {
    group: "Indicators",
    help: "sysfs GPIO numbering: auto, or the base of the chip carrying the BCM lines (e.g. 512 or 571).",
    defaultText: "auto",
    readmeHidden: true,
    parse: (value, _env, name) => parseGpioBase(name, value),
  },
  CW_AGENT_GPIO_CHIP: {
    group: "Indicators",
    help: "Label of the gpiochip to use when it is not one of the known Raspberry Pi GPIO controllers.",
    defaultText: "",
    readmeHidden: true,
    parse: optionalText,
  },
  CW_AGENT_DISPLAY_MODEL: {
    group: "Indicators",
    help:
      "Display: none, auto, ssd1306, sh1106 (128x64 OLED), hd44780 (character LCD with PCF8574 backpack); " +
      "virtual and virtual-lcd draw on a terminal, for development. On a Raspberry Pi, running install.sh " +
      "again after setting a display model enables I2C.",
    defaultText: "none",
    readmeHidden: true,
    parse: oneOf(DISPLAY_MODELS, "none"),
  },
  CW_AGENT_DISPLAY_I2C_BUS: {
    group: "Indicators",
    help: "I2C bus number N of /dev/i2c-N.",
    defaultText: "1",
    readmeHidden: true,
    parse: integer(0, 255, 1),
  },
  CW_AGENT_DISPLAY_ADDRESS: {
    group: "Indicators",
    help: "7-bit I2C address: auto, 0x3C/0x3D (OLED) or 0x20-0x27/0x38-0x3F (PCF8574).",
    defaultText: "auto",
    readmeHidden: true,
    parse: (value, env, name) => parseAddress(name, value, rawValue(env, "CW_AGENT_DISPLAY_MODEL")),
  },
  CW_AGENT_DISPLAY_ROTATION: {
    group: "Indicators",
    help: "OLED rotation: 0 or 180.",
    defaultText: "0",
    readmeHidden: true,
    parse: oneOf(["0", "180"] as const, "0"),
  },
  CW_AGENT_DISPLAY_LCD_SIZE: {
    group: "Indicators",
    help: "Character LCD size: 16x2 or 20x4.",
    defaultText: "16x2",
    readmeHidden: true,
    parse: oneOf(["16x2", "20x4"] as const, "16x2"),
  },
  CW_AGENT_DISPLAY_VIRTUAL_STYLE: {
    group: "Indicators",
    help: "Virtual display drawing style: auto, blocks or braille.",
    defaultText: "auto",
    readmeHidden: true,
    parse: oneOf(["auto", "blocks", "braille"] as const, "auto"),
  },
} satisfies Record<string, Setting<unknown>>;

export function loadIndicatorConfig(env: Env): IndicatorConfig {
  const { values, errors } = parseSettings(INDICATOR_SETTINGS, env);
  throwIfInvalid(errors);
  return indicatorConfigFrom(values);
}

/** Reports, beyond the single values, a status and a fault LED that are the same LED. */
export function indicatorConfigFrom(values: SettingValues<typeof INDICATOR_SETTINGS>): IndicatorConfig {
  const status = withPolarity(values.CW_AGENT_LED_STATUS, values.CW_AGENT_LED_STATUS_ACTIVE_LOW);
  const fault = withPolarity(values.CW_AGENT_LED_FAULT, values.CW_AGENT_LED_FAULT_ACTIVE_LOW);
  if (status.kind !== "none" && fault.kind !== "none" && sameTarget(status, fault)) {
    throw new ConfigError(
      "CW_AGENT_LED_FAULT",
      describeTarget(fault),
      "a different LED than CW_AGENT_LED_STATUS",
    );
  }
  const display = values.CW_AGENT_DISPLAY_MODEL;
  return {
    leds: { status, fault },
    gpio: { base: values.CW_AGENT_GPIO_BASE, chipLabel: values.CW_AGENT_GPIO_CHIP },
    identifySeconds: values.CW_AGENT_LED_IDENTIFY_S,
    display: {
      model: display,
      bus: values.CW_AGENT_DISPLAY_I2C_BUS,
      address: values.CW_AGENT_DISPLAY_ADDRESS,
      rotation: values.CW_AGENT_DISPLAY_ROTATION === "180" ? 180 : 0,
      lcd: values.CW_AGENT_DISPLAY_LCD_SIZE === "20x4" ? { columns: 20, rows: 4 } : { columns: 16, rows: 2 },
      virtualStyle: values.CW_AGENT_DISPLAY_VIRTUAL_STYLE,
    },
  };
}

function ledSetting(help: string): Setting<LedTarget> {
  return {
    group: "Indicators",
    help,
    defaultText: "none",
    readmeHidden: true,
    parse: (value, _env, name) => parseLedTarget(name, value),
  };
}

function activeLowSetting(help: string): Setting<boolean> {
  return { group: "Indicators", help, defaultText: "false", readmeHidden: true, parse: boolean(false) };
}

function parseLedTarget(variable: string, value: string | undefined): LedTarget {
  if (value === undefined || value.toLowerCase() === "none") return { kind: "none" };
  const separator = value.indexOf(":");
  const kind = separator < 0 ? "" : value.slice(0, separator).toLowerCase();
  const rest = separator < 0 ? "" : value.slice(separator + 1);
  if (kind === "gpio" && /^\d{1,2}$/.test(rest) && Number(rest) <= 63) {
    return { kind: "gpio", line: Number(rest), activeLow: false };
  }
  if (kind === "led" && LED_NAME_PATTERN.test(rest) && rest !== "." && rest !== "..") {
    return { kind: "led-class", name: rest, activeLow: false };
  }
  throw new ConfigError(variable, value, LED_TARGET_RULE);
}

function withPolarity(target: LedTarget, activeLow: boolean): LedTarget {
  return target.kind === "none" ? target : { ...target, activeLow };
}

function describeTarget(target: LedTarget): string {
  return target.kind === "gpio"
    ? `gpio:${target.line}`
    : target.kind === "led-class"
      ? `led:${target.name}`
      : "none";
}

function sameTarget(a: LedTarget, b: LedTarget): boolean {
  if (a.kind === "gpio" && b.kind === "gpio") return a.line === b.line;
  if (a.kind === "led-class" && b.kind === "led-class") return a.name === b.name;
  return false;
}

function parseGpioBase(variable: string, value: string | undefined): number | "auto" {
  if (value === undefined || value.toLowerCase() === "auto") return "auto";
  if (!/^\d{1,4}$/.test(value)) {
    throw new ConfigError(variable, value, "auto or the sysfs base of the GPIO chip (e.g. 512 or 571)");
  }
  return Number(value);
}

function parseAddress(
  variable: string,
  value: string | undefined,
  modelText: string | undefined,
): number | "auto" {
  if (value === undefined || value.toLowerCase() === "auto") return "auto";
  // An unknown model is reported under its own variable; the address is then judged as for auto.
  const named = modelText?.toLowerCase();
  const model = DISPLAY_MODELS.find((candidate) => candidate === named) ?? "auto";
  const allowedAddresses = modelAddresses(model);
  const rule = displayModel(model).addressRule;
  const parsed = /^0x[0-9a-f]{1,2}$/i.test(value)
    ? Number.parseInt(value.slice(2), 16)
    : /^\d{1,3}$/.test(value)
      ? Number(value)
      : Number.NaN;
  if (!allowedAddresses.includes(parsed)) throw new ConfigError(variable, value, rule);
  return parsed;
}
