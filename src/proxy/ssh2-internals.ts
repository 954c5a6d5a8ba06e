/**
 * The two places where the pool reaches into ssh2's private state, each checked against the installed ssh2
 * by test/proxy/ssh2-internals.test.ts and doing nothing when the fields are not what it expects.
 *
 * releaseHandshakeState: what ssh2 keeps of a finished handshake that a pooled connection never needs again,
 * or keeps in a costlier place than it needs to (docs/benchmarks-scale.md, "Per connection").
 *
 * - The ephemeral key pair. After NEWKEYS, ssh2 (lib/protocol/kex.js, 1.17) clears most of the exchange's
 *   state itself (DH values, both KEXINITs, its copies of the identification strings, the host key and
 *   signature) but keeps the exchange object as `Protocol._kex`, because a later re-key reads the session id
 *   from it. For curve25519-sha256, the default and what OpenSSH picks, that object still holds the
 *   ephemeral X25519 key pair (`_keys`: two KeyObjects and their native OpenSSL keys) for as long as the
 *   connection lives. A re-key builds a new exchange object with a fresh pair (`createKeyExchange`), so the
 *   old pair is dead weight — and keeping an ephemeral private key after the exchange goes against what
 *   makes it ephemeral (forward secrecy).
 * - Small buffers that pin Node's shared 8 KB Buffer pool slabs. `Protocol._remoteIdentRaw` (the server's
 *   identification string, ~40 bytes, needed again by every re-key's exchange hash) is a `Buffer.from` copy
 *   and the AES-GCM decipher's 16-byte tag buffer an `allocUnsafe`: both are cut from the pool, and
 *   living as long as the connection, they keep whole slabs alive that the rest of the handshake's garbage
 *   had shared (a heap snapshot of 300 pooled connections: ~110 slabs, ~3 KB per connection). Each gets its
 *   own exact-size copy, same bytes.
 *
 * Reaches into ssh2's private fields, so it checks their shape and leaves anything that differs alone
 * (another ssh2 version): the cost is then memory, never the connection. test/proxy/ssh2-internals.test.ts
 * holds it to the installed ssh2, re-keying against a real OpenSSH sshd afterwards.
 */
import type { Client } from "ssh2";

interface Internals {
  _protocol?: {
    _kex?: { _finished?: unknown; _keys?: unknown };
    _remoteIdentRaw?: unknown;
    _decipher?: { _tag?: unknown; _tagPos?: unknown };
  };
  _resetKA?: unknown;
}

/** A copy of `buf` in an ArrayBuffer of its own, outside Node's Buffer pool. */
export function unpooledCopy(buf: Buffer): Buffer {
  const copy = Buffer.allocUnsafeSlow(buf.length);
  buf.copy(copy);
  return copy;
}

/** Call on 'ready'. Returns what it released, for the test: ssh2 fields it found as expected. */
export function releaseHandshakeState(client: Client): { kexKeys: boolean; ident: boolean; tag: boolean } {
  const proto = (client as unknown as Internals)._protocol;
  const done = { kexKeys: false, ident: false, tag: false };
  const kex = proto?._kex;
  if (kex?._finished === true && kex._keys != null) {
    kex._keys = null;
    done.kexKeys = true;
  }
  if (proto && Buffer.isBuffer(proto._remoteIdentRaw) && isPooled(proto._remoteIdentRaw)) {
    proto._remoteIdentRaw = unpooledCopy(proto._remoteIdentRaw);
    done.ident = true;
  }
  // Only between two packets' tags (0: none read yet; 16: the last one consumed): it is then rewritten
  // whole before its next use.
  const decipher = proto?._decipher;
  if (
    decipher &&
    Buffer.isBuffer(decipher._tag) &&
    decipher._tag.length === 16 &&
    isPooled(decipher._tag) &&
    (decipher._tagPos === 0 || decipher._tagPos === 16)
  ) {
    decipher._tag = Buffer.alloc(16);
    done.tag = true;
  }
  return done;
}

function isPooled(buf: Buffer): boolean {
  return buf.buffer.byteLength > buf.length;
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
