import { accessSync, constants, existsSync, statSync } from "node:fs";
import { join } from "node:path";
import type { AgentConfig } from "../../config/config.js";
import { CredentialStore, DATABASE_FILE, type StoredCredentials } from "../../storage/credential-store.js";
import { certificateSummary, describeCertificate } from "../../tls/client-certificate.js";
import { errorCode, errorMessage } from "../../util/errors.js";
import { formatTime } from "../output.js";
import { type CheckResult, failed, ok, skipped, warning } from "./result.js";

const AS_AGENT_USER = "run the check as the agent's user (sudo -u cw-agent cw-agent check) or root";

export function checkStateDir(config: AgentConfig): CheckResult {
  const name = "state-dir";
  const { stateDir } = config;
  let mode: number;
  try {
    const stat = statSync(stateDir);
    if (!stat.isDirectory())
      return failed(name, `${stateDir} is not a directory`, "point CW_AGENT_STATE_DIR at a directory");
    mode = stat.mode & 0o777;
  } catch (error) {
    const code = errorCode(error);
    if (code === "ENOENT")
      return warning(
        name,
        `${stateDir} does not exist yet`,
        "the agent creates it (mode 0700) when it starts",
      );
    return failed(name, `${stateDir}: ${code ?? errorMessage(error)}`, AS_AGENT_USER);
  }
  try {
    accessSync(stateDir, constants.W_OK | constants.X_OK);
  } catch {
    return failed(
      name,
      `${stateDir} is not writable for uid ${process.getuid?.() ?? "?"}`,
      `${AS_AGENT_USER}; the directory must belong to the agent's user`,
    );
  }
  const octal = mode.toString(8).padStart(4, "0");
  if ((mode & 0o077) !== 0) {
    return warning(
      name,
      `${stateDir} has mode ${octal}: others may read the credentials`,
      `chmod 0700 ${stateDir} (the agent also tightens it when it starts)`,
    );
  }
  return ok(name, `${stateDir} is private (${octal}) and writable`);
}

export interface DatabaseFindings {
  readonly result: CheckResult;
  /** Undefined when the database could not be read. */
  readonly credentials: StoredCredentials | undefined;
  readonly readable: boolean;
}

export function checkDatabase(config: AgentConfig): DatabaseFindings {
  const name = "database";
  const path = join(config.stateDir, DATABASE_FILE);
  if (!existsSync(path)) {
    return {
      result: skipped(name, `no database at ${path} yet; the agent creates it when it starts`),
      credentials: undefined,
      readable: false,
    };
  }
  let store: CredentialStore | undefined;
  try {
    store = CredentialStore.openReadOnly(config.stateDir);
    const integrity = store?.integrityCheck() ?? "missing";
    if (integrity !== "ok") {
      return {
        result: failed(
          name,
          `${path} failed SQLite's integrity check: ${integrity.slice(0, 200)}`,
          "restart the agent: it moves a damaged database aside and registers anew",
        ),
        credentials: undefined,
        readable: false,
      };
    }
    return {
      result: ok(name, `${path} passed SQLite's integrity check`),
      credentials: store?.load(),
      readable: true,
    };
  } catch (error) {
    const code = (error as { code?: string }).code;
    const hint =
      code === "SQLITE_NOTADB" || code === "SQLITE_CORRUPT"
        ? "restart the agent: it moves a damaged database aside and registers anew"
        : AS_AGENT_USER;
    return {
      result: failed(name, `cannot read ${path}: ${errorMessage(error)}`, hint),
      credentials: undefined,
      readable: false,
    };
  } finally {
    store?.close();
  }
}

export function checkCredentials(config: AgentConfig, database: DatabaseFindings, now: number): CheckResult {
  const name = "credentials";
  if (!database.readable && database.result.outcome !== "skipped")
    return skipped(name, "the database could not be read");
  const credentials = database.credentials;
  if (credentials === undefined) {
    return warning(
      name,
      "no credentials stored",
      "start the agent: it generates credentials and asks Connectware's client registry for them",
    );
  }
  if (credentials.username !== config.username) {
    return warning(
      name,
      `stored credentials are for "${credentials.username}" but CYBUS_MQTT_USERNAME is "${config.username}"`,
      "the agent registers the configured username anew when it starts",
    );
  }
  if (credentials.status === "pending") {
    return warning(
      name,
      `credentials of "${credentials.username}" wait for authorization, pairing ID ${credentials.pairingId}`,
      "authorize the pairing ID in Connectware: User Management > Client Registry",
    );
  }
  const grantedAt = credentials.grantedAt;
  const since = grantedAt === undefined || grantedAt > now ? "" : ` since ${formatTime(grantedAt)}`;
  return ok(name, `credentials of "${credentials.username}" granted${since}`);
}

const DAY_MS = 24 * 60 * 60 * 1000;

/** With mutual TLS: the stored client certificate, its details and how long it is still valid. */
export function checkClientCertificate(
  config: AgentConfig,
  database: DatabaseFindings,
  now: number,
): CheckResult {
  const name = "client-certificate";
  if (!config.tls.mutual)
    return skipped(name, "CYBUS_USE_MUTUAL_TLS is off: the agent logs in with a password");
  const credentials = database.credentials;
  if (credentials?.tls === undefined || credentials.status !== "granted") {
    return skipped(name, "no granted certificate yet: the agent sends a CSR with its registration");
  }
  const summary = certificateSummary(credentials);
  if (summary === undefined) {
    return failed(
      name,
      "the stored client certificate cannot be read",
      "run `cw-agent reset` to register with a new key",
    );
  }
  const details = describeCertificate(summary);
  const left = Date.parse(summary.notAfter) - now;
  if (left <= 0) {
    return failed(
      name,
      `expired: ${details}`,
      "the agent registers anew with a new key once the clock is synchronized; authorize the new pairing ID",
    );
  }
  if (left <= config.tls.certWarningDays * DAY_MS) {
    return warning(
      name,
      `expires in ${Math.ceil(left / DAY_MS)} days: ${details}`,
      "at expiry the agent registers anew with a new key, which an administrator must authorize",
    );
  }
  return ok(name, details);
}
