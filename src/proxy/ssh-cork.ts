/**
 * One write to the SSH connection per event-loop turn instead of one per request. With many scrapes in
 * flight, the requests of several clients arrive in one turn of the event loop, and each became its own
 * write() on the SSH socket (and a wake-up of sshd): strace of the proxy at 16 concurrent scrapes saw
 * ~9 requests per turn. Corked until setImmediate (the check phase, right after the turn's I/O callbacks),
 * they leave in one writev; a single request waits only for the rest of its own turn.
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

const corked = new WeakSet<Writable>();

/** Holds the connection's writes until the end of this event-loop turn (once per turn and connection). */
export function corkForThisTurn(channel: ClientChannel): void {
  const sock = sshStream(channel);
  if (sock === undefined || corked.has(sock) || sock.destroyed) return;
  corked.add(sock);
  sock.cork();
  setImmediate(() => {
    corked.delete(sock);
    sock.uncork();
  });
}
