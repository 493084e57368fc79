import { mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, symlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";

/**
 * A fake procfs and sysfs of a Raspberry Pi 4 with an SD card, for the health readings, the birth
 * record and the ACT LED: each file as the kernel prints it. `storageFor` is a directory whose
 * file system the fake SD card "holds" (its st_dev is linked under /sys/dev/block).
 */
export interface FakeMachine {
  readonly root: string;
  readonly procfsRoot: string;
  readonly sysfsRoot: string;
  write(relative: string, content: string): void;
  read(relative: string): string;
  remove(): void;
}

export const FAKE_MODEL = "Raspberry Pi 4 Model B Rev 1.4";
export const FAKE_BTIME_S = 1_765_000_000;
/** Sectors written (field 7) of the fake mmcblk0/stat. */
export const FAKE_SECTORS_WRITTEN = 123_456;

export function fakeMachine(options: { storageFor?: string; underVoltage?: boolean } = {}): FakeMachine {
  const root = mkdtempSync(join(tmpdir(), "cw-agent-machine-"));
  const write = (relative: string, content: string) => {
    const path = join(root, relative);
    mkdirSync(dirname(path), { recursive: true });
    writeFileSync(path, content);
  };
  write("proc/uptime", "12345.67 40000.00\n");
  write("proc/loadavg", "0.52 0.40 0.31 2/345 6789\n");
  write(
    "proc/meminfo",
    "MemTotal:        3884328 kB\nMemFree:          512000 kB\nMemAvailable:    2999000 kB\nBuffers:           10000 kB\n",
  );
  write("proc/stat", `cpu  1 2 3 4\nintr 0\nctxt 10\nbtime ${FAKE_BTIME_S}\nprocesses 42\n`);
  write("proc/device-tree/model", `${FAKE_MODEL}\0`);
  write("sys/class/thermal/thermal_zone0/type", "cpu-thermal\n");
  write("sys/class/thermal/thermal_zone0/temp", "48250\n");
  write("sys/class/hwmon/hwmon0/name", "cpu_thermal\n");
  write("sys/class/hwmon/hwmon1/name", "rpi_volt\n");
  write("sys/class/hwmon/hwmon1/in0_lcrit_alarm", options.underVoltage ? "1\n" : "0\n");
  // 0x50005: under-voltage and throttled now (bits 0 and 2), both have occurred (bits 16 and 18).
  write("sys/devices/platform/soc/soc:firmware/get_throttled", options.underVoltage ? "50005\n" : "0\n");
  write("sys/class/leds/ACT/trigger", "none timer [mmc0] heartbeat\n");
  write("sys/class/leds/ACT/brightness", "0\n");
  write("sys/class/leds/ACT/max_brightness", "1\n");
  write("sys/class/leds/fault/trigger", "[none] timer\n");
  write("sys/class/leds/fault/brightness", "0\n");
  write("sys/class/leds/fault/max_brightness", "1\n");
  write(
    "sys/block/mmcblk0/stat",
    `    5000 100 400000 2000 3000 200 ${FAKE_SECTORS_WRITTEN} 9000 0 5000 11000\n`,
  );
  write("sys/block/mmcblk0/mmcblk0p2/partition", "2\n");
  write("sys/block/mmcblk0/mmcblk0p2/stat", "    1 1 1 1 1 1 1 1 0 1 1\n");
  if (options.storageFor !== undefined) {
    const dev = statSync(options.storageFor, { bigint: true }).dev;
    const major = ((dev >> 8n) & 0xfffn) | ((dev >> 32n) & 0xfffff000n);
    const minor = (dev & 0xffn) | ((dev >> 12n) & 0xffffff00n);
    mkdirSync(join(root, "sys/dev/block"), { recursive: true });
    symlinkSync("../../block/mmcblk0/mmcblk0p2", join(root, `sys/dev/block/${major}:${minor}`));
  }
  return {
    root,
    procfsRoot: join(root, "proc"),
    sysfsRoot: join(root, "sys"),
    write,
    read: (relative) => readFileSync(join(root, relative), "utf8").trim(),
    remove: () => rmSync(root, { recursive: true, force: true }),
  };
}
