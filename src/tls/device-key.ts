import { createPrivateKey, createPublicKey, generateKeyPairSync, type KeyObject } from "node:crypto";

/** The key types an agent can make: EC P-256 by default, RSA 2048 for brokers that need RSA. */
export const KEY_TYPES = ["ec-p256", "rsa2048"] as const;
export type KeyType = (typeof KEY_TYPES)[number];

/**
 * Makes the device's private key, on the device: it never leaves it (not in a request, a log line,
 * an error text or a CLI output). Returned as PKCS#8 PEM, the form it is stored and handed to TLS in.
 */
export function generateDeviceKey(type: KeyType): string {
  const { privateKey } =
    type === "rsa2048"
      ? generateKeyPairSync("rsa", { modulusLength: 2048 })
      : generateKeyPairSync("ec", { namedCurve: "prime256v1" });
  return privateKey.export({ type: "pkcs8", format: "pem" }).toString();
}

export function privateKeyOf(keyPem: string): KeyObject {
  return createPrivateKey(keyPem);
}

/** The DER SubjectPublicKeyInfo of the key's public half: what the pairing ID and the checks use. */
export function publicKeyDer(key: KeyObject | string): Buffer {
  const object = typeof key === "string" ? createPrivateKey(key) : key;
  return createPublicKey(object).export({ type: "spki", format: "der" });
}

export function keyTypeOf(keyPem: string): KeyType | undefined {
  const key = createPrivateKey(keyPem);
  if (key.asymmetricKeyType === "ec" && key.asymmetricKeyDetails?.namedCurve === "prime256v1")
    return "ec-p256";
  if (key.asymmetricKeyType === "rsa" && key.asymmetricKeyDetails?.modulusLength === 2048) return "rsa2048";
  return undefined;
}
