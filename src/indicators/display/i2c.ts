/**
 * The SMBus subset the display drivers use. Plain I2C writes (`i2cWrite`) are deliberately
 * absent: many gateway controllers and the kernel's i2c-stub reject them with EOPNOTSUPP.
 */
export interface I2cBus {
  /** SMBus "I2C block write": `command` then at most {@link I2C_BLOCK_MAX} bytes. */
  writeI2cBlock(address: number, command: number, data: Uint8Array): Promise<void>;
  /** SMBus "send byte". */
  sendByte(address: number, byte: number): Promise<void>;
  /** SMBus "receive byte" (probing the PCF8574, whose read returns its port pins). */
  receiveByte(address: number): Promise<number>;
  close(): Promise<void>;
}

/** I2C_SMBUS_BLOCK_MAX in linux/i2c.h. */
export const I2C_BLOCK_MAX = 32;

export type I2cOpener = (busNumber: number) => Promise<I2cBus>;

/** The real adapter over `i2c-bus`, an optional dependency loaded only when a display is configured. */
export const openI2cBus: I2cOpener = async (busNumber) => {
  const module = await import("i2c-bus");
  const openPromisified =
    module.openPromisified ?? (module as unknown as { default: typeof module }).default.openPromisified;
  const bus = await openPromisified(busNumber);
  return {
    async writeI2cBlock(address, command, data) {
      if (data.length > I2C_BLOCK_MAX)
        throw new RangeError(`I2C block of ${data.length} bytes exceeds ${I2C_BLOCK_MAX}`);
      await bus.writeI2cBlock(address, command, data.length, Buffer.from(data));
    },
    sendByte: (address, byte) => bus.sendByte(address, byte),
    receiveByte: (address) => bus.receiveByte(address),
    close: () => bus.close(),
  };
};
