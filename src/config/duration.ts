/**
 * Prometheus-style durations ("30s", "1m30s", "500ms", "1h"), the same grammar prometheus.yml uses
 * (prometheus/common model.ParseDuration), so a value can be copied between the two files unchanged.
 */
const UNITS_MS = {
  y: 31_536_000_000,
  w: 604_800_000,
  d: 86_400_000,
  h: 3_600_000,
  m: 60_000,
  s: 1_000,
  ms: 1,
};
export const DURATION_PATTERN = /^((\d+)y)?((\d+)w)?((\d+)d)?((\d+)h)?((\d+)m)?((\d+)s)?((\d+)ms)?$/;

export function isDuration(text: string): boolean {
  return text !== "" && DURATION_PATTERN.test(text);
}

/** Milliseconds in a duration string; throws on anything `isDuration` rejects. */
export function parseDuration(text: string): number {
  const m = DURATION_PATTERN.exec(text);
  if (!m || text === "")
    throw new RangeError(`not a duration: ${JSON.stringify(text)} (expected e.g. 30s, 1m30s, 500ms)`);
  const parts = [m[2], m[4], m[6], m[8], m[10], m[12], m[14]];
  const scale = [UNITS_MS.y, UNITS_MS.w, UNITS_MS.d, UNITS_MS.h, UNITS_MS.m, UNITS_MS.s, UNITS_MS.ms];
  return parts.reduce((sum, p, i) => sum + (p ? Number(p) * (scale[i] ?? 0) : 0), 0);
}

/**
 * A duration given on the command line, read the same way by every command: a Prometheus duration ("10s",
 * "1m30s") or a bare number of seconds ("5", "2.5"), as sshified's --timeout takes it. Returns milliseconds;
 * throws RangeError with a message naming `flag`, expected and found.
 */
export function parseDurationFlag(text: string, flag: string): number {
  if (/^\d+(\.\d+)?$/.test(text)) return Math.round(Number(text) * 1000);
  if (isDuration(text)) return parseDuration(text);
  throw new RangeError(`${flag}: expected seconds or a duration like "10s", got ${JSON.stringify(text)}`);
}
