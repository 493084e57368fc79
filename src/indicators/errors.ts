export { errorCode, errorMessage } from "../util/errors.js";

/**
 * What a technician should do about a failed GPIO or LED sysfs access. The EINVAL case is the
 * common one on current Raspberry Pi OS kernels: the sysfs number is the BCM line plus the chip
 * base, and a wrong base makes the kernel reject the export.
 */
export function gpioHint(code: string | undefined): string {
  switch (code) {
    case "EINVAL":
      return "the kernel rejected the sysfs GPIO number; the GPIO base offset is probably wrong, set CW_AGENT_GPIO_BASE or CW_AGENT_GPIO_CHIP";
    case "EBUSY":
      return "the line is claimed by a kernel driver or another process (a dtoverlay such as gpio-led, 1-wire or a HAT driver)";
    case "EACCES":
    case "EPERM":
      return "permission denied: add the service user to the 'gpio' group (GPIO lines) or grant LED class attributes with a udev rule (see docs/indicators.md)";
    case "ENOENT":
      return "no such sysfs entry: the kernel lacks the GPIO sysfs interface or the LED name is wrong";
    case "MODULE_NOT_FOUND":
    case "ERR_MODULE_NOT_FOUND":
      return "the optional 'onoff' package is not installed or failed to build on this machine";
    default:
      return "check the wiring and the CW_AGENT_LED_* settings";
  }
}

/** What a technician should do about a display that cannot be opened or does not answer. */
export function i2cHint(code: string | undefined): string {
  switch (code) {
    case "ENOENT":
      return "the I2C bus device does not exist: enable I2C (dtparam=i2c_arm=on in /boot/firmware/config.txt) and reboot, or check CW_AGENT_DISPLAY_I2C_BUS";
    case "EACCES":
    case "EPERM":
      return "permission denied on /dev/i2c-*: add the service user to the 'i2c' group";
    case "ENXIO":
    case "EREMOTEIO":
    case "EIO":
    case "ETIMEDOUT":
      return "no device answered at that address: check wiring, power and CW_AGENT_DISPLAY_ADDRESS";
    case "EOPNOTSUPP":
      return "the I2C controller does not support the SMBus transfer the driver needs";
    case "MODULE_NOT_FOUND":
    case "ERR_MODULE_NOT_FOUND":
      return "the optional 'i2c-bus' package is not installed or failed to build on this machine";
    default:
      return "check the wiring and the CW_AGENT_DISPLAY_* settings";
  }
}
