import { mapLimit } from "../map-limit.js";
import { NoHostKeysError } from "./errors.js";
import type { HostKey } from "./host-key.js";
import { KEY_PROBES, probeHostKey } from "./probe.js";
import { sshKeyscan } from "./ssh-keyscan.js";

export interface ScanOptions {
  timeoutMs: number;
  /** Connections in flight at once (ssh2) or ssh-keyscan processes at once. */
  concurrency: number;
  viaSshKeyscan: boolean;
}

export type ScanOutcome = { ok: true; keys: HostKey[] } | { ok: false; error: Error };

/** Scans every host:port; one outcome per input, in input order. Never rejects for a single host. */
export async function scanHosts(
  hosts: ReadonlyArray<{ host: string; port: number }>,
  opts: ScanOptions,
): Promise<ScanOutcome[]> {
  if (opts.viaSshKeyscan)
    return mapLimit(hosts, opts.concurrency, async ({ host, port }) =>
      settle(() => sshKeyscan(host, port, opts.timeoutMs)),
    );
  // One connection per (host, key type), all sharing one concurrency bound.
  const tasks = hosts.flatMap((h, hi) => KEY_PROBES.map((p) => ({ hi, ...h, algorithms: p.algorithms })));
  const found = await mapLimit(tasks, opts.concurrency, (t) =>
    settle(() =>
      probeHostKey({ host: t.host, port: t.port, algorithms: t.algorithms, timeoutMs: opts.timeoutMs }),
    ),
  );
  return hosts.map(({ host, port }, hi) => {
    const mine = found.filter((_, ti) => tasks[ti]?.hi === hi);
    const failed = mine.find((r) => !r.ok);
    if (failed && !failed.ok) return failed;
    const keys = mine.flatMap((r) => (r.ok && r.keys[0] ? r.keys : []));
    return keys.length > 0 ? { ok: true, keys } : { ok: false, error: new NoHostKeysError(host, port) };
  });
}

async function settle(fn: () => Promise<HostKey | HostKey[] | undefined>): Promise<ScanOutcome> {
  try {
    const r = await fn();
    return { ok: true, keys: r === undefined ? [] : Array.isArray(r) ? r : [r] };
  } catch (error) {
    return { ok: false, error: error as Error };
  }
}
