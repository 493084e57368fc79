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
