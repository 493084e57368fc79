import type { Timers } from "../timers.js";
import type { Display } from "./display.js";
import { Hd44780Display } from "./hd44780.js";
import type { I2cBus } from "./i2c.js";
import { OledDisplay } from "./oled.js";
import { type Terminal, VirtualLcd, VirtualOled } from "./virtual.js";

export const OLED_ADDRESSES: readonly number[] = [0x3c, 0x3d];
/** PCF8574 (0x20–0x27) and PCF8574A (0x38–0x3F) backpacks, most common first. */
export const PCF8574_ADDRESSES: readonly number[] = [
  0x27, 0x3f, 0x20, 0x21, 0x22, 0x23, 0x24, 0x25, 0x26, 0x38, 0x39, 0x3a, 0x3b, 0x3e, 0x3c, 0x3d,
];

const ANY_ADDRESS_RULE = "auto, 0x3C/0x3D (OLED) or 0x20-0x27/0x38-0x3F (PCF8574 backpack)";

/** What a driver needs to be built once its device answered. */
export interface DriverContext {
  readonly bus: I2cBus;
  readonly address: number;
  readonly rotation: 0 | 180;
  readonly lcd: { readonly columns: 16 | 20; readonly rows: 2 | 4 };
  readonly timers: Timers;
}

/** How a controller family is found on the bus and driven. */
export interface BusDevice {
  readonly family: "oled" | "lcd";
  /** Addresses probed with model auto or this model, most likely first. */
  readonly addresses: readonly number[];
  /**
   * A transfer that changes nothing and is acknowledged only when the device is there: the OLED
   * gets a NOP command (0xE3, SSD1306 Table 9-1 and SH1106 alike), the PCF8574 a read of its port.
   */
  probe(bus: I2cBus, address: number): Promise<void>;
  create(context: DriverContext): Display;
}

const OLED_PROBE = (bus: I2cBus, address: number) => bus.writeI2cBlock(address, 0x00, Uint8Array.of(0xe3));
const LCD_PROBE = async (bus: I2cBus, address: number) => {
  await bus.receiveByte(address);
};

const SSD1306: BusDevice = {
  family: "oled",
  addresses: OLED_ADDRESSES,
  probe: OLED_PROBE,
  create: ({ bus, address, rotation }) => new OledDisplay(bus, address, "ssd1306", rotation),
};
const SH1106: BusDevice = {
  family: "oled",
  addresses: OLED_ADDRESSES,
  probe: OLED_PROBE,
  create: ({ bus, address, rotation }) => new OledDisplay(bus, address, "sh1106", rotation),
};
const HD44780: BusDevice = {
  family: "lcd",
  addresses: PCF8574_ADDRESSES,
  probe: LCD_PROBE,
  create: ({ bus, address, lcd, timers }) => new Hd44780Display(bus, address, lcd.columns, lcd.rows, timers),
};

/**
 * One row per display model: what `CW_AGENT_DISPLAY_MODEL` accepts, which addresses
 * `CW_AGENT_DISPLAY_ADDRESS` may name, how the device is found and built. Read by the settings,
 * `open-display.ts`, the indicators' description and `cw-agent check`. A new driver is its own
 * file plus one row here.
 */
export const DISPLAY_MODEL_TABLE = {
  none: { kind: "none", addressRule: ANY_ADDRESS_RULE, devices: [] },
  auto: {
    kind: "bus",
    addressRule: ANY_ADDRESS_RULE,
    // With model auto, 0x3C/0x3D mean an OLED (PCF8574A backpacks there need model hd44780).
    devices: [SSD1306, HD44780],
  },
  ssd1306: { kind: "bus", addressRule: "auto, 0x3C or 0x3D", devices: [SSD1306] },
  sh1106: { kind: "bus", addressRule: "auto, 0x3C or 0x3D", devices: [SH1106] },
  hd44780: {
    kind: "bus",
    addressRule: "auto or a PCF8574 address 0x20-0x27 or 0x38-0x3F",
    devices: [HD44780],
  },
  virtual: {
    kind: "virtual",
    addressRule: ANY_ADDRESS_RULE,
    devices: [],
    createVirtual: (terminal: Terminal, style: "auto" | "blocks" | "braille") =>
      new VirtualOled(terminal, style),
  },
  "virtual-lcd": {
    kind: "virtual",
    addressRule: ANY_ADDRESS_RULE,
    devices: [],
    createVirtual: (terminal: Terminal, _style: "auto" | "blocks" | "braille", lcd: DriverContext["lcd"]) =>
      new VirtualLcd(terminal, lcd.columns, lcd.rows),
  },
} as const satisfies Record<string, DisplayModelRow>;

export interface DisplayModelRow {
  /** none: no display; bus: a device on /dev/i2c-N; virtual: drawn on a terminal. */
  readonly kind: "none" | "bus" | "virtual";
  /** The allowed values of CW_AGENT_DISPLAY_ADDRESS, as an error message says them. */
  readonly addressRule: string;
  /** Bus devices tried, in order. */
  readonly devices: readonly BusDevice[];
  createVirtual?(
    terminal: Terminal,
    style: "auto" | "blocks" | "braille",
    lcd: DriverContext["lcd"],
  ): Display;
}

export type DisplayModel = keyof typeof DISPLAY_MODEL_TABLE;
export const DISPLAY_MODELS = Object.keys(DISPLAY_MODEL_TABLE) as DisplayModel[];

export function displayModel(model: DisplayModel): DisplayModelRow {
  return DISPLAY_MODEL_TABLE[model];
}

/** Every address some device of the model may have. */
export function modelAddresses(model: DisplayModel): number[] {
  const row = displayModel(model);
  if (row.kind !== "bus") return [...OLED_ADDRESSES, ...PCF8574_ADDRESSES];
  return [...new Set(row.devices.flatMap((device) => device.addresses))];
}
