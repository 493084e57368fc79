import {
  closeSync,
  existsSync,
  fsyncSync,
  mkdirSync,
  openSync,
  readSync,
  renameSync,
  statSync,
} from "node:fs";
import { join } from "node:path";
import { publicKeyDer } from "../tls/device-key.js";
import { errorMessage } from "../util/errors.js";
import { pairingIdOf, pairingIdOfKey } from "./pairing-id.js";
import { openDatabase, prepare, type SqliteDatabase, type SqliteStatement } from "./sqlite.js";
import { makeOwnerOnly } from "./state-dir.js";
import { StatusRecord } from "./status-record.js";

export const DATABASE_FILE = "cw-agent.db";
const SCHEMA_VERSION = 2;
const SQLITE_MAGIC = "SQLite format 3\0";

export interface StoredCredentials {
  readonly username: string;
  readonly password: string;
  readonly pairingId: string;
  /** "pending" until the registry answered 201 for exactly these credentials. */
  readonly status: "pending" | "granted";
  readonly createdAt: number;
  readonly grantedAt: number | undefined;
  /** Present with mutual TLS: the device key, its CSR and, once granted, the signed certificate. */
  readonly tls?: StoredTls | undefined;
}

export interface StoredTls {
  /** PKCS#8 PEM. Never logged, printed or sent anywhere. */
  readonly privateKey: string;
  readonly csr: string;
  /** The signed client certificate (PEM), once the registry granted the request. */
  readonly certificate: string | undefined;
  /** CA certificates the registry sent along (PEM), if any. */
  readonly chain: string | undefined;
}

export type { RecordedStatus } from "./status-record.js";

export class DatabaseFromNewerVersionError extends Error {
  constructor(
    readonly path: string,
    readonly version: number,
  ) {
    super(
      `${path} has schema version ${version}, newer than this cw-agent understands (${SCHEMA_VERSION}); ` +
        "install the newer cw-agent again, or move the file away to register anew",
    );
    this.name = "DatabaseFromNewerVersionError";
  }
}

export interface OpenOptions {
  /** Told about a damaged database that was moved aside (the caller logs it as an error). */
  onCorrupt?: (details: { path: string; movedTo: string; reason: string }) => void;
  now?: () => number;
}

/**
 * Credentials (and, through `status`, the last known status), in one SQLite file on persistent flash.
 * WAL with synchronous=FULL: a committed write survives power loss, and every write that matters is
 * one transaction, so a crash leaves either the old or the new credentials, never a mix.
 */
export class CredentialStore {
  private readonly statements: {
    load: SqliteStatement;
    saveNew: SqliteStatement;
    markGranted: SqliteStatement;
    discard: SqliteStatement;
    integrityCheck: SqliteStatement;
  };

  /** The last lifecycle status, kept in the same file (one file to lock, back up and move aside). */
  readonly status: StatusRecord;

  private constructor(
    private readonly database: SqliteDatabase,
    readonly path: string,
    private readonly now: () => number,
    /** A v1 file seen read-only (the agent that migrates it has not run since the upgrade). */
    v1 = false,
  ) {
    this.status = new StatusRecord(database, now);
    const tlsColumns = v1
      ? "NULL AS private_key, NULL AS csr, NULL AS certificate, NULL AS chain"
      : "private_key, csr, certificate, chain";
    // Prepared once for the life of the store (see sqlite.ts for why nothing may become garbage).
    this.statements = {
      load: prepare(
        database,
        `SELECT username, password, status, created_at, granted_at, ${tlsColumns} FROM credentials WHERE id = 1`,
      ),
      saveNew: prepare(
        database,
        v1
          ? "SELECT ?, ?, ?, ?, ?"
          : "INSERT OR REPLACE INTO credentials (id, username, password, status, created_at, granted_at, private_key, csr, certificate, chain) VALUES (1, ?, ?, 'pending', ?, NULL, ?, ?, NULL, NULL)",
      ),
      markGranted: prepare(
        database,
        v1
          ? "SELECT ?, ?, ?"
          : "UPDATE credentials SET status = 'granted', granted_at = ?, certificate = ?, chain = ? WHERE id = 1",
      ),
      discard: prepare(database, "DELETE FROM credentials WHERE id = 1"),
      integrityCheck: prepare(database, "PRAGMA integrity_check").pluck(),
    };
  }

  /** Opens (creating if needed) the database in a state directory the caller has locked. */
  static open(stateDir: string, options: OpenOptions = {}): CredentialStore {
    const now = options.now ?? Date.now;
    const path = join(stateDir, DATABASE_FILE);
    const damage = existsSync(path) ? diagnose(path) : undefined;
    if (damage !== undefined) {
      const movedTo = moveAside(path, now());
      options.onCorrupt?.({ path, movedTo, reason: damage });
    }
    if (!existsSync(path)) createPrivateFile(path, stateDir);
    makeOwnerOnly(path);

    const database = openDatabase(path, { timeout: 2_000 });
    try {
      database.exec("PRAGMA journal_mode = WAL; PRAGMA synchronous = FULL;");
      migrate(database, path);
    } catch (error) {
      database.close();
      throw error;
    }
    return new CredentialStore(database, path, now);
  }

  /**
   * Read-only view for the CLI while the agent may be running; undefined when there is no database
   * yet (or only an empty one the agent has not set up).
   */
  static openReadOnly(stateDir: string): CredentialStore | undefined {
    const path = join(stateDir, DATABASE_FILE);
    if (!existsSync(path)) return undefined;
    const database = openDatabase(path, { readonly: true, fileMustExist: true, timeout: 2_000 });
    const version = schemaVersion(database);
    if (version === 0) {
      database.close();
      return undefined;
    }
    if (version > SCHEMA_VERSION) {
      database.close();
      throw new DatabaseFromNewerVersionError(path, version);
    }
    return new CredentialStore(database, path, Date.now, version < SCHEMA_VERSION);
  }

  load(): StoredCredentials | undefined {
    const row = this.statements.load.get() as
      | {
          username: string;
          password: string;
          status: "pending" | "granted";
          created_at: number;
          granted_at: number | null;
          private_key: string | null;
          csr: string | null;
          certificate: string | null;
          chain: string | null;
        }
      | undefined;
    if (row === undefined) return undefined;
    const tls: StoredTls | undefined =
      row.private_key === null
        ? undefined
        : {
            privateKey: row.private_key,
            csr: row.csr ?? "",
            certificate: row.certificate ?? undefined,
            chain: row.chain ?? undefined,
          };
    return {
      username: row.username,
      password: row.password,
      pairingId: pairingIdFor(row.username, row.password, tls),
      status: row.status,
      createdAt: row.created_at,
      grantedAt: row.granted_at ?? undefined,
      tls,
    };
  }

  /**
   * Persists newly generated credentials as pending, replacing any previous ones in one transaction;
   * with mutual TLS the device key and its CSR go into the same row, before the first request.
   */
  saveNew(username: string, password: string, key?: { privateKey: string; csr: string }): StoredCredentials {
    const createdAt = this.now();
    this.statements.saveNew.run(username, password, createdAt, key?.privateKey ?? null, key?.csr ?? null);
    const tls: StoredTls | undefined =
      key === undefined ? undefined : { ...key, certificate: undefined, chain: undefined };
    return {
      username,
      password,
      pairingId: pairingIdFor(username, password, tls),
      status: "pending",
      createdAt,
      grantedAt: undefined,
      tls,
    };
  }

  /** Marks the credentials granted, with mutual TLS together with the certificate the registry signed. */
  markGranted(certificate?: { certificate: string; chain: string | undefined }): void {
    this.statements.markGranted.run(this.now(), certificate?.certificate ?? null, certificate?.chain ?? null);
  }

  discard(): void {
    this.statements.discard.run();
  }

  /** "ok", or what SQLite's integrity check found. */
  integrityCheck(): string {
    return (this.statements.integrityCheck.all() as string[]).join("; ");
  }

  close(): void {
    if (this.database.open) this.database.close();
  }
}

function pairingIdFor(username: string, password: string, tls: StoredTls | undefined): string {
  return tls === undefined
    ? pairingIdOf(username, password)
    : pairingIdOfKey(username, publicKeyDer(tls.privateKey));
}

function schemaVersion(database: SqliteDatabase): number {
  return prepare(database, "PRAGMA user_version").pluck().get() as number;
}

function migrate(database: SqliteDatabase, path: string): void {
  const version = schemaVersion(database);
  if (version > SCHEMA_VERSION) throw new DatabaseFromNewerVersionError(path, version);
  const migrations: ((db: SqliteDatabase) => void)[] = [
    (db) =>
      db.exec(`
        CREATE TABLE credentials (
          id INTEGER PRIMARY KEY CHECK (id = 1),
          username TEXT NOT NULL,
          password TEXT NOT NULL,
          status TEXT NOT NULL CHECK (status IN ('pending', 'granted')),
          created_at INTEGER NOT NULL,
          granted_at INTEGER
        );
        CREATE TABLE agent_status (
          id INTEGER PRIMARY KEY CHECK (id = 1),
          state TEXT NOT NULL,
          since INTEGER NOT NULL,
          pairing_id TEXT,
          last_error TEXT,
          pid INTEGER NOT NULL,
          updated_at INTEGER NOT NULL
        );`),
    // v2: mutual TLS. Existing password credentials keep NULL here and stay as they are.
    (db) =>
      db.exec(`
        ALTER TABLE credentials ADD COLUMN private_key TEXT;
        ALTER TABLE credentials ADD COLUMN csr TEXT;
        ALTER TABLE credentials ADD COLUMN certificate TEXT;
        ALTER TABLE credentials ADD COLUMN chain TEXT;`),
  ];
  for (let next = version; next < SCHEMA_VERSION; next++) {
    const step = migrations[next];
    if (step === undefined) throw new Error(`no migration from schema version ${next}`);
    database.transaction(() => {
      step(database);
      database.exec(`PRAGMA user_version = ${next + 1}`);
    })();
  }
}

/** Why the file at `path` cannot be used as our database, or undefined when it is healthy. */
function diagnose(path: string): string | undefined {
  const size = statSync(path).size;
  if (size === 0) return undefined; // created but never written: SQLite treats it as empty
  const header = Buffer.alloc(16);
  const fd = openSync(path, "r");
  try {
    readSync(fd, header, 0, 16, 0);
  } finally {
    closeSync(fd);
  }
  if (header.toString("latin1") !== SQLITE_MAGIC) return "not an SQLite database";
  let database: SqliteDatabase | undefined;
  try {
    database = openDatabase(path, { fileMustExist: true, timeout: 2_000 });
    const result = (prepare(database, "PRAGMA integrity_check").pluck().all() as string[]).join("; ");
    return result === "ok" ? undefined : `integrity check failed: ${result.slice(0, 200)}`;
  } catch (error) {
    const code = (error as { code?: string }).code;
    if (code === "SQLITE_NOTADB" || code === "SQLITE_CORRUPT") return `${code}: ${errorMessage(error)}`;
    throw error;
  } finally {
    database?.close();
  }
}

/** Renames the database and its WAL companions to `*.corrupt-<timestamp>`, keeping them for inspection. */
function moveAside(path: string, now: number): string {
  const stamp = new Date(now)
    .toISOString()
    .replace(/[-:]/g, "")
    .replace(/\.\d+Z$/, "Z");
  const movedTo = `${path}.corrupt-${stamp}`;
  for (const suffix of ["-wal", "-shm"]) {
    if (existsSync(path + suffix)) renameSync(path + suffix, movedTo + suffix);
  }
  renameSync(path, movedTo);
  return movedTo;
}

function createPrivateFile(path: string, stateDir: string): void {
  mkdirSync(stateDir, { recursive: true, mode: 0o700 });
  closeSync(openSync(path, "wx", 0o600));
  // Make the new directory entry itself durable before credentials are written into the file.
  const dirFd = openSync(stateDir, "r");
  try {
    fsyncSync(dirFd);
  } finally {
    closeSync(dirFd);
  }
}
