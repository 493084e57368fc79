import { readFileSync } from "node:fs";
import { join } from "node:path";

/** /etc/cw-agent: where the boot configuration writes the environment file. */
export const BOOT_CONFIG_ETC_DIR = "/etc/cw-agent";
/**
 * The reasons the last cw-agent.txt was rejected, kept in /etc until a valid file is applied: the
 * agent reads them at start, because the boot unit has finished by then and the card may be
 * read-only or already back in the technician's laptop.
 */
export const REJECTED_BOOT_CONFIG_FILE = "boot-config.rejected";
/** What the display and status show: the name of the file the technician finds on the card. */
export const REJECTED_BOOT_CONFIG_NOTICE = "cw-agent.txt invalid";

/** The recorded reasons, or undefined when the last cw-agent.txt was applied (or there was none). */
export function readRejectedBootConfig(etcDir: string = BOOT_CONFIG_ETC_DIR): string[] | undefined {
  let text: string;
  try {
    text = readFileSync(join(etcDir, REJECTED_BOOT_CONFIG_FILE), "utf8");
  } catch {
    return undefined;
  }
  return text
    .split(/\r?\n/)
    .map((line) => line.trim())
    .filter((line) => line !== "");
}
