/**
 * The MTU-1500 network of scripts/bench.ts and scripts/bench-ab.ts: the calling script run again inside a new
 * network namespace (`unshare -n`) whose loopback has MTU 1500, as on a real network (the host's 64 KB
 * loopback MTU hides per-packet costs: 100 KB is two TCP segments there, ~70 at 1500). The child gets the
 * same arguments plus `--in-netns`; the namespace goes away with it. Needs root (or user namespaces).
 */
import { type SpawnSyncOptions, type SpawnSyncReturns, spawnSync } from "node:child_process";

export function rerunInNetns(
  script: string,
  args: string[],
  options: SpawnSyncOptions & { encoding: "utf8" },
): SpawnSyncReturns<string>;
export function rerunInNetns(
  script: string,
  args: string[],
  options: SpawnSyncOptions,
): SpawnSyncReturns<Buffer>;
export function rerunInNetns(script: string, args: string[], options: SpawnSyncOptions) {
  return spawnSync(
    "unshare",
    [
      "-n",
      "--",
      "sh",
      "-c",
      'ip link set lo mtu 1500 up && exec "$@"',
      "sh",
      process.execPath,
      "--import",
      "tsx",
      script,
      ...args,
      "--in-netns",
    ],
    options,
  );
}
