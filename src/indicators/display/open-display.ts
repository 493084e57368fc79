import { errorCode } from "../../util/errors.js";
import type { DisplayConfig } from "../config.js";
import type { Timers } from "../timers.js";
import type { Display } from "./display.js";
import type { I2cBus, I2cOpener } from "./i2c.js";
import { type BusDevice, displayModel } from "./models.js";
import type { Terminal } from "./virtual.js";

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
  const model = displayModel(config.model);
  if (model.createVirtual !== undefined)
    return model.createVirtual(terminal, config.virtualStyle, config.lcd);
  if (model.kind !== "bus") throw new Error("no display configured");

  const bus = await openBus(config.bus);
  try {
    const { device, address } = await locate(bus, config, model.devices);
    return device.create({ bus, address, rotation: config.rotation, lcd: config.lcd, timers });
  } catch (error) {
    await bus.close().catch(() => {});
    throw error;
  }
}

/** The first device of the model that answers, at the configured address or at its usual ones. */
async function locate(
  bus: I2cBus,
  config: DisplayConfig,
  devices: readonly BusDevice[],
): Promise<{ device: BusDevice; address: number }> {
  if (config.address !== "auto") {
    // An explicit address is trusted, but probed so a missing display fails here and not mid-init.
    const explicit = config.address;
    const device = devices.find((candidate) => candidate.addresses.includes(explicit)) ?? devices.at(-1);
    if (device !== undefined && (await answers(bus, device, explicit))) return { device, address: explicit };
    throw new DisplayNotFoundError(config.bus, [explicit]);
  }
  const tried = new Set<number>();
  for (const device of devices) {
    for (const address of device.addresses) {
      // An address an earlier device already claimed (0x3C/0x3D: OLED before PCF8574A) is not retried.
      if (tried.has(address)) continue;
      tried.add(address);
      if (await answers(bus, device, address)) return { device, address };
    }
  }
  throw new DisplayNotFoundError(config.bus, [...tried]);
}

/** Only "no ACK" errors mean absent; anything else (permissions, a broken bus) is an error. */
async function answers(bus: I2cBus, device: BusDevice, address: number): Promise<boolean> {
  try {
    await device.probe(bus, address);
    return true;
  } catch (error) {
    const code = errorCode(error);
    if (code === "ENXIO" || code === "EREMOTEIO" || code === "EIO" || code === "ETIMEDOUT") return false;
    throw error;
  }
}

function hex(address: number): string {
  return `0x${address.toString(16).padStart(2, "0")}`;
}
