import { readdir, readFile, realpath, stat, statfs } from "node:fs/promises";
import { basename, dirname, join } from "node:path";

/**
 * Facts about the machine for the health message and the birth record, read from procfs and
 * sysfs under configurable roots (tests point them at fake trees). Every reading is optional: a
 * file that is missing or unreadable here means the fact is left out, never an error. Nothing
 * here writes anything.
 */
export interface MachineRoots {
  readonly procfsRoot: string;
  readonly sysfsRoot: string;
}

export interface MemoryFacts {
  readonly totalBytes: number;
  readonly availableBytes: number;
}

export interface DiskFacts {
  /** The directory whose file system was measured: the agent's state directory. */
  readonly path: string;
  readonly totalBytes: number;
  /** What an unprivileged writer may still use (f_bavail), as `df` shows it. */
  readonly freeBytes: number;
}

export interface StorageWrites {
  /** The block device holding the state directory: the whole disk, e.g. mmcblk0, not the partition. */
  readonly device: string;
  /** Sectors written since boot (field 7 of /sys/block/<dev>/stat) times 512, the kernel's sector unit. */
  readonly bytesWrittenSinceBoot: number;
}

/** A reading, or undefined when this machine does not offer it. */
async function optional<T>(read: () => Promise<T | undefined>): Promise<T | undefined> {
  try {
    return await read();
  } catch {
    return undefined;
  }
}

function finite(value: number): number | undefined {
  return Number.isFinite(value) ? value : undefined;
}

/** Seconds since boot, from /proc/uptime. */
export function readUptimeSeconds(roots: MachineRoots): Promise<number | undefined> {
  return optional(async () => {
    const text = await readFile(join(roots.procfsRoot, "uptime"), "utf8");
    return finite(Number.parseFloat(text.split(/\s+/)[0] ?? ""));
  });
}

/** The 1, 5 and 15 minute load averages, from /proc/loadavg. */
export function readLoad(roots: MachineRoots): Promise<[number, number, number] | undefined> {
  return optional(async () => {
    const fields = (await readFile(join(roots.procfsRoot, "loadavg"), "utf8")).trim().split(/\s+/);
    const values = fields.slice(0, 3).map((field) => Number.parseFloat(field));
    if (values.length !== 3 || values.some((value) => !Number.isFinite(value))) return undefined;
    return values as [number, number, number];
  });
}

/** MemTotal and MemAvailable of /proc/meminfo (kB there). */
export function readMemory(roots: MachineRoots): Promise<MemoryFacts | undefined> {
  return optional(async () => {
    const text = await readFile(join(roots.procfsRoot, "meminfo"), "utf8");
    const kilobytes = (key: string) => {
      const match = new RegExp(`^${key}:\\s+(\\d+)\\s*kB`, "m").exec(text);
      return match?.[1] === undefined ? undefined : Number(match[1]) * 1024;
    };
    const totalBytes = kilobytes("MemTotal");
    const availableBytes = kilobytes("MemAvailable");
    if (totalBytes === undefined || availableBytes === undefined) return undefined;
    return { totalBytes, availableBytes };
  });
}

/** Epoch ms of the boot, from the `btime` line of /proc/stat. */
export function readBootTime(roots: MachineRoots): Promise<number | undefined> {
  return optional(async () => {
    const text = await readFile(join(roots.procfsRoot, "stat"), "utf8");
    const match = /^btime\s+(\d+)$/m.exec(text);
    return match?.[1] === undefined ? undefined : Number(match[1]) * 1000;
  });
}

/** "Raspberry Pi 4 Model B Rev 1.4" from the device tree (NUL-terminated there); absent elsewhere. */
export function readBoardModel(roots: MachineRoots): Promise<string | undefined> {
  return optional(async () => {
    const text = await readFile(join(roots.procfsRoot, "device-tree", "model"), "utf8");
    const model = text.replace(/\0/g, "").trim();
    return model === "" ? undefined : model;
  });
}

/** Size and free space of the file system holding `path` (statfs). */
export function readDisk(path: string): Promise<DiskFacts | undefined> {
  return optional(async () => {
    const facts = await statfs(path);
    return {
      path,
      totalBytes: facts.blocks * facts.bsize,
      freeBytes: facts.bavail * facts.bsize,
    };
  });
}

/**
 * The CPU temperature in °C: the thermal zone whose type names the CPU (`cpu-thermal` on a
 * Raspberry Pi, `x86_pkg_temp` on a PC), else the first zone that reads. `temp` is millidegrees.
 */
export function readCpuTemperature(roots: MachineRoots): Promise<number | undefined> {
  return optional(async () => {
    const base = join(roots.sysfsRoot, "class", "thermal");
    const zones = (await readdir(base)).filter((entry) => entry.startsWith("thermal_zone")).sort();
    const readings: { type: string; celsius: number }[] = [];
    for (const zone of zones) {
      const celsius = await optional(async () => {
        const milli = Number.parseInt(await readFile(join(base, zone, "temp"), "utf8"), 10);
        return Number.isFinite(milli) ? milli / 1000 : undefined;
      });
      if (celsius === undefined) continue;
      const type = (await optional(() => readFile(join(base, zone, "type"), "utf8")))?.trim() ?? "";
      readings.push({ type, celsius });
    }
    const cpu = readings.find((reading) => /cpu|x86_pkg|soc/i.test(reading.type));
    return (cpu ?? readings[0])?.celsius;
  });
}

/**
 * Bytes written since boot to the disk that holds `path`, a wear indicator for SD cards. The
 * device is found from the path's st_dev through /sys/dev/block/MAJOR:MINOR; a partition counts
 * its whole disk (its parent directory in sysfs), whose `stat` sums all partitions.
 */
export function readStorageWrites(roots: MachineRoots, path: string): Promise<StorageWrites | undefined> {
  return optional(async () => {
    const { dev } = await stat(path, { bigint: true });
    // st_dev as glibc's gnu_dev_major/gnu_dev_minor decode it.
    const major = ((dev >> 8n) & 0xfffn) | ((dev >> 32n) & 0xfffff000n);
    const minor = (dev & 0xffn) | ((dev >> 12n) & 0xffffff00n);
    let device = await realpath(join(roots.sysfsRoot, "dev", "block", `${major}:${minor}`));
    const isPartition = await optional(async () => (await stat(join(device, "partition"))).isFile());
    if (isPartition === true) device = dirname(device);
    const fields = (await readFile(join(device, "stat"), "utf8")).trim().split(/\s+/);
    const sectorsWritten = Number(fields[6]);
    if (fields.length < 7 || !Number.isSafeInteger(sectorsWritten)) return undefined;
    return { device: basename(device), bytesWrittenSinceBoot: sectorsWritten * 512 };
  });
}
