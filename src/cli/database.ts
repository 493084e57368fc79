import { CredentialStore, type RecordedStatus, type StoredCredentials } from "../storage/credential-store.js";
import { errorMessage } from "../util/errors.js";

/**
 * What the agent last recorded and the credentials it holds, read without taking the state
 * directory's lock (the agent may be running). For `status` and `pairing-id`.
 */
export function readDatabase(stateDir: string): {
  recorded: RecordedStatus | undefined;
  credentials: StoredCredentials | undefined;
} {
  let store: CredentialStore | undefined;
  try {
    store = CredentialStore.openReadOnly(stateDir);
    return { recorded: store?.status.last(), credentials: store?.load() };
  } catch (error) {
    throw new Error(
      `cannot read the agent's database in ${stateDir}: ${errorMessage(error)}; run this command as the agent's user (e.g. sudo -u cw-agent) or root`,
    );
  } finally {
    store?.close();
  }
}
