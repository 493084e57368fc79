import { createHash } from "node:crypto";

/**
 * [ours] The pairing ID an administrator compares in the Client Registry: the first 6 hex
 * characters of sha256("<username>:<password>"). See the protocol contract, section 5. A pure
 * function of the credentials, so it stays the same across restarts while they are pending.
 */
export function pairingIdOf(username: string, password: string): string {
  return createHash("sha256").update(`${username}:${password}`).digest("hex").slice(0, 6);
}
