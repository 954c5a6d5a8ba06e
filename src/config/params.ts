/**
 * An exporter's URL parameters (`params` in the target list) in the two shapes Prometheus reads them: a
 * scrape_config's `params` (every value) and, for service discovery, `__param_<name>` target labels.
 * A label holds one string, and Prometheus builds the scrape URL from the job's params with each
 * `__param_<name>` label replacing that parameter's whole list (scrape/target.go), so discovery can carry
 * only single-valued parameters.
 */
export type Params = Record<string, string[]>;

/** The parameters in name order, or undefined when there are none. */
export function sortedParams(params: Params | undefined): Params | undefined {
  if (!params || Object.keys(params).length === 0) return undefined;
  return Object.fromEntries(Object.entries(params).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)));
}

/** `__param_<name>` labels: the first value of each parameter (see multiValued for the rest). */
export function paramLabels(params: Params | undefined): Record<string, string> {
  return Object.fromEntries(
    Object.entries(sortedParams(params) ?? {}).map(([k, v]) => [`__param_${k}`, v[0] as string]),
  );
}

/** Names of parameters with more than one value: discovery (http_sd, file_sd) cannot carry them. */
export function multiValued(params: Params | undefined): string[] {
  return Object.entries(params ?? {})
    .filter(([, v]) => v.length > 1)
    .map(([k]) => k);
}

/** `?module=http_2xx&target=…` (application/x-www-form-urlencoded, as Go's url.Values.Encode), or "". */
export function queryString(params: Params | undefined): string {
  const sp = new URLSearchParams();
  for (const [k, vs] of Object.entries(sortedParams(params) ?? {})) for (const v of vs) sp.append(k, v);
  const q = sp.toString();
  return q ? `?${q}` : "";
}
