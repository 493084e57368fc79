import { spawnSync } from "node:child_process";
import { existsSync, readFileSync, statSync } from "node:fs";
import { ESCAPE_PREFIX } from "../cli/argv.js";
import type { Output } from "../cli/output.js";
import { readEnvFile } from "../cli/sources.js";
import { loadConfig } from "../config/config.js";
import { EXIT_FAILURE, EXIT_OK } from "../exit-codes.js";
import { type ApplyBootConfigOptions, applyBootConfig } from "./apply.js";

const SERVICE_GROUP = "cw-agent";

/** journald reads a `<N>` prefix as the line's priority (sd-daemon(3)); the unit's output goes there. */
const PRIORITY = { info: 6, warning: 4, error: 3 } as const;

/**
 * `cw-agent apply-boot-config`: what cw-agent-boot-config.service runs as root before the agent.
 * Exit 0 when there was nothing to do or the file was applied, 1 when it was invalid (the unit then
 * shows as failed, and the agent starts with the previous configuration).
 */
export function applyBootConfigCommand(output: Output, overrides: ApplyBootConfigOptions = {}): number {
  const outcome = applyBootConfig({
    groupId: groupId(SERVICE_GROUP),
    resetCredentials: resetAsStateOwner,
    loadModule: (name) => {
      const result = spawnSync("modprobe", [name], { encoding: "utf8" });
      if (result.status !== 0)
        throw new Error((result.stderr || result.error?.message || "modprobe failed").trim());
    },
    log: (level, message) => (level === "info" ? output.out : output.err)(`<${PRIORITY[level]}>${message}`),
    ...overrides,
  });
  if (outcome.result === "absent") output.out(`<${PRIORITY.info}>no cw-agent.txt on the boot partition`);
  return outcome.result === "invalid" ? EXIT_FAILURE : EXIT_OK;
}

function groupId(name: string): number | undefined {
  try {
    const line = readFileSync("/etc/group", "utf8")
      .split("\n")
      .find((entry) => entry.startsWith(`${name}:`));
    const id = Number(line?.split(":")[2]);
    return Number.isInteger(id) ? id : undefined;
  } catch {
    return undefined;
  }
}

/**
 * RESET=yes runs `cw-agent reset --yes` as the owner of the state directory: the reset takes the
 * agent's lock and rewrites its database, and files created by root would lock the agent out.
 */
function resetAsStateOwner(envFile: string): void {
  const stateDir = loadConfig(readEnvFile(envFile)).stateDir;
  if (!existsSync(stateDir)) return;
  const { uid, gid } = statSync(stateDir);
  // The script that runs this command is the CLI, whether built into dist/ or bundled into one file.
  const cli = process.argv[1] ?? "/opt/cw-agent/dist/src/cli.js";
  // Escaped as the cw-agent launcher does: node would read a plain --env-file itself (bin/cw-agent).
  const envFileArgument = `${ESCAPE_PREFIX}--env-file=${envFile}`;
  const result = spawnSync(process.execPath, [cli, "reset", "--yes", envFileArgument], {
    uid,
    gid,
    encoding: "utf8",
    env: { PATH: process.env.PATH ?? "/usr/bin:/bin" },
  });
  if (result.status !== 0) {
    throw new Error(`cw-agent reset failed: ${(result.stderr || result.error?.message || "").trim()}`);
  }
}
