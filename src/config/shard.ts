/**
 * Which shard a target belongs to, computed exactly as Prometheus' `hashmod` relabel action does, so the
 * generated `relabel_configs` (Prometheus side) and the proxy's allowlist (sshscrape side) agree on every
 * target. Prometheus (model/relabel/relabel.go, `case HashMod`) takes the MD5 of the concatenated source
 * label values and reduces its last 8 bytes, read as a big-endian uint64, modulo `modulus`.
 *
 * Targets are sharded by host, not by host:port: every exporter of a host lands on the same shard, so a host
 * is reached over exactly one pooled SSH connection fleet-wide. The relabel rules first copy the host part of
 * `__address__` into a temporary label and hash that (`hashmod` ignores `regex`, so it takes two steps).
 */
import { createHash } from "node:crypto";
import { UsageError } from "../errors.js";
import { joinHostPort } from "./host.js";
import type { Config } from "./schema.js";

export interface Shards {
  count: number;
  index: number;
}

/** The temporary labels the relabel rules use (Prometheus drops `__tmp_*` labels after relabeling). */
export const SHARD_HOST_LABEL = "__tmp_sshscrape_host";
export const SHARD_LABEL = "__tmp_sshscrape_shard";

/** `hashmod` of `value`: MD5, last 8 bytes as big-endian uint64, modulo `modulus`. */
export function hashmod(value: string, modulus: number): number {
  const digest = createHash("md5").update(value, "utf8").digest();
  return Number(digest.readBigUInt64BE(8) % BigInt(modulus));
}

/** The host part of the `__address__` Prometheus sees for `host`: as written, IPv6 in brackets. */
export function shardKey(host: string): string {
  const address = joinHostPort(host, 1);
  return address.slice(0, address.lastIndexOf(":"));
}

/** The shard (0 … count-1) whose Prometheus scrapes `host` (as written in the target list). */
export function shardOf(host: string, count: number): number {
  return count <= 1 ? 0 : hashmod(shardKey(host), count);
}

/** True when `host` is scraped by shard `shards.index` (always, without sharding). */
export function inShard(host: string, shards: Shards | undefined): boolean {
  return !shards || shardOf(host, shards.count) === shards.index;
}

/**
 * `relabel_configs` that keep only shard `index` of `count`, in Prometheus' own key names: copy the host part
 * of `__address__` (everything before the last `:PORT`), hash it, keep the matching shard. Empty for one shard.
 */
export function shardRelabelConfigs(shards: Shards | undefined): Array<Record<string, unknown>> {
  if (!shards || shards.count <= 1) return [];
  return [
    {
      source_labels: ["__address__"],
      regex: "(.+):[0-9]+",
      target_label: SHARD_HOST_LABEL,
      replacement: "$1",
      action: "replace",
    },
    {
      source_labels: [SHARD_HOST_LABEL],
      modulus: shards.count,
      target_label: SHARD_LABEL,
      action: "hashmod",
    },
    { source_labels: [SHARD_LABEL], regex: String(shards.index), action: "keep" },
  ];
}

/** The list with `shards.index` replaced by `index` (a per-host flag such as `--shard`), checked against count. */
export function withShardIndex(
  loaded: { file: string; config: Config },
  index: number,
  flag: string,
): Config {
  const { file, config } = loaded;
  if (!config.shards)
    throw new UsageError(`${flag} ${index}: ${file} has no shards setting; add shards: { count: N }`);
  if (!Number.isInteger(index) || index < 0 || index >= config.shards.count)
    throw new UsageError(
      `${flag} ${index}: expected 0 … ${config.shards.count - 1} (${file}: shards.count is ${config.shards.count})`,
    );
  return { ...config, shards: { count: config.shards.count, index } };
}
