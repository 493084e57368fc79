import { createHash } from "node:crypto";

/**
 * The pairing ID as the protocol contract (section 5) defines it: the first 6 hex characters of
 * sha256("<username>:<password>"). Computed here from the contract, not imported from the agent,
 * so the simulator checks the agent's derivation instead of sharing it.
 */
export function expectedPairingId(username: string, password: string): string {
  const digest = createHash("sha256");
  digest.update(username);
  digest.update(":");
  digest.update(password);
  return digest.digest("hex").substring(0, 6);
}

/**
 * The pairing ID of a request with a CSR (mutual TLS), as the protocol notes define it: the first 6
 * hex characters of sha256("<username>:" followed by the DER SubjectPublicKeyInfo of the CSR's key).
 * Taken from the CSR the registry received, not from the agent.
 */
export function expectedKeyPairingId(username: string, publicKeyInfo: Buffer): string {
  const digest = createHash("sha256");
  digest.update(Buffer.from(`${username}:`, "utf8"));
  digest.update(publicKeyInfo);
  return digest.digest("hex").substring(0, 6);
}
