import type { DisplayConfig } from "../config.js";
import { OLED_ADDRESSES, PCF8574_ADDRESSES } from "../config.js";
import type { Timers } from "../timers.js";
import type { Display } from "./display.js";
import { Hd44780Display } from "./hd44780.js";
import type { I2cBus, I2cOpener } from "./i2c.js";
import { OledDisplay } from "./oled.js";
import { type Terminal, VirtualLcd, VirtualOled } from "./virtual.js";

export interface DisplayOpenOptions {
  readonly config: DisplayConfig;
  readonly openBus: I2cOpener;
  readonly timers: Timers;
  readonly terminal: Terminal;
}

/** No device acknowledged at any address tried; carries ENXIO like the kernel's own "no ACK". */
export class DisplayNotFoundError extends Error {
  readonly code = "ENXIO";
  constructor(bus: number, addresses: readonly number[]) {
    super(`no display answered on /dev/i2c-${bus} at ${addresses.map(hex).join(", ")}`);
    this.name = "DisplayNotFoundError";
  }
}

/** Opens the bus, finds the display and returns an uninitialised driver. Called again after every outage. */
export async function openDisplay(options: DisplayOpenOptions): Promise<Display> {
  const { config, openBus, timers, terminal } = options;
  if (config.model === "virtual") return new VirtualOled(terminal, config.virtualStyle);
  if (config.model === "virtual-lcd") return new VirtualLcd(terminal, config.lcd.columns, config.lcd.rows);
  if (config.model === "none") throw new Error("no display configured");

  const bus = await openBus(config.bus);
  try {
    const found = await locate(bus, config);
    if (found.kind === "lcd") {
      return new Hd44780Display(bus, found.address, config.lcd.columns, config.lcd.rows, timers);
    }
    const controller = config.model === "sh1106" ? "sh1106" : "ssd1306";
    return new OledDisplay(bus, found.address, controller, config.rotation);
  } catch (error) {
    await bus.close().catch(() => {});
    throw error;
  }
}

async function locate(
  bus: I2cBus,
  config: DisplayConfig,
): Promise<{ kind: "oled" | "lcd"; address: number }> {
  const oledCandidates = config.model === "hd44780" ? [] : OLED_ADDRESSES;
  const lcdCandidates = config.model === "ssd1306" || config.model === "sh1106" ? [] : PCF8574_ADDRESSES;
  if (config.address !== "auto") {
    // An explicit address is trusted, but probed so a missing display fails here and not mid-init.
    // With model auto, 0x3C/0x3D mean an OLED (PCF8574A backpacks there need model hd44780).
    const kind = oledCandidates.includes(config.address) ? "oled" : "lcd";
    if (await answers(bus, kind, config.address)) return { kind, address: config.address };
    throw new DisplayNotFoundError(config.bus, [config.address]);
  }
  for (const address of oledCandidates) {
    if (await answers(bus, "oled", address)) return { kind: "oled", address };
  }
  for (const address of lcdCandidates.filter((candidate) => !oledCandidates.includes(candidate))) {
    if (await answers(bus, "lcd", address)) return { kind: "lcd", address };
  }
  throw new DisplayNotFoundError(config.bus, [...oledCandidates, ...lcdCandidates]);
}

/**
 * Probes with transfers that change nothing: the OLED gets a NOP command (0xE3, SSD1306 Table
 * 9-1 and SH1106 alike), the PCF8574 a read of its port. Only "no ACK" errors mean absent.
 */
async function answers(bus: I2cBus, kind: "oled" | "lcd", address: number): Promise<boolean> {
  try {
    if (kind === "oled") await bus.writeI2cBlock(address, 0x00, Uint8Array.of(0xe3));
    else await bus.receiveByte(address);
    return true;
  } catch (error) {
    const code = (error as { code?: unknown }).code;
    if (code === "ENXIO" || code === "EREMOTEIO" || code === "EIO" || code === "ETIMEDOUT") return false;
    throw error;
  }
}

function hex(address: number): string {
  return `0x${address.toString(16).padStart(2, "0")}`;
}
