/**
 * Public key authentication in one round trip: the signed request first, without ssh2's query.
 *
 * ssh2 (lib/client.js, 1.17) authenticates with a key in two steps, as OpenSSH's ssh does: it asks whether
 * the server would accept the key (SSH_MSG_USERAUTH_REQUEST without a signature), waits for
 * SSH_MSG_USERAUTH_PK_OK, and only then sends the request again with the signature. RFC 4252 §7 lets a
 * client send the signed request directly. For the proxy, which has exactly one key per host, the query buys
 * nothing and costs, per SSH handshake:
 * - one round trip more before the connection is ready;
 * - one packet more each way, each encrypted, written, read and decrypted by both sides;
 * - in sshd, a second look-up of the key: sshd runs its whole authorized_keys check (reading the file,
 *   matching the key and its options) for the query and again for the signed request (a small part of what
 *   a connection costs sshd: docs/benchmarks-scale.md, "Handshake, round 8").
 *
 * Nothing is given away by signing first. The signature covers this connection's session identifier, so it
 * is good for this connection only, and a server that wanted one could already have it by answering the
 * query with PK_OK. A server that refuses the key answers USERAUTH_FAILURE to either form, and ssh2 goes on
 * as before (the next signature algorithm for an RSA key, then the next method).
 *
 * How: after `connect()`, the connection's Protocol object gets an `authPK` of its own that adds the
 * signing callback to ssh2's query for this key, with the hash ssh2 would have chosen for that algorithm
 * after PK_OK. If signing fails, it sends the query as ssh2 would have, so ssh2's own path reports the
 * failure the same way. Any other call, and any other ssh2 version whose method is not where 1.17 keeps
 * it, is left alone: the cost is the round trip, never the connection.
 */
import type { Client, ParsedKey } from "ssh2";

type SignCallback = (data: Buffer, done: (signature: Buffer) => void) => void;
type AuthPK = (
  username: string,
  key: unknown,
  keyAlgo?: string | SignCallback,
  cbSign?: SignCallback,
) => void;

interface Internals {
  _protocol?: { authPK?: AuthPK };
}

/**
 * The hash ssh2 signs with for each public key algorithm of an RSA key (lib/client.js getKeyAlgos, 1.17);
 * any other key type signs with its own (undefined: the key's default).
 */
const RSA_HASH: Record<string, string> = {
  "rsa-sha2-256": "sha256",
  "rsa-sha2-512": "sha512",
  "ssh-rsa": "sha1",
};

/** Applies the one-round-trip authentication to `key` on `client`. Returns whether it found ssh2's method. */
export function signPublicKeyDirectly(client: Client, key: ParsedKey): boolean {
  const proto = (client as unknown as Internals)._protocol;
  const own = proto?.authPK;
  if (!proto || typeof own !== "function") return false;
  proto.authPK = function authPK(this: unknown, username, pubKey, keyAlgo, cbSign) {
    if (pubKey !== key || cbSign !== undefined || typeof keyAlgo === "function")
      return own.call(this, username, pubKey, keyAlgo, cbSign);
    const hash = key.type === "ssh-rsa" && keyAlgo !== undefined ? RSA_HASH[keyAlgo] : undefined;
    let settled = false;
    let signed = false;
    own.call(this, username, pubKey, keyAlgo, (data, done) => {
      if (settled) return;
      const signature = key.sign(data, hash);
      if (signature instanceof Error) return;
      signed = true;
      done(signature);
    });
    settled = true;
    // ssh2 1.17 calls the callback at once. Unsigned (the key could not sign, or a callback that did not come
    // in time), ask as ssh2 would have: its PK_OK handler then signs and reports any error on 'error'.
    if (!signed) own.call(this, username, pubKey, keyAlgo);
  };
  return true;
}
