/**
 * The OpenSSH tunnel baseline of scripts/bench.ts and scripts/bench-ab.ts: `ssh -L 127.0.0.1:PORT:127.0.0.1:
 * EXPORTER` to the bench's sshd with the bench's key.
 */
import type { Exporter } from "../test/helpers/exporter.js";
import { freePort, type Started, start, waitFor } from "../test/helpers/processes.js";
import type { Sshd } from "../test/helpers/sshd.js";

/**
 * What a user without sshscrape runs, one persistent OpenSSH tunnel per exporter, at its best:
 * - With a session (`-tt … sleep`), not `-N`: sshd turns Nagle's algorithm off (TCP_NODELAY) on its side of
 *   the SSH connection once it starts a session's command (ssh_packet_set_interactive; pty or not, strace in
 *   docs/benchmarks.md "Latency at c=1"), and `-N` starts none. Under `-N` the tail of each 100 KB answer waited for the client's delayed ACK: a ~40 ms
 *   stall in a few percent of requests, the tunnel's p99 of ~44 ms at c=1 (docs/benchmarks.md, "A fair
 *   baseline"). The ssh client sets TCP_NODELAY on its own sockets either way (strace).
 * - aes128-gcm@openssh.com, as sshscrape's ssh2 negotiates: OpenSSH's default, chacha20-poly1305, costs the
 *   tunnel more CPU per byte on a CPU with AES instructions.
 */
export const BEST_TUNNEL = {
  options: ["-tt", "-c", "aes128-gcm@openssh.com"],
  command: ["exec sleep 2147483647"],
};

/** The old baseline: `ssh -N -L` with OpenSSH's defaults. */
export const PLAIN_TUNNEL = { options: ["-N"], command: [] as string[] };

/**
 * An OpenSSH tunnel, ready when a request through it returns the whole body. `extra` holds the options that
 * make the variant.
 */
export async function startTunnel(
  sshd: Sshd,
  knownHosts: string,
  exporter: Exporter,
  extra: { options: string[]; command: string[] },
): Promise<{ proc: Started; port: number; cipher: string }> {
  const port = await freePort();
  const proc = start("ssh", [
    "-v",
    "-F",
    "/dev/null",
    ...extra.options,
    "-o",
    "BatchMode=yes",
    "-o",
    "ExitOnForwardFailure=yes",
    "-o",
    "IdentitiesOnly=yes",
    "-o",
    "StrictHostKeyChecking=yes",
    "-o",
    `UserKnownHostsFile=${knownHosts}`,
    "-i",
    sshd.clientKeyPath,
    "-p",
    String(sshd.port),
    "-L",
    `127.0.0.1:${port}:127.0.0.1:${exporter.port}`,
    `${sshd.user}@127.0.0.1`,
    ...extra.command,
  ]);
  await waitFor(
    `the ssh tunnel\n${proc.output()}`,
    async () => {
      if (proc.child.exitCode !== null) throw new Error(`ssh exited: ${proc.output()}`);
      const res = await fetch(`http://127.0.0.1:${port}/metrics`);
      return (await res.arrayBuffer()).byteLength === exporter.body.length;
    },
    15_000,
  );
  const cipher = /server->client cipher: (\S+)/.exec(proc.output())?.[1] ?? "?";
  return { proc, port, cipher };
}
