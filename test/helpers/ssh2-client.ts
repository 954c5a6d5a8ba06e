/** A bare ssh2 client logged in to a test sshd, for tests of what the proxy relies on in ssh2 itself. */
import { readFileSync } from "node:fs";
import { Client, type ClientChannel, type ConnectConfig } from "ssh2";
import type { Sshd } from "./sshd.js";

/**
 * `extra` adds to (or overrides) the connect options, e.g. `keepaliveInterval`; `afterConnect` runs right
 * after `client.connect()`, before any of the handshake's events.
 */
export async function connectSsh2(
  sshd: Sshd,
  extra: ConnectConfig = {},
  afterConnect?: (client: Client) => void,
): Promise<Client> {
  const client = new Client();
  await new Promise<void>((resolve, reject) => {
    client.once("ready", () => resolve());
    client.once("error", reject);
    client.connect({
      host: "127.0.0.1",
      port: sshd.port,
      username: sshd.user,
      privateKey: readFileSync(sshd.clientKeyPath),
      // Test-only: this sshd's host key is the one the helper just generated.
      hostVerifier: () => true,
      ...extra,
    });
    afterConnect?.(client);
  });
  return client;
}

/** A direct-tcpip channel to 127.0.0.1:port on the sshd's side. */
export function forwardOut(client: Client, port: number): Promise<ClientChannel> {
  return new Promise((resolve, reject) =>
    client.forwardOut("127.0.0.1", 0, "127.0.0.1", port, (err, ch) => (err ? reject(err) : resolve(ch))),
  );
}
