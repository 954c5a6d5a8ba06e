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

function landingBuffer(): Buffer {
  landing ??= Buffer.allocUnsafeSlow(SSH_READ_BYTES);
  return landing;
}

/**
 * net.connect with the SSH socket's reads as described above (the options' other fields as given).
 */
export function connectSshSocket(options: { host: string; port: number }): Socket {
  const sock: Socket = tcpConnect({
    ...options,
    onread: {
      buffer: landingBuffer,
      callback: (nread: number, buf: Uint8Array): boolean => {
        // A Buffer of its own (not from the shared pool, whose 8 KB slabs a retained view would pin).
        const chunk = Buffer.allocUnsafeSlow(nread);
        chunk.set(buf.subarray(0, nread));
        if (sock.readableFlowing === true && sock.readableLength === 0 && !sock.destroyed) {
          sock.emit("data", chunk);
          return true;
        }
        return sock.push(chunk);
      },
    },
  });
  return sock;
}
