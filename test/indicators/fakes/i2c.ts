import type { I2cBus } from "../../../src/indicators/display/i2c.js";

/** One device on the fake bus: the SMBus transfers it understands. */
export interface I2cDevice {
  writeI2cBlock(command: number, data: Uint8Array): void;
  sendByte(byte: number): void;
  receiveByte(): number;
  /** Power cycle, as when a display is unplugged and plugged back in. */
  powerOn(): void;
}

export function errno(code: string): Error {
  return Object.assign(new Error(`${code}, I/O failed`), { code });
}

/**
 * An I2C adapter with devices at addresses. Absent addresses fail with ENXIO (no ACK), an
 * unplugged bus with a chosen errno; every transfer is asynchronous so overlapping writes from
 * two callers would be detected.
 */
export class FakeI2cAdapter {
  readonly devices = new Map<number, I2cDevice>();
  /** When set, every transfer fails with this errno. */
  unplugged: string | undefined;
  opens = 0;
  closes = 0;
  /** Transfers that started while another was still running. */
  overlaps = 0;
  transfers = 0;
  /** Bytes on the wire after the address byte: command/control byte plus data. */
  bytes = 0;
  private inFlight = 0;

  attach(address: number, device: I2cDevice): void {
    this.devices.set(address, device);
  }

  unplug(code: string): void {
    this.unplugged = code;
  }

  replug(): void {
    this.unplugged = undefined;
    for (const device of this.devices.values()) device.powerOn();
  }

  resetCounters(): void {
    this.transfers = 0;
    this.bytes = 0;
  }

  open = async (_busNumber: number): Promise<I2cBus> => {
    this.opens++;
    let closed = false;
    const transfer = async <T>(address: number, bytes: number, run: (device: I2cDevice) => T): Promise<T> => {
      if (closed) throw errno("EBADF");
      this.inFlight++;
      if (this.inFlight > 1) this.overlaps++;
      try {
        await Promise.resolve();
        if (this.unplugged !== undefined) throw errno(this.unplugged);
        const device = this.devices.get(address);
        if (device === undefined) throw errno("ENXIO");
        const result = run(device);
        this.transfers++;
        this.bytes += bytes;
        return result;
      } finally {
        this.inFlight--;
      }
    };
    return {
      writeI2cBlock: (address, command, data) => {
        if (data.length > 32) return Promise.reject(errno("EINVAL"));
        return transfer(address, 1 + data.length, (device) =>
          device.writeI2cBlock(command, Uint8Array.from(data)),
        );
      },
      sendByte: (address, byte) => transfer(address, 1, (device) => device.sendByte(byte)),
      receiveByte: (address) => transfer(address, 1, (device) => device.receiveByte()),
      close: async () => {
        closed = true;
        this.closes++;
      },
    };
  };
}
