import { mapLimit } from "../map-limit.js";
import { NoHostKeysError, ScanConnectError } from "./errors.js";
import type { HostKey } from "./host-key.js";
import { KEY_PROBES, probeHostKey } from "./probe.js";
import { sshKeyscan } from "./ssh-keyscan.js";

export interface ScanOptions {
  timeoutMs: number;
  /** Hosts scanned at once (each host sees one connection at a time). */
  concurrency: number;
  viaSshKeyscan: boolean;
}

export type ScanOutcome = { ok: true; keys: HostKey[] } | { ok: false; error: Error };

/** Scans every host:port; one outcome per input, in input order. Never rejects for a single host. */
export async function scanHosts(
  hosts: ReadonlyArray<{ host: string; port: number }>,
  opts: ScanOptions,
): Promise<ScanOutcome[]> {
  return mapLimit(hosts, opts.concurrency, async ({ host, port }) => {
    try {
      const keys = opts.viaSshKeyscan
        ? await sshKeyscan(host, port, opts.timeoutMs)
        : await probeAll(host, port, opts.timeoutMs);
      return keys.length > 0 ? { ok: true, keys } : { ok: false, error: new NoHostKeysError(host, port) };
    } catch (error) {
      return { ok: false, error: error as Error };
    }
  });
}

/**
 * One connection per key type, one after the other: sshd drops unauthenticated connections beyond
 * MaxStartups (default 10:30:100, sshd_config(5)), so parallel probes of one sshd, or of several names
 * of it, would fail at random. A host that cannot be reached fails on its first probe.
 */
async function probeAll(host: string, port: number, timeoutMs: number): Promise<HostKey[]> {
  const keys: HostKey[] = [];
  for (const probe of KEY_PROBES) {
    const key = await probeOnceMore({ host, port, algorithms: probe.algorithms, timeoutMs });
    if (key) keys.push(key);
  }
  return keys;
}

/** A connection reset before the key exchange is how a busy sshd sheds load (MaxStartups): retry once. */
async function probeOnceMore(opts: Parameters<typeof probeHostKey>[0]): Promise<HostKey | undefined> {
  try {
    return await probeHostKey(opts);
  } catch (err) {
    if (!(err instanceof ScanConnectError) || !err.dropped) throw err;
    await new Promise((r) => setTimeout(r, 200));
    return probeHostKey(opts);
  }
}
