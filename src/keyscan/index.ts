import { readFileSync, renameSync, statSync, writeFileSync } from "node:fs";
import { basename, dirname, join } from "node:path";
import { ConfigReadError, joinHostPort, parseConfig } from "../config/index.js";
import { formatPath } from "../config/path.js";
import { isSshscrapeError, type SshscrapeError } from "../errors.js";
import { HostKeyChangedError, type KeyChange, ScanFailedError } from "./errors.js";
import { describeKey, mergeKeys } from "./merge.js";
import { type Endpoint, planEndpoints } from "./plan.js";
import { type KeysUpdate, rewriteHostKeys } from "./rewrite.js";
import { scanHosts } from "./scan.js";
import { assertSshKeyscanOnPath } from "./ssh-keyscan.js";

export * from "./errors.js";
export { fingerprint, formatHostKey, type HostKey } from "./host-key.js";

export interface KeyscanOptions {
  file: string;
  /** Accept keys that differ from the recorded ones (replacing them in place). */
  update?: boolean;
  /** Only report; leave the file alone. */
  dryRun?: boolean;
  viaSshKeyscan?: boolean;
  /** Per connection: TCP connect plus key exchange. */
  timeoutMs?: number;
  /** Hosts scanned at once. */
  concurrency?: number;
}

export interface ScannedKey {
  type: string;
  /** `type base64`, as written into hostKeys. */
  key: string;
  fingerprint: string;
}

export interface ScannedHost {
  host: string;
  port: number;
  role: "target" | "jump";
  /** Where in the file this host's keys are recorded, e.g. `targets[0].hostKeys`. */
  paths: string[];
  /** Every key the host offered. */
  keys: ScannedKey[];
  added: ScannedKey[];
  changed: KeyChange[];
  /** Recorded keys of a type the host did not offer. */
  notOffered: string[];
  error?: { code: string; message: string };
}

export interface KeyscanResult {
  file: string;
  /** True when the file was rewritten. */
  written: boolean;
  hosts: ScannedHost[];
  /** False when a host failed or a recorded key changed without --update (the CLI exits 1). */
  ok: boolean;
}

/**
 * Scans every sshd of the target list (targets and jump hosts) and records the offered host keys in the
 * file. A key that differs from a recorded one blocks the write unless `update` is set; hosts that could
 * not be scanned are reported and the keys of the others are still written.
 */
export async function keyscan(opts: KeyscanOptions): Promise<KeyscanResult> {
  const { file } = opts;
  const source = readSource(file);
  const { config } = parseConfig(source, file);
  if (opts.viaSshKeyscan) assertSshKeyscanOnPath();
  const endpoints = planEndpoints(config);
  const outcomes = await scanHosts(endpoints, {
    timeoutMs: opts.timeoutMs ?? 5000,
    concurrency: opts.concurrency ?? 32,
    viaSshKeyscan: opts.viaSshKeyscan ?? false,
  });

  const updates: KeysUpdate[] = [];
  const hosts = endpoints.map((ep, i): ScannedHost => {
    const outcome = outcomes[i];
    const base = {
      host: ep.host,
      port: ep.port,
      role: ep.role,
      paths: ep.slots.map((s) => formatPath(s.path)),
    };
    if (!outcome?.ok) {
      const error = outcome?.error ?? new Error("not scanned");
      return {
        ...base,
        keys: [],
        added: [],
        changed: [],
        notOffered: [],
        error: { code: isSshscrapeError(error) ? error.code : "KEYSCAN_CONNECT", message: error.message },
      };
    }
    return { ...base, ...mergeEndpoint(ep, outcome.keys, opts.update ?? false, updates) };
  });

  const blocked = hosts.some((h) => h.changed.length > 0) && !opts.update;
  let written = false;
  if (!opts.dryRun && !blocked && updates.length > 0) {
    writeAtomically(file, rewriteHostKeys(source, file, updates));
    written = true;
  }
  return { file, written, hosts, ok: !blocked && hosts.every((h) => !h.error) };
}

function mergeEndpoint(
  ep: Endpoint,
  offered: Parameters<typeof mergeKeys>[1],
  update: boolean,
  updates: KeysUpdate[],
): Omit<ScannedHost, "host" | "port" | "role" | "paths"> {
  const added = new Map<string, ScannedKey>();
  const changed: KeyChange[] = [];
  const notOffered = new Set<string>();
  for (const slot of ep.slots) {
    const m = mergeKeys(slot.recorded, offered, update);
    if (m.modified) updates.push({ path: slot.path, keys: m.keys });
    for (const k of m.added) added.set(k.blob.toString("base64"), describeKey(k));
    for (const line of m.notOffered) notOffered.add(line);
    for (const c of m.changed) {
      const recorded = describeKey(c.recordedKey);
      const offeredKey = describeKey(c.offered);
      changed.push({
        path: formatPath(slot.path),
        host: ep.host,
        port: ep.port,
        type: c.offered.type,
        recorded: recorded.key,
        recordedFingerprint: recorded.fingerprint,
        offered: offeredKey.key,
        offeredFingerprint: offeredKey.fingerprint,
      });
    }
  }
  return { keys: offered.map(describeKey), added: [...added.values()], changed, notOffered: [...notOffered] };
}

/**
 * The error the CLI exits with for a finished scan, or undefined when all went well. Changed keys come
 * first: they are the one outcome that may mean an attack.
 */
export function keyscanFailure(result: KeyscanResult, update = false): SshscrapeError | undefined {
  const changes = result.hosts.flatMap((h) => h.changed);
  const failures = result.hosts.filter((h) => h.error);
  if (changes.length > 0 && !update)
    return new HostKeyChangedError(
      result.file,
      changes,
      failures.map((h) => h.error?.message ?? `${describeHost(h)}: failed`),
    );
  if (failures.length > 0)
    return new ScanFailedError(
      failures.map((h) => ({ host: h.host, port: h.port, message: h.error?.message ?? "failed" })),
    );
  return undefined;
}

/** known_hosts lines (`[host]:port type base64`, plain `host` on port 22) for every scanned key. */
export function knownHostsLines(result: KeyscanResult): string[] {
  return result.hosts.flatMap((h) =>
    h.keys.map((k) => `${h.port === 22 ? h.host : `[${h.host}]:${h.port}`} ${k.key}`),
  );
}

export function describeHost(h: ScannedHost): string {
  return joinHostPort(h.host, h.port);
}

function readSource(file: string): string {
  try {
    return readFileSync(file, "utf8");
  } catch (err) {
    throw new ConfigReadError(file, err as NodeJS.ErrnoException);
  }
}

/** Temp file in the same directory, then rename: a crash never leaves a half-written target list. */
function writeAtomically(file: string, text: string): void {
  const tmp = join(dirname(file), `.${basename(file)}.${process.pid}.tmp`);
  const mode = statSync(file).mode & 0o7777;
  writeFileSync(tmp, text, { mode });
  renameSync(tmp, file);
}
