import {
  accessSync,
  chmodSync,
  closeSync,
  constants,
  mkdirSync,
  openSync,
  readFileSync,
  statSync,
} from "node:fs";

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
 * The state directory belongs to another user than the one this process runs as. Files created now
 * (the lock, the database, the pid file) would belong to this user, and the service user could no
 * longer write them: every later start as the service would fail ("attempt to write a readonly
 * database") and be restarted for ever.
 */
export class StateDirNotOwnedError extends StateDirError {
  constructor(
    stateDir: string,
    readonly owner: string,
    readonly runningAs: string,
  ) {
    super(
      stateDir,
      `belongs to ${owner}, but this process runs as ${runningAs}: files created now would lock the service out of its own directory. ` +
        `Run it as its owner (sudo -u ${owner.replace(/ \(uid \d+\)$/, "")} cw-agent ...) or use systemctl start cw-agent`,
    );
    this.name = "StateDirNotOwnedError";
  }
}

/** "name (uid N)" from /etc/passwd, or "uid N" when the user has no entry there. */
export function describeUser(uid: number): string {
  try {
    for (const line of readFileSync("/etc/passwd", "utf8").split("\n")) {
      const [name, , id] = line.split(":");
      if (name && id === String(uid)) return `${name} (uid ${uid})`;
    }
  } catch {
    // no passwd file (a minimal container): the number alone still tells the operator
  }
  return `uid ${uid}`;
}

/** Refuses a state directory that another user owns (see StateDirNotOwnedError). */
export function assertOwnedByThisUser(stateDir: string): void {
  const uid = process.geteuid?.();
  if (uid === undefined) return;
  const owner = statSync(stateDir).uid;
  if (owner !== uid) throw new StateDirNotOwnedError(stateDir, describeUser(owner), describeUser(uid));
}

/**
 * Creates `path` owner-only if it does not exist and tightens it if it does, whatever the umask:
 * SQLite gives a database's journal, -wal and -shm files the mode of the database file, so this
 * covers those too.
 */
export function makeOwnerOnly(path: string): void {
  closeSync(openSync(path, "a", 0o600));
  if ((statSync(path).mode & 0o077) !== 0) chmodSync(path, 0o600);
}

/**
 * Creates the state directory with mode 0700, or tightens an existing one: it holds the agent's
 * password, and only the service user may read it. Refuses a directory another user owns.
 */
export function prepareStateDir(stateDir: string): { tightened: boolean } {
  try {
    mkdirSync(stateDir, { recursive: true, mode: 0o700 });
    const stat = statSync(stateDir);
    if (!stat.isDirectory()) throw new StateDirError(stateDir, "is not a directory");
    assertOwnedByThisUser(stateDir);
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
