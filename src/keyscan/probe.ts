import { connect as netConnect } from "node:net";
import ssh2 from "ssh2";
import { ScanConnectError, ScanTimeoutError } from "./errors.js";
import { type HostKey, hostKeyFromBlob } from "./host-key.js";

/**
 * ssh2 negotiates exactly one host key algorithm per connection (RFC 4253 §7.1), so a host's keys are
 * collected one connection per key type. The RSA probe lists all three RSA signature algorithms
 * (RFC 8332): they share one `ssh-rsa` key, and old servers only offer `ssh-rsa`.
 */
export const KEY_PROBES: ReadonlyArray<{ type: string; algorithms: string[] }> = [
  { type: "ssh-ed25519", algorithms: ["ssh-ed25519"] },
  { type: "ecdsa-sha2-nistp256", algorithms: ["ecdsa-sha2-nistp256"] },
  { type: "ecdsa-sha2-nistp384", algorithms: ["ecdsa-sha2-nistp384"] },
  { type: "ecdsa-sha2-nistp521", algorithms: ["ecdsa-sha2-nistp521"] },
  { type: "ssh-rsa", algorithms: ["rsa-sha2-512", "rsa-sha2-256", "ssh-rsa"] },
];

const NOT_OFFERED = "Handshake failed: no matching host key format";

export interface ProbeOptions {
  host: string;
  port: number;
  algorithms: string[];
  timeoutMs: number;
}

/**
 * Connects, runs the key exchange restricted to `algorithms`, and hangs up right after it: before any
 * authentication, so no login is needed and nothing is logged as a failed login. Waiting for the end of
 * the key exchange (instead of taking the key in hostVerifier and aborting there) means the server has
 * proven it holds the private key: ssh2 checks the exchange-hash signature only after hostVerifier.
 * Resolves undefined when the server does not offer that algorithm.
 */
export function probeHostKey(opts: ProbeOptions): Promise<HostKey | undefined> {
  return new Promise((resolve, reject) => {
    const sock = netConnect({ host: opts.host, port: opts.port });
    // ssh2 does not set TCP_NODELAY; without it every round trip of the key exchange waits on Nagle.
    sock.setNoDelay(true);
    const client = new ssh2.Client();
    let offered: Buffer | undefined;
    let settled = false;
    const finish = (fn: () => void) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      fn();
      client.end();
      sock.destroy();
    };
    const timer = setTimeout(
      () => finish(() => reject(new ScanTimeoutError(opts.host, opts.port, opts.timeoutMs))),
      opts.timeoutMs,
    );
    client.on("handshake", () => {
      const key = offered && hostKeyFromBlob(offered);
      finish(() =>
        key
          ? resolve(key)
          : reject(new ScanConnectError(opts.host, opts.port, "the server sent a malformed host key")),
      );
    });
    client.on("error", (err: Error & { code?: string }) => {
      if (err.message === NOT_OFFERED) return finish(() => resolve(undefined));
      const dropped = err.code === "ECONNRESET" || err.message === "Connection lost before handshake";
      finish(() =>
        reject(new ScanConnectError(opts.host, opts.port, describe(err), { cause: err }, dropped)),
      );
    });
    client.on("close", () =>
      finish(() =>
        reject(
          new ScanConnectError(
            opts.host,
            opts.port,
            "the connection closed during the key exchange",
            {},
            true,
          ),
        ),
      ),
    );
    client.connect({
      sock,
      host: opts.host,
      port: opts.port,
      username: "sshscrape-keyscan",
      algorithms: { serverHostKey: opts.algorithms as ssh2.ServerHostKeyAlgorithm[] },
      hostVerifier: (key: Buffer) => {
        offered = Buffer.from(key);
        return true;
      },
      readyTimeout: 0,
    });
  });
}

function describe(err: Error & { code?: string; level?: string }): string {
  if (err.code === "ECONNREFUSED") return "connection refused (is sshd running on that port?)";
  if (err.code === "ENOTFOUND" || err.code === "EAI_AGAIN")
    return `cannot resolve the host name (${err.code})`;
  if (err.code === "EHOSTUNREACH" || err.code === "ENETUNREACH") return `no route to host (${err.code})`;
  if (err.code === "ECONNRESET") return "the connection was reset during the key exchange";
  return err.code ? `${err.message} (${err.code})` : err.message;
}
