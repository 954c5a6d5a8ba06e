/**
 * The key exchange's three public-key operations without OpenSSL's DER/PEM encoders and decoders.
 *
 * ssh2 (lib/protocol/kex.js and keyParser.js, 1.17) takes `generateKeyPairSync`, `createPublicKey` and
 * `verify` from node:crypto when its modules load, and per handshake it
 * - makes the ephemeral X25519 pair with `generateKeyPairSync('x25519')` and exports its public key as SPKI
 *   DER to take the last 32 bytes;
 * - wraps the server's 32-byte X25519 key in SPKI DER and decodes that with `createPublicKey`;
 * - verifies the exchange hash against the host key as PEM text (`verify(null, data, pem, sig)`), which
 *   decodes the PEM again.
 * With OpenSSL 3 each DER/PEM encode or decode first looks up an encoder/decoder by name, which cost more than
 * the curve arithmetic itself (docs/benchmarks-scale.md, "Handshake CPU, round 7"). Here the same operations
 * go through raw keys: a private key imported from 32 random bytes (as JWK), its public key computed as X25519
 * with the base point (u = 9, RFC 7748), the server's key and an Ed25519 host key imported from their raw
 * bytes. Nothing is ever exported from a KeyObject: node 20 can deadlock exporting a key as JWK while a GC
 * inside the export finalizes the `generateKeyPairSync` job that made it (seen in bench-scale-conns; the
 * test file runs the path under GC pressure).
 *
 * `loadWithKexCrypto` hands these functions to ssh2's modules as they load, by putting them on node:crypto's
 * CommonJS exports only while `load` runs (ssh2 destructures them once, at require time), and puts the
 * originals back. Every call that is not one of the three shapes above goes to node:crypto's own function
 * with the same arguments, so constants.js's feature probes and other key types behave as before; so does one of
 * the three if this node refuses its raw-key form (counted in `kexCryptoUse.fallbacks`).
 */
import { createRequire } from "node:module";

const require = createRequire(import.meta.url);
const cjsCrypto: typeof import("node:crypto") = require("node:crypto");
const { createPrivateKey, diffieHellman, randomFillSync } = cjsCrypto;
const original = {
  createPublicKey: cjsCrypto.createPublicKey,
  generateKeyPairSync: cjsCrypto.generateKeyPairSync,
  verify: cjsCrypto.verify,
};
type KeyObject = import("node:crypto").KeyObject;

/** How often each of the three operations took the raw-key path, and how often node refused it (read by the tests). */
export const kexCryptoUse = { x25519Pairs: 0, x25519PeerKeys: 0, ed25519Verifies: 0, fallbacks: 0 };

/**
 * The raw-key path's result, or undefined when this node refuses it (a later node checking a JWK's fields more
 * strictly, say): the call then goes to node:crypto the way ssh2 made it, which reports any real fault.
 */
function orUndefined<T>(fast: () => T): T | undefined {
  try {
    return fast();
  } catch {
    kexCryptoUse.fallbacks++;
    return undefined;
  }
}

/** SubjectPublicKeyInfo DER of an X25519 / Ed25519 public key: this prefix, then the 32 key bytes. */
const X25519_SPKI_PREFIX = Buffer.from("302a300506032b656e032100", "hex");
const ED25519_SPKI_PREFIX = Buffer.from("302a300506032b6570032100", "hex");
const SPKI_LENGTH = 44;

const rawX25519Public = (raw: Buffer): KeyObject =>
  original.createPublicKey({
    key: { kty: "OKP", crv: "X25519", x: raw.toString("base64url") },
    format: "jwk",
  });

/**
 * X25519's base point, u = 9: X25519(d, 9) is the public key of the private scalar d. Undefined if this node
 * refuses the import: every pair then comes from node:crypto's generateKeyPairSync.
 */
const BASE_POINT = orUndefined(() => rawX25519Public(Buffer.from([9, ...new Array<number>(31).fill(0)])));

const hasPrefix = (der: Buffer, prefix: Buffer): boolean =>
  der.length === SPKI_LENGTH && der.compare(prefix, 0, prefix.length, 0, prefix.length) === 0;

/** What ssh2 reads of the pair's public key: its SPKI DER, built from the raw bytes. */
class X25519PublicKey {
  readonly type = "public";
  readonly asymmetricKeyType = "x25519";
  readonly #der: Buffer;
  readonly #privateKey: KeyObject;
  constructor(raw: Buffer, privateKey: KeyObject) {
    this.#der = Buffer.concat([X25519_SPKI_PREFIX, raw]);
    this.#privateKey = privateKey;
  }
  /** SPKI DER from the bytes held; any other form through node:crypto. */
  export(options?: { type?: string; format?: string }): Buffer | string | object {
    if (options?.type === "spki" && options.format === "der") return Buffer.from(this.#der);
    return original.createPublicKey(this.#privateKey).export(options as never);
  }
}

/** An X25519 pair from 32 random bytes, its public key from the base point: no key generation job, no export. */
export function x25519Pair(): { privateKey: KeyObject; publicKey: X25519PublicKey } {
  if (!BASE_POINT) throw new Error("this node refused X25519's base point as a raw key");
  const scalar = randomFillSync(Buffer.alloc(32));
  const privateKey = createPrivateKey({
    // OpenSSL derives the public key from `d`; node requires `x` to be a string and does not compare it.
    key: { kty: "OKP", crv: "X25519", d: scalar.toString("base64url"), x: "" },
    format: "jwk",
  });
  scalar.fill(0);
  const raw = diffieHellman({ privateKey, publicKey: BASE_POINT });
  return { privateKey, publicKey: new X25519PublicKey(raw, privateKey) };
}

const generateKeyPairSync = function generateKeyPairSync(this: unknown, ...args: unknown[]) {
  if (args.length === 1 && args[0] === "x25519") {
    const pair = orUndefined(x25519Pair);
    if (pair) {
      kexCryptoUse.x25519Pairs++;
      return pair;
    }
  }
  return Reflect.apply(original.generateKeyPairSync, this, args);
} as typeof original.generateKeyPairSync;

const createPublicKey = function createPublicKey(this: unknown, ...args: unknown[]) {
  const [input] = args as [{ key?: unknown; type?: unknown; format?: unknown } | undefined];
  if (
    args.length === 1 &&
    typeof input === "object" &&
    input !== null &&
    input.type === "spki" &&
    input.format === "der" &&
    Buffer.isBuffer(input.key) &&
    hasPrefix(input.key, X25519_SPKI_PREFIX)
  ) {
    const raw = input.key.subarray(X25519_SPKI_PREFIX.length);
    const key = orUndefined(() => rawX25519Public(raw));
    if (key) {
      kexCryptoUse.x25519PeerKeys++;
      return key;
    }
  }
  return Reflect.apply(original.createPublicKey, this, args);
} as typeof original.createPublicKey;

/** The raw Ed25519 key in a PEM "PUBLIC KEY" block, or null for any other key or text. */
export function ed25519FromPem(pem: string): Buffer | null {
  const m = /^-----BEGIN PUBLIC KEY-----\r?\n([A-Za-z0-9+/=\r\n]+)-----END PUBLIC KEY-----\r?\n?$/.exec(pem);
  if (!m?.[1]) return null;
  const der = Buffer.from(m[1], "base64");
  return hasPrefix(der, ED25519_SPKI_PREFIX) ? der.subarray(ED25519_SPKI_PREFIX.length) : null;
}

const verify = function verify(this: unknown, ...args: unknown[]) {
  const [algorithm, data, key, signature] = args;
  if (args.length === 4 && algorithm == null && typeof key === "string") {
    const raw = ed25519FromPem(key);
    const publicKey =
      raw &&
      orUndefined(() =>
        original.createPublicKey({
          key: { kty: "OKP", crv: "Ed25519", x: raw.toString("base64url") },
          format: "jwk",
        }),
      );
    if (publicKey) {
      kexCryptoUse.ed25519Verifies++;
      return original.verify(null, data as Buffer, publicKey, signature as Buffer);
    }
  }
  return Reflect.apply(original.verify, this, args);
} as typeof original.verify;

export const kexCrypto = { createPublicKey, generateKeyPairSync, verify };

/** ssh2's modules that destructure the functions above at load time. */
const SSH2_CRYPTO_USERS = ["ssh2/lib/protocol/kex.js", "ssh2/lib/protocol/keyParser.js"];

/**
 * Runs `load` (which requires ssh2) with `kexCrypto` on node:crypto's CommonJS exports. `applied` is false
 * when ssh2's modules had been loaded before (they then keep node:crypto's functions; nothing else changes).
 */
export function loadWithKexCrypto<T>(load: () => T): { value: T; applied: boolean } {
  const loadedBefore = SSH2_CRYPTO_USERS.some((id) => require.cache[require.resolve(id)] !== undefined);
  if (loadedBefore) return { value: load(), applied: false };
  Object.assign(cjsCrypto, kexCrypto);
  try {
    return { value: load(), applied: true };
  } finally {
    Object.assign(cjsCrypto, original);
  }
}
