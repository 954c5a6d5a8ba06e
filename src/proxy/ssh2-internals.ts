/**
 * The two places where the pool reaches into ssh2's private state, each checked against the installed ssh2
 * by test/proxy/ssh2-internals.test.ts and doing nothing when the fields are not what it expects.
 *
 * releaseKexKeys: what ssh2 keeps of a finished key exchange that a pooled connection never needs again.
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
 * ssh2 version): the cost is then memory, never the connection. test/proxy/ssh2-internals.test.ts holds it to
 * the installed ssh2, re-keying against a real OpenSSH sshd afterwards.
 */
import type { Client } from "ssh2";

interface Internals {
  _protocol?: { _kex?: { _finished?: unknown; _keys?: unknown } };
  _resetKA?: unknown;
}

/** Drops the finished key exchange's ephemeral key pair; true when there was one to drop. */
export function releaseKexKeys(client: Client): boolean {
  const kex = (client as unknown as Internals)._protocol?._kex;
  if (kex?._finished !== true || kex._keys == null) return false;
  kex._keys = null;
  return true;
}

/**
 * Postpones ssh2's next keepalive by a full keepaliveInterval, as if the server had just answered one.
 *
 * ssh2's keepalive (lib/client.js, 1.17) sends `keepalive@openssh.com` every keepaliveInterval whatever
 * else the connection carries: it restarts its timer only on a keepalive's reply and on channel-request
 * replies, never on data. A fleet scraped every 15 s with the default 15 s interval therefore sends as many
 * keepalive round trips as scrapes — 133 a second at 2 000 hosts, each costing the proxy ~0.16 ms of CPU
 * (docs/benchmarks-scale.md) and sshd as much. OpenSSH's ServerAliveInterval only asks when nothing was
 * received for the interval; the pool gets that by calling this for connections that received data lately.
 * The timer's miss count restarts too, which is right: data from the server proves it alive.
 */
export function postponeKeepalive(client: Client): boolean {
  const reset = (client as unknown as Internals)._resetKA;
  if (typeof reset !== "function") return false;
  reset.call(client);
  return true;
}
