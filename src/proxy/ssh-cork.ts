/**
 * Fewer writes to the SSH connection when many scrapes are in flight. The requests of several clients often
 * arrive in one turn of the event loop, and each became its own write() on the SSH socket (and a wake-up of
 * sshd): strace of the proxy at 16 concurrent scrapes saw ~9 requests per turn. The first request of a turn
 * is written at once (one scrape at a time waits for nothing); from the second on, the connection's stream
 * is corked until setImmediate (the check phase, right after the turn's I/O callbacks), so the rest of the
 * turn's requests leave in one writev.
 *
 * ssh2 1.17 (pinned in package.json) keeps the stream it writes to in `client._sock` (lib/client.js
 * `connect`); a channel reaches its client as `channel._client`. test/proxy/ssh-cork.test.ts fails when that
 * shape changes; until then, nothing is corked and every packet is written at once, as before.
 */
import type { Writable } from "node:stream";
import type { ClientChannel } from "ssh2";

interface Ssh2ChannelClient {
  _client?: { _sock?: Writable };
}

/** The stream ssh2 writes this channel's connection to (a TCP socket, or a channel of a jump host). */
export function sshStream(channel: ClientChannel): Writable | undefined {
  const sock = (channel as unknown as Ssh2ChannelClient)._client?._sock;
  return sock && typeof sock.cork === "function" && typeof sock.uncork === "function" ? sock : undefined;
}

/** Streams a request was written to in this turn, and those corked for the rest of it. */
const written = new WeakSet<Writable>();
const corked = new WeakSet<Writable>();

/** Call before writing a request: the first of a turn goes out at once, the later ones together at its end. */
export function corkForThisTurn(channel: ClientChannel): void {
  const sock = sshStream(channel);
  if (sock === undefined || sock.destroyed) return;
  if (!written.has(sock)) {
    written.add(sock);
    setImmediate(() => {
      written.delete(sock);
      if (corked.delete(sock)) sock.uncork();
    });
    return;
  }
  if (corked.has(sock)) return;
  corked.add(sock);
  sock.cork();
}
