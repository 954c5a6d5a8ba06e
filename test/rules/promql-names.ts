/**
 * The metric names a PromQL expression reads: what must exist for a rule or a dashboard panel to show
 * anything. A lexer, not a parser: strings, label matchers, ranges and the label lists of by/on/… are dropped,
 * then every identifier that is not a function call, keyword or Grafana variable is a metric name. Enough for
 * the expressions in rules/ and dashboards/, and checked against them (promql-names.test.ts).
 */
const KEYWORDS = new Set([
  "by",
  "without",
  "on",
  "ignoring",
  "group_left",
  "group_right",
  "and",
  "or",
  "unless",
  "offset",
  "bool",
  "inf",
  "nan",
]);

export function metricNames(expr: string): string[] {
  const stripped = expr
    .replace(/"(?:[^"\\]|\\.)*"|'(?:[^'\\]|\\.)*'|`[^`]*`/g, '""')
    .replace(/\{[^}]*\}/g, " ")
    .replace(/\[[^\]]*\]/g, " ")
    .replace(/\b(by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)/g, " ")
    .replace(/\$\{?\w+\}?/g, " ");
  const names = new Set<string>();
  for (const m of stripped.matchAll(/(?<![\w.:])([a-zA-Z_:][\w:]*)(\s*\()?/g)) {
    const [, name, call] = m;
    if (call || KEYWORDS.has((name as string).toLowerCase())) continue;
    names.add(name as string);
  }
  return [...names];
}

/** Grafana's `label_values(METRIC{…}, label)`: the metric a variable reads. */
export function variableMetricNames(query: string): string[] {
  const m = /^\s*label_values\((.*),\s*\w+\s*\)\s*$/.exec(query);
  return m ? metricNames(m[1] as string) : metricNames(query);
}
