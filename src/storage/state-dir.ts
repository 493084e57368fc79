import { accessSync, chmodSync, constants, mkdirSync, statSync } from "node:fs";

export class StateDirError extends Error {
  constructor(
    readonly stateDir: string,
    reason: string,
  ) {
    super(`state directory ${stateDir} (CW_AGENT_STATE_DIR) ${reason}`);
    this.name = "StateDirError";
  }
}

/**
 * Creates the state directory with mode 0700, or tightens an existing one: it holds the agent's
 * password, and only the service user may read it.
 */
export function prepareStateDir(stateDir: string): { tightened: boolean } {
  try {
    mkdirSync(stateDir, { recursive: true, mode: 0o700 });
    const stat = statSync(stateDir);
    if (!stat.isDirectory()) throw new StateDirError(stateDir, "is not a directory");
    accessSync(stateDir, constants.W_OK | constants.X_OK);
    if ((stat.mode & 0o077) !== 0) {
      chmodSync(stateDir, 0o700);
      return { tightened: true };
    }
    return { tightened: false };
  } catch (error) {
    if (error instanceof StateDirError) throw error;
    const code = (error as NodeJS.ErrnoException).code ?? "error";
    throw new StateDirError(
      stateDir,
      `cannot be created or written (${code}): check its owner and permissions`,
    );
  }
}
