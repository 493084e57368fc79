import { readFileSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { openDatabase, type SqliteDatabase } from "./sqlite.js";
import { makeOwnerOnly } from "./state-dir.js";

export const LOCK_FILE = "agent.lock";
export const PID_FILE = "agent.pid";

export class StateDirLockedError extends Error {
  constructor(
    readonly stateDir: string,
    readonly holderPid: number | undefined,
  ) {
    super(
      `state directory ${stateDir} is already in use by another cw-agent` +
        (holderPid === undefined ? "" : ` (pid ${holderPid})`) +
        "; give each agent its own CW_AGENT_STATE_DIR",
    );
    this.name = "StateDirLockedError";
  }
}

/**
 * Exclusive ownership of a state directory for the lifetime of the process.
 *
 * The lock is an SQLite database held in EXCLUSIVE locking mode: SQLite takes a POSIX advisory
 * lock that the kernel drops when the process dies, even on kill -9 or power loss, so a stale pid
 * file can never keep an agent from starting after a reboot (pids are reused quickly on a Pi).
 * The pid file next to it is only informative, for the error message of the second process.
 */
export class StateDirLock {
  private constructor(
    private readonly database: SqliteDatabase,
    private readonly pidFile: string,
    /** Why the informative pid file could not be written, if it could not: worth a warning only. */
    readonly pidFileError: string | undefined,
  ) {}

  static acquire(stateDir: string): StateDirLock {
    try {
      return StateDirLock.tryAcquire(stateDir);
    } catch (error) {
      // The lock file carries nothing worth keeping: if power loss left it damaged, start it anew.
      if (!isDamaged(error)) throw error;
      rmSync(join(stateDir, LOCK_FILE), { force: true });
      return StateDirLock.tryAcquire(stateDir);
    }
  }

  private static tryAcquire(stateDir: string): StateDirLock {
    const lockFile = join(stateDir, LOCK_FILE);
    makeOwnerOnly(lockFile);
    const database = openDatabase(lockFile, { timeout: 0 });
    try {
      // The first write takes the exclusive lock, which EXCLUSIVE mode then keeps until close.
      database.exec(
        `PRAGMA locking_mode = EXCLUSIVE; CREATE TABLE IF NOT EXISTS holder (pid INTEGER); DELETE FROM holder; INSERT INTO holder (pid) VALUES (${process.pid});`,
      );
    } catch (error) {
      database.close();
      if (isBusy(error)) throw new StateDirLockedError(stateDir, readPid(join(stateDir, PID_FILE)));
      throw error;
    }
    const pidFile = join(stateDir, PID_FILE);
    let pidFileError: string | undefined;
    try {
      makeOwnerOnly(pidFile);
      writeFileSync(pidFile, `${process.pid}\n`);
    } catch (error) {
      pidFileError = `${pidFile}: ${(error as NodeJS.ErrnoException).code ?? (error as Error).message}`;
    }
    return new StateDirLock(database, pidFile, pidFileError);
  }

  release(): void {
    if (this.pidFileError === undefined) rmSync(this.pidFile, { force: true });
    this.database.close();
  }
}

function isBusy(error: unknown): boolean {
  const code = (error as { code?: unknown }).code;
  return code === "SQLITE_BUSY" || code === "SQLITE_LOCKED";
}

function isDamaged(error: unknown): boolean {
  const code = (error as { code?: unknown }).code;
  return code === "SQLITE_NOTADB" || code === "SQLITE_CORRUPT";
}

function readPid(path: string): number | undefined {
  try {
    const pid = Number.parseInt(readFileSync(path, "utf8"), 10);
    return Number.isInteger(pid) && pid > 0 ? pid : undefined;
  } catch {
    return undefined;
  }
}
