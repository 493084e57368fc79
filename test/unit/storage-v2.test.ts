import { mkdtempSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { CredentialStore, DATABASE_FILE } from "../../src/storage/credential-store.js";
import { pairingIdOf, pairingIdOfKey } from "../../src/storage/pairing-id.js";
import { openDatabase, prepare } from "../../src/storage/sqlite.js";
import { prepareStateDir } from "../../src/storage/state-dir.js";
import { loadAsn1 } from "../../src/tls/asn1.js";
import { newDeviceKey } from "../../src/tls/client-certificate.js";
import { publicKeyDer } from "../../src/tls/device-key.js";

// The agent loads its X.509 code when mutual TLS needs it; these tests call that code directly.
await loadAsn1();

const cleanups: (() => void)[] = [];
afterEach(() => {
  for (const cleanup of cleanups.splice(0)) cleanup();
});

function stateDir(): string {
  const dir = join(mkdtempSync(join(tmpdir(), "cw-agent-store-v2-")), "state");
  prepareStateDir(dir);
  return dir;
}

/** A database exactly as schema version 1 wrote it, with granted password credentials. */
function writeV1Database(dir: string): void {
  const database = openDatabase(join(dir, DATABASE_FILE), { timeout: 2_000 });
  database.exec(`
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
    );
    INSERT INTO credentials VALUES (1, 'gw-old', 'an-old-password-of-v1', 'granted', 1000, 2000);
    PRAGMA user_version = 1;`);
  database.close();
}

function userVersion(dir: string): number {
  const database = openDatabase(join(dir, DATABASE_FILE), {
    readonly: true,
    fileMustExist: true,
    timeout: 2_000,
  });
  try {
    return prepare(database, "PRAGMA user_version").pluck().get() as number;
  } finally {
    database.close();
  }
}

describe("schema version 2 (mutual TLS)", () => {
  it("keeps the password credentials of a version 1 database, readable before and after the migration", () => {
    const dir = stateDir();
    writeV1Database(dir);
    const readOnly = CredentialStore.openReadOnly(dir);
    expect(readOnly?.load()).toMatchObject({ username: "gw-old", status: "granted", tls: undefined });
    readOnly?.close();
    expect(userVersion(dir)).toBe(1);

    const store = CredentialStore.open(dir);
    cleanups.push(() => store.close());
    expect(store.load()).toEqual({
      username: "gw-old",
      password: "an-old-password-of-v1",
      pairingId: pairingIdOf("gw-old", "an-old-password-of-v1"),
      status: "granted",
      createdAt: 1000,
      grantedAt: 2000,
      tls: undefined,
    });
    expect(userVersion(dir)).toBe(2);
    expect(statSync(join(dir, DATABASE_FILE)).mode & 0o777).toBe(0o600);
  });

  it("persists the key and CSR with pending credentials, and the certificate with the grant", () => {
    const dir = stateDir();
    const store = CredentialStore.open(dir);
    cleanups.push(() => store.close());
    const key = newDeviceKey("ec-p256", "gw-new");
    const saved = store.saveNew("gw-new", "a-password-of-the-test", key);
    const pairingId = pairingIdOfKey("gw-new", publicKeyDer(key.privateKey));
    expect(saved.pairingId).toBe(pairingId);
    store.close();

    const reopened = CredentialStore.open(dir);
    cleanups.push(() => reopened.close());
    expect(reopened.load()).toMatchObject({
      status: "pending",
      pairingId,
      tls: { privateKey: key.privateKey, csr: key.csr, certificate: undefined },
    });
    reopened.markGranted({ certificate: "CERTIFICATE-PEM", chain: "CA-PEM" });
    expect(reopened.load()).toMatchObject({
      status: "granted",
      pairingId,
      tls: { privateKey: key.privateKey, certificate: "CERTIFICATE-PEM", chain: "CA-PEM" },
    });
    expect(statSync(join(dir, DATABASE_FILE)).mode & 0o777).toBe(0o600);
  });
});
