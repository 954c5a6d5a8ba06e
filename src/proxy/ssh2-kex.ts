/**
 * What ssh2 keeps of a finished key exchange that a pooled connection never needs again.
 *
 * After NEWKEYS, ssh2 (lib/protocol/kex.js, 1.17) clears most of the exchange's state itself (DH values,
 * both KEXINITs, the identification strings it copied, the host key and signature) but keeps the exchange
 * object as `Protocol._kex`, because a later re-key reads the session id from it. For curve25519-sha256,
 * the default and what OpenSSH picks, that object still holds the ephemeral X25519 key pair it generated
 * (`_keys`: two KeyObjects and their native OpenSSL keys) for as long as the connection lives. A re-key
 * builds a new exchange object with a fresh pair (`createKeyExchange`), so the old pair is dead weight on
 * each of a fleet's pooled connections — and keeping an ephemeral private key after the exchange also
 * goes against what makes it ephemeral (forward secrecy).
 *
 * Reaches into ssh2's private fields, so it checks their shape and does nothing when they differ (another
 * ssh2 version): the cost is then memory, never the connection. test/proxy/ssh2-kex.test.ts holds it to
 * the installed ssh2, re-keying against a real OpenSSH sshd afterwards.
 */
import type { Client } from "ssh2";

interface KexInternals {
  _protocol?: { _kex?: { _finished?: unknown; _keys?: unknown } };
}

/** Drops the finished key exchange's ephemeral key pair; true when there was one to drop. */
export function releaseKexKeys(client: Client): boolean {
  const kex = (client as unknown as KexInternals)._protocol?._kex;
  if (!kex || kex._finished !== true || kex._keys == null) return false;
  kex._keys = null;
  return true;
}
