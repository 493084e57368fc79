import { spawn } from "node:child_process";
import { chmodSync, mkdtempSync, readdirSync, readFileSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import {
  CredentialStore,
  DATABASE_FILE,
  DatabaseFromNewerVersionError,
} from "../../src/storage/credential-store.js";
import { pairingIdOf } from "../../src/storage/pairing-id.js";
import { openDatabase, prepare } from "../../src/storage/sqlite.js";
import { prepareStateDir } from "../../src/storage/state-dir.js";
import { StateDirLock, StateDirLockedError } from "../../src/storage/state-dir-lock.js";

const cleanups: (() => void)[] = [];
afterEach(() => {
  for (const cleanup of cleanups.splice(0)) cleanup();
});

function stateDir(): string {
  const dir = join(mkdtempSync(join(tmpdir(), "cw-agent-store-")), "state");
  prepareStateDir(dir);
  return dir;
}

function open(dir: string, onCorrupt?: (d: { movedTo: string; reason: string }) => void): CredentialStore {
  const store = CredentialStore.open(dir, onCorrupt ? { onCorrupt } : {});
  cleanups.push(() => store.close());
  return store;
}

describe("CredentialStore", () => {
  it("creates a private directory and database and keeps credentials across reopen", () => {
    const dir = stateDir();
    const store = open(dir);
    expect(store.load()).toBeUndefined();
    const saved = store.saveNew("gw-1", "s3cret-password");
    expect(saved.pairingId).toBe(pairingIdOf("gw-1", "s3cret-password"));
    store.close();

    expect(statSync(dir).mode & 0o777).toBe(0o700);
    for (const file of readdirSync(dir).filter((name) => name.startsWith(DATABASE_FILE))) {
      expect(statSync(join(dir, file)).mode & 0o777, file).toBe(0o600);
    }
    const reopened = open(dir);
    expect(reopened.load()).toMatchObject({
      username: "gw-1",
      status: "pending",
      pairingId: saved.pairingId,
    });
    reopened.markGranted();
    expect(reopened.load()?.status).toBe("granted");
    reopened.discard();
    expect(reopened.load()).toBeUndefined();
  });

  it("tightens a state directory that others could read", () => {
    const dir = stateDir();
    chmodSync(dir, 0o755);
    expect(prepareStateDir(dir).tightened).toBe(true);
    expect(statSync(dir).mode & 0o777).toBe(0o700);
  });

  it("records the last status for a stopped agent's CLI", () => {
    const store = open(stateDir());
    store.status.record({ state: "pending", since: 5, pairingId: "abc123" });
    expect(store.status.last()).toMatchObject({
      state: "pending",
      since: 5,
      pairingId: "abc123",
      pid: process.pid,
    });
    expect(store.integrityCheck()).toBe("ok");
    // The status row skips its own fsync; the credentials written after it must not.
    const connection = (
      store as unknown as { database: { pragma(sql: string, options: { simple: true }): unknown } }
    ).database;
    expect(connection.pragma("synchronous", { simple: true })).toBe(2);
  });

  it.each([
    ["a text file", (path: string) => writeFileSync(path, "this is not a database\n".repeat(100))],
    [
      "an SQLite header followed by garbage",
      (path: string) =>
        writeFileSync(path, Buffer.concat([Buffer.from("SQLite format 3\0"), Buffer.alloc(8192, 0xab)])),
    ],
    [
      "a database overwritten after its first page",
      (path: string) => {
        const db = openDatabase(path);
        db.exec("CREATE TABLE filler (x TEXT)");
        const insert = prepare(db, "INSERT INTO filler VALUES (?)");
        db.transaction(() => {
          for (let i = 0; i < 2000; i++) insert.run("x".repeat(200));
        })();
        db.close();
        const bytes = readFileSync(path);
        writeFileSync(
          path,
          Buffer.concat([bytes.subarray(0, 4096), Buffer.alloc(bytes.length - 4096, 0x5a)]),
        );
      },
    ],
  ])("moves %s aside and starts empty", (_label, damage) => {
    const dir = stateDir();
    damage(join(dir, DATABASE_FILE));
    const corrupt: { movedTo: string; reason: string }[] = [];
    const store = open(dir, (details) => corrupt.push(details));
    expect(corrupt).toHaveLength(1);
    expect(corrupt[0]?.movedTo).toMatch(/cw-agent\.db\.corrupt-\d{8}T\d{6}Z$/);
    expect(readdirSync(dir)).toContain(corrupt[0]?.movedTo.split("/").pop());
    expect(store.load()).toBeUndefined();
    expect(store.integrityCheck()).toBe("ok");
  });

  it("refuses a database written by a newer version instead of overwriting it", () => {
    const dir = stateDir();
    const db = openDatabase(join(dir, DATABASE_FILE));
    db.exec("PRAGMA user_version = 99");
    db.close();
    expect(() => CredentialStore.open(dir)).toThrow(DatabaseFromNewerVersionError);
  });
});

describe("StateDirLock", () => {
  const lockScript = (dir: string) => `
    import { StateDirLock } from ${JSON.stringify(new URL("../../dist/src/storage/state-dir-lock.js", import.meta.url).pathname)};
    StateDirLock.acquire(${JSON.stringify(dir)});
    process.stdout.write("locked\\n");
    setInterval(() => {}, 1000);
  `;

  function holdLockInChild(dir: string) {
    const child = spawn(process.execPath, ["--input-type=module", "-e", lockScript(dir)], {
      stdio: ["ignore", "pipe", "inherit"],
    });
    cleanups.push(() => child.kill("SIGKILL"));
    return new Promise<typeof child>((resolve, reject) => {
      child.stdout.once("data", () => resolve(child));
      child.once("exit", (code) => reject(new Error(`lock holder exited with ${code}`)));
    });
  }

  it("refuses a second holder and names its pid; a kill -9 releases the lock", async () => {
    const dir = stateDir();
    const holder = await holdLockInChild(dir);
    let refused: unknown;
    try {
      StateDirLock.acquire(dir);
    } catch (error) {
      refused = error;
    }
    expect(refused).toBeInstanceOf(StateDirLockedError);
    expect((refused as StateDirLockedError).holderPid).toBe(holder.pid);
    expect((refused as Error).message).toContain(`pid ${holder.pid}`);

    const exited = new Promise((resolve) => holder.once("exit", resolve));
    holder.kill("SIGKILL");
    await exited;
    const lock = StateDirLock.acquire(dir);
    lock.release();
  });

  it("lets different state directories be locked side by side", () => {
    const a = StateDirLock.acquire(stateDir());
    const b = StateDirLock.acquire(stateDir());
    a.release();
    b.release();
  });

  it("recreates a damaged lock file", () => {
    const dir = stateDir();
    writeFileSync(join(dir, "agent.lock"), "garbage".repeat(1000));
    StateDirLock.acquire(dir).release();
  });
});

describe("pairing ID", () => {
  it("is the contract's derivation, as the simulator computes it independently", async () => {
    const { expectedPairingId } = await import("../../scripts/connectware-sim/pairing-id.js");
    for (const [username, password] of [
      ["gw-1", "secret"],
      ["press-line-4", "Abcdefghijklmnopqrstuvwxyz012345"],
    ] as const) {
      expect(pairingIdOf(username, password)).toBe(expectedPairingId(username, password));
      expect(pairingIdOf(username, password)).toMatch(/^[0-9a-f]{6}$/);
    }
    expect(pairingIdOf("a82123", "x")).not.toBe(pairingIdOf("a82123", "y"));
  });
});
