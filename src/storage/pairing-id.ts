import { createHash } from "node:crypto";

/**
 * [ours] The pairing ID an administrator compares in the Client Registry: the first 6 hex
 * characters of sha256("<username>:<password>"). See the protocol contract, section 5. A pure
 * function of the credentials, so it stays the same across restarts while they are pending.
 */
export function pairingIdOf(username: string, password: string): string {
  return createHash("sha256").update(`${username}:${password}`).digest("hex").slice(0, 6);
}

/**
 * [ours] The pairing ID with mutual TLS: the first 6 hex characters of
 * sha256("<username>:" + the DER SubjectPublicKeyInfo of the device key). The key is what the
 * certificate will vouch for, so the ID changes with every new key and stays the same across
 * restarts while the same key is pending.
 */
export function pairingIdOfKey(username: string, publicKeyDer: Buffer): string {
  return createHash("sha256").update(`${username}:`).update(publicKeyDer).digest("hex").slice(0, 6);
}
