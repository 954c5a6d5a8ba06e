/**
 * Sample lines in a Prometheus text exposition (or OpenMetrics) body: every line that is neither empty nor
 * a comment. "Lines with a # as the first non-whitespace character are comments" — exposition formats,
 * text-based format; `# HELP`, `# TYPE` and OpenMetrics' `# EOF` are comments by that rule.
 */
export function countSamples(body: string): number {
  let n = 0;
  for (const line of body.split("\n")) {
    const t = line.trim();
    if (t !== "" && !t.startsWith("#")) n++;
  }
  return n;
}
