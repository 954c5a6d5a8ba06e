import type { CheckResult, ExporterCheck } from "./index.js";

/** Human-readable size: bytes below 10 kB, then kB/MB with one decimal. */
function size(bytes: number | undefined): string {
  if (bytes === undefined) return "-";
  if (bytes < 10_000) return `${bytes} B`;
  if (bytes < 10_000_000) return `${(bytes / 1000).toFixed(1)} kB`;
  return `${(bytes / 1_000_000).toFixed(1)} MB`;
}

function row(e: ExporterCheck): string[] {
  return [
    e.target,
    e.job,
    e.scheme,
    e.ok ? `${e.status}` : `FAIL${e.status ? ` ${e.status}` : ""}`,
    `${Math.round(e.latencyMs)} ms`,
    size(e.bytes),
    e.samples === undefined ? "-" : String(e.samples),
  ];
}

/** The table `sshscrape check` prints for people: one row per exporter, columns aligned. */
export function formatTable(result: CheckResult): string[] {
  const rows = [
    ["TARGET", "JOB", "SCHEME", "STATUS", "LATENCY", "BYTES", "SAMPLES"],
    ...result.exporters.map(row),
  ];
  const widths = rows[0]?.map((_, i) => Math.max(...rows.map((r) => (r[i] ?? "").length))) ?? [];
  const right = new Set([4, 5, 6]);
  return rows.map((r) =>
    r
      .map((cell, i) => (right.has(i) ? cell.padStart(widths[i] ?? 0) : cell.padEnd(widths[i] ?? 0)))
      .join("  ")
      .trimEnd(),
  );
}

/** One line per failed exporter: where, and the cause the proxy (or the connection) gave. */
export function formatFailures(result: CheckResult): string[] {
  return result.exporters.filter((e) => !e.ok).map((e) => `${e.url} (job ${e.job}): ${e.error ?? "failed"}`);
}

export function summary(result: CheckResult): string {
  return result.ok
    ? `${result.total} exporter${result.total === 1 ? "" : "s"} OK via ${result.direct ? "an in-process proxy (--direct)" : result.proxy}`
    : `${result.failed} of ${result.total} exporter${result.total === 1 ? "" : "s"} failed`;
}
