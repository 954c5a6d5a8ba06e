/**
 * Where the pool reaches into ssh2's private state, each checked against the installed ssh2 (by
 * test/proxy/ssh2-internals.test.ts, and skipHostKeysProof by test/proxy/hostkeys-proof.test.ts) and doing
 * nothing when the fields are not what it expects.
 *
 * releaseHandshakeState: what ssh2 keeps of a finished handshake that a pooled connection never needs again,
 * or keeps in a costlier place than it needs to (docs/benchmarks-scale.md, "Per connection").
 *
 * - The ephemeral key pair. After NEWKEYS, ssh2 (lib/protocol/kex.js, 1.17) clears most of the exchange's
 *   state itself (DH values, both KEXINITs, its copies of the identification strings, the host key and
 *   signature) but keeps the exchange object as `Protocol._kex`, because a later re-key reads the session id
 *   from it. For curve25519-sha256, the default and what OpenSSH picks, that object still holds the
 *   ephemeral X25519 key pair (`_keys`: a private KeyObject with its native OpenSSL key, and the public key,
 *   which ssh2-kex-crypto.ts keeps as its DER bytes) for as long as the connection lives. A re-key builds a new exchange object with a fresh pair (`createKeyExchange`), so the
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
import { randomFillSync } from "node:crypto";
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

/**
 * The cipher object ssh2 (lib/protocol/crypto.js, 1.17) encrypts outgoing packets with, `Protocol._cipher`:
 * `allocPacket(payloadLength)` returns a packet with its length, padding length and random padding written
 * and room for the payload at offset 5 (and for the MAC after it).
 */
interface Ssh2Cipher {
  allocPacket?: (payloadLen: number) => Buffer;
}

/** Bytes of CSPRNG output fetched at once for padding; each byte is used for one packet only. */
const RANDOM_POOL_BYTES = 4096;
const randomPool = Buffer.allocUnsafeSlow(RANDOM_POOL_BYTES);
let randomPos = RANDOM_POOL_BYTES;

/** Writes `len` bytes of fresh CSPRNG output (never handed out before) at `packet[offset]`. */
export function fillRandom(packet: Buffer, offset: number, len: number): void {
  if (randomPos + len > RANDOM_POOL_BYTES) {
    randomFillSync(randomPool);
    randomPos = 0;
  }
  for (let i = 0; i < len; i++) packet[offset + i] = randomPool[randomPos + i] as number;
  randomPos += len;
}

/** A packet layout: padding to a multiple of `block` (not counting the first `aad` bytes), `mac` bytes after. */
interface Layout {
  block: number;
  aad: number;
  mac: number;
}

function padLength({ block, aad }: Layout, payloadLen: number): number {
  const pad = block - ((5 + payloadLen - aad) & (block - 1));
  return pad < 4 ? pad + block : pad;
}

/** The packet ssh2's allocPacket would build for `layout`, its padding from fillRandom. */
function allocPacket(layout: Layout, payloadLen: number): Buffer {
  const padLen = padLength(layout, payloadLen);
  const pktLen = 5 + payloadLen + padLen;
  const packet = Buffer.allocUnsafe(pktLen + layout.mac);
  packet.writeUInt32BE(pktLen - 4, 0);
  packet[4] = padLen;
  fillRandom(packet, 5 + payloadLen, padLen);
  return packet;
}

/** Which of the layouts ssh2's ciphers use (block 8 or 16; the length field in the padding or not) `alloc` has. */
function probeLayout(alloc: (payloadLen: number) => Buffer): Layout | undefined {
  const first = alloc(0);
  if (first.length < 5) return undefined;
  for (const block of [8, 16])
    for (const aad of [0, 4]) {
      const pktLen = 5 + padLength({ block, aad, mac: 0 }, 0);
      if (first.readUInt32BE(0) !== pktLen - 4 || first[4] !== pktLen - 5) continue;
      const layout = { block, aad, mac: first.length - pktLen };
      // The same lengths, padding lengths and size for other payloads, or it is not what we think.
      const same = [1, 3, 12, 13, 1000, 32_777].every((n) => {
        const theirs = alloc(n);
        const pad = padLength(layout, n);
        return (
          theirs.length === 5 + n + pad + layout.mac &&
          theirs.readUInt32BE(0) === 1 + n + pad &&
          theirs[4] === pad
        );
      });
      if (same) return layout;
    }
  return undefined;
}

const batched = new WeakSet<object>();

/**
 * ssh2 fills each outgoing packet's padding with its own `randomFillSync` call (2.4–3.9 µs each here,
 * docs/benchmarks.md, "Metrics and packets"), one per request packet. This gives the connection's current
 * cipher an `allocPacket` that builds the same packet with padding cut from a 4 KB block of CSPRNG output
 * (fillRandom): random padding as RFC 4253 §6 asks, each byte used once. The layout (block size, whether the
 * length field counts, MAC room) is read from ssh2's own allocPacket first and checked against it for several
 * sizes; a cipher whose packets do not match is left alone. A re-key makes a new cipher object, so this
 * re-applies itself on every 'handshake' (the event ssh2 emits after each key exchange). Call on 'ready';
 * returns whether the current cipher was changed (for the test).
 */
export function batchPacketPadding(client: Client): boolean {
  const applied = patchCipher(client);
  if (!batched.has(client)) {
    batched.add(client);
    client.on("handshake", () => patchCipher(client));
  }
  return applied;
}

function patchCipher(client: Client): boolean {
  const proto = (client as unknown as { _protocol?: { _cipher?: Ssh2Cipher } })._protocol;
  const cipher = proto?._cipher;
  const theirs = cipher?.allocPacket;
  if (!cipher || typeof theirs !== "function" || Object.hasOwn(cipher, "allocPacket")) return false;
  let layout: Layout | undefined;
  try {
    layout = probeLayout((n) => theirs.call(cipher, n));
  } catch {
    return false; // not the allocPacket we know: leave ssh2's own in place
  }
  if (!layout) return false;
  cipher.allocPacket = (payloadLen: number) => allocPacket(layout, payloadLen);
  return true;
}

interface GlobalRequestHandlers {
  _protocol?: {
    _handlers?: {
      GLOBAL_REQUEST?: (proto: unknown, name: string, wantReply: boolean, data: unknown) => void;
    };
    requestSuccess?: () => void;
  };
}

/** OpenSSH's announcement of all its host keys after authentication (UpdateHostKeys, PROTOCOL 2.5). */
export const HOSTKEYS_REQUEST = "hostkeys-00@openssh.com";

/**
 * Call right after `client.connect()`. OpenSSH's sshd announces every host key it has once a client has
 * authenticated (`hostkeys-00@openssh.com`), and ssh2 answers each announcement by asking the server to
 * prove it holds every one of those keys (`hostkeys-prove-00@openssh.com`): one more round trip, a signature
 * by sshd per host key, and per key a parse and a signature check in the proxy, all for ssh2's 'hostkeys'
 * event, which the pool never listens to (it trusts known_hosts alone and never learns keys). The OpenSSH
 * client does the same as this with its default `UpdateHostKeys` for a known_hosts it does not manage: it
 * takes the announcement and asks nothing (clientloop.c, client_input_hostkeys). Every other global request
 * goes to ssh2's own handler as before; a `want reply` on the announcement, which sshd never sets, gets the
 * success ssh2 would have sent.
 *
 * Returns whether the handler was found where ssh2 1.17 keeps it (nothing changes otherwise: the cost is then
 * the proof, never the connection).
 */
export function skipHostKeysProof(client: Client): boolean {
  const proto = (client as unknown as GlobalRequestHandlers)._protocol;
  const handlers = proto?._handlers;
  const own = handlers?.GLOBAL_REQUEST;
  if (!handlers || typeof own !== "function" || typeof proto?.requestSuccess !== "function") return false;
  handlers.GLOBAL_REQUEST = (p, name, wantReply, data) => {
    if (name !== HOSTKEYS_REQUEST) return own(p, name, wantReply, data);
    if (wantReply) (p as { requestSuccess(): void }).requestSuccess();
  };
  return true;
}
