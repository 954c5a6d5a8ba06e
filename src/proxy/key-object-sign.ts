/**
 * The client key's signature from a KeyObject made once, not from its PEM text on every handshake.
 *
 * ssh2 (lib/protocol/keyParser.js, 1.17) signs with `crypto.sign(algo, data, pem)`, the key as PEM text, so
 * OpenSSL decodes the PEM again for every signature: with this machine's node (OpenSSL 3.0.19) 0.56 ms of CPU
 * per Ed25519 signature against 0.04 ms from a KeyObject, once per SSH handshake (docs/benchmarks-scale.md,
 * "Handshake CPU, round 6"). The parsed key is shared by every connection (keys.ts), so this gives it a `sign`
 * of its own with the same contract as ssh2's: the signature in the form ssh2's own would return (DER for
 * ECDSA, which ssh2 converts), or an Error, never a throw; `algo` the hash ssh2 asks for (rsa-sha2-256/512),
 * else the key type's default, as ssh2 keeps it per key.
 *
 * A key type without a known default keeps ssh2's `sign`.
 */
import { createPrivateKey, type KeyObject, sign } from "node:crypto";
import type { ParsedKey } from "ssh2";

/** The hash ssh2's key parser sets per key type when the caller passes none (null: the key type has its own). */
const DEFAULT_HASH: Record<string, string | null> = {
  "ssh-ed25519": null,
  "ssh-rsa": "sha1",
  "ssh-dss": "sha1",
  "ecdsa-sha2-nistp256": "sha256",
  "ecdsa-sha2-nistp384": "sha384",
  "ecdsa-sha2-nistp521": "sha512",
};

type Sign = (data: Buffer, algo?: string) => Buffer | Error;

/** Gives `key` a `sign` backed by one KeyObject. Returns false (key unchanged) for a type it does not know. */
export function signWithKeyObject(key: ParsedKey): boolean {
  const fallback = DEFAULT_HASH[key.type];
  if (fallback === undefined || !key.isPrivateKey()) return false;
  let keyObject: KeyObject;
  try {
    keyObject = createPrivateKey(key.getPrivatePEM());
  } catch {
    return false; // ssh2's own sign still reports whatever is wrong with the key, at the handshake
  }
  const own: Sign = (data, algo) => {
    try {
      return sign(typeof algo === "string" && algo !== "" ? algo : fallback, data, keyObject);
    } catch (err) {
      return err instanceof Error ? err : new Error(String(err));
    }
  };
  Object.defineProperty(key, "sign", { value: own, configurable: true, writable: true });
  return true;
}
