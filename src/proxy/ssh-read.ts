/**
 * How the proxy reads its SSH sockets: up to 1 MB per read() instead of Node's 64 KB, into one landing
 * buffer shared by every SSH socket of the process, copied out into a Buffer of exactly the bytes read
 * before ssh2 sees them.
 *
 * Why: with many scrapes in flight sshd's packets queue up on the socket faster than 64 KB reads take them;
 * each read is a syscall, a trip through ssh2's parser, a callback and a writev per client with data in it.
 * Larger reads cut the reads per 100 KB scrape from ~2.8 to ~1.2–1.6 at c=16 and c=64, and the proxy's CPU
 * per scrape by a tenth to a fifth (docs/benchmarks.md, "Syscalls per scrape (issue 14, round 4)"; 1 MB
 * measured better than 256 and 512 KB). The landing buffer is one per process, allocated at the first read;
 * its pages become resident only as far as reads have reached.
 *
 * Why the copy: ssh2 decrypts each packet in place in the buffer it is given and hands the payload onward as
 * a view of that buffer (lib/protocol/crypto.js); the relay writes those views to the client's socket, which
 * keeps them when the client is slow, and ssh2 keeps others during a key exchange. Reusing a buffer would
 * let a later read overwrite bytes still in use: another scrape's bytes could reach a client. The landing
 * buffer is therefore only ever read by the copy, synchronously, in the read's own callback: libuv calls it
 * right after the read() that filled the buffer and before any other socket is read. Every chunk ssh2 gets is
 * its own allocation, as with Node's reads (which allocate 64 KB per read and trim it), so what a retained view
 * keeps alive is unchanged. The copy (~100 KB per scrape) costs less than the reads it saves (measured).
 *
 * The chunk then reaches the socket's 'data' listeners (ssh2's parser, the pool's last-received time) the way
 * the Readable would hand it over: at once when the stream is flowing with nothing buffered, else through
 * `push`, so order and backpressure (`false`: Node stops reading until the stream is resumed) are unchanged.
 *
 * Only for sockets the pool dials itself (pool.ts `dial`); a jump host's channel is read by ssh2 as before.
 */
import { type Socket, connect as tcpConnect } from "node:net";

/** The most one read() of an SSH socket takes. */
export const SSH_READ_BYTES = 1024 * 1024;

let landing: Buffer | undefined;

let soloLanding: Buffer | undefined;

function landingBuffer(): Buffer {
  landing ??= Buffer.allocUnsafeSlow(SSH_READ_BYTES);
  return landing;
}

/** The first SOLO_READ_BYTES of the landing buffer (read batching, below). */
function soloLandingBuffer(): Buffer {
  soloLanding ??= landingBuffer().subarray(0, SOLO_READ_BYTES);
  return soloLanding;
}

/**
 * Read batching (one scrape at a time): while the socket's `batching` predicate (setReadBatching) holds, its
 * reads are at most SOLO_READ_BYTES, and their chunks are held until the check phase of the same turn of the
 * event loop, then handed to ssh2 together.
 *
 * Why: sshd leaves Nagle's algorithm on for a connection that only forwards ports (ack-nudge.ts), so the last
 * short segment of a response waits in sshd's kernel until this side acknowledges an earlier short one. This
 * side's kernel does not acknowledge while the data sits unread (the window it could offer would shrink); it
 * sends the ACK at the read() that takes it (more than one segment unacknowledged), sshd's kernel answers
 * with the held tail at once, and the tail is in this socket's receive queue before read() returns (kernel
 * tracepoints, docs/benchmarks.md, "c=1 latency with default settings"). libuv reads again at once only when
 * a read filled the whole buffer; after a 1 MB read that did not, the tail waited until the first ~99 KB were
 * decrypted, relayed to the client and followed by the ACK nudge, and came with the next wake-up, with its own
 * parse, decrypt and client write. With a 64 KB buffer the read that releases the tail fills it, libuv reads
 * again in the same poll, and both reads reach ssh2 in one pass: one client writev, and no nudge.
 *
 * Chunks keep their order; the end of the stream (push(null)) and a read error (destroy(err)) hand held chunks
 * over first, as Node would have delivered them before.
 */
export const SOLO_READ_BYTES = 64 * 1024;

interface ReadBatch {
  held: Buffer[];
  scheduled: boolean;
  batching: (() => boolean) | undefined;
}

const batches = new WeakMap<object, ReadBatch>();

/**
 * Whether this SSH socket's reads are batched (see ReadBatch), asked at each read; `undefined` to stop.
 * Ignored for streams that are not the pool's own sockets (a jump host's channel).
 */
export function setReadBatching(sock: object, batching: (() => boolean) | undefined): void {
  const b = batches.get(sock);
  if (b !== undefined) b.batching = batching;
}

/** Whether this socket's reads are batched now (for tests). */
export function readsBatched(sock: object): boolean {
  return batches.get(sock)?.batching?.() === true;
}

/** Hands one chunk to the socket's readers the way the Readable would; false: stop reading (backpressure). */
function deliver(sock: Socket, chunk: Buffer): boolean {
  if (sock.readableFlowing === true && sock.readableLength === 0 && !sock.destroyed) {
    sock.emit("data", chunk);
    return true;
  }
  return sock.push(chunk);
}

interface ReadingHandle {
  reading: boolean;
  readStop(): number;
}

/** Hands the held chunks over in order; false: stop reading (backpressure), as deliver. */
function handOver(sock: Socket, b: ReadBatch): boolean {
  const held = b.held;
  if (held.length === 0) return true;
  b.held = [];
  let more = true;
  for (const chunk of held) more = deliver(sock, chunk) && more;
  return more;
}

function release(sock: Socket, b: ReadBatch): void {
  b.scheduled = false;
  if (handOver(sock, b)) return;
  // What Node does when the read callback returns false (lib/internal/stream_base_commons.js onStreamRead).
  const handle = (sock as unknown as { _handle?: ReadingHandle | null })._handle;
  if (handle?.reading && !sock.destroyed) {
    handle.reading = false;
    handle.readStop();
  }
}

/**
 * net.connect with the SSH socket's reads as described above (the options' other fields as given).
 */
export function connectSshSocket(options: { host: string; port: number }): Socket {
  const b: ReadBatch = { held: [], scheduled: false, batching: undefined };
  const sock: Socket = tcpConnect({
    ...options,
    onread: {
      buffer: () => (b.batching?.() === true ? soloLandingBuffer() : landingBuffer()),
      callback: (nread: number, buf: Uint8Array): boolean => {
        // A Buffer of its own (not from the shared pool, whose 8 KB slabs a retained view would pin).
        const chunk = Buffer.allocUnsafeSlow(nread);
        chunk.set(buf.subarray(0, nread));
        // A read that filled the buffer is followed by another one at once (libuv): hold it for that one.
        if (nread === buf.length && b.batching?.() === true) {
          b.held.push(chunk);
          // In case libuv stops after this read (it reads at most 32 times per poll) and nothing follows.
          if (!b.scheduled) {
            b.scheduled = true;
            setImmediate(release, sock, b);
          }
          return true;
        }
        if (b.held.length === 0) return deliver(sock, chunk);
        b.held.push(chunk);
        return handOver(sock, b);
      },
    },
  });
  batches.set(sock, b);
  // The end of the stream and a read error come after the chunks read before them.
  const push = sock.push;
  sock.push = function (this: Socket, chunk: unknown, encoding?: BufferEncoding): boolean {
    if (chunk === null) handOver(this, b);
    return push.call(this, chunk, encoding);
  };
  const destroy = sock.destroy;
  sock.destroy = function (this: Socket, err?: Error): Socket {
    if (err !== undefined && err !== null) handOver(this, b);
    else b.held = [];
    return destroy.call(this, err);
  };
  return sock;
}
