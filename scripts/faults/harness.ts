/**
 * The fault matrix's shared vocabulary: a row is one fault from issue 6 with the behaviour we expect, and
 * its run() returns what was measured. Every verdict comes from a `Checks` list, so the observed column is
 * built from the same numbers the pass/fail decision used.
 */

export interface RowResult {
  observed: string;
  pass: boolean;
  /** Markdown printed under the table (per-probe or per-category breakdowns). */
  details?: string[];
}

export interface Row {
  id: number;
  fault: string;
  expected: string;
  /** Upper bound for the whole row; a row that overruns it fails instead of stalling the run. */
  budgetMs: number;
  run(): Promise<RowResult>;
}

interface Item {
  ok: boolean;
  detail: string;
}

/** Measured facts and whether each met the expectation; failed ones are marked ✗ in the observed text. */
export class Checks {
  private readonly items: Item[] = [];

  check(ok: boolean, detail: string): boolean {
    this.items.push({ ok, detail });
    return ok;
  }

  /** A fact reported for context that has no verdict of its own. */
  note(detail: string): void {
    this.items.push({ ok: true, detail });
  }

  get ok(): boolean {
    return this.items.every((i) => i.ok);
  }

  readonly details: string[] = [];

  result(): RowResult {
    return {
      pass: this.ok && this.items.length > 0,
      observed: this.items.map((i) => (i.ok ? i.detail : `✗ ${i.detail}`)).join("; "),
      details: this.details.length > 0 ? this.details : undefined,
    };
  }
}

export function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

/** Polls until `check` returns a truthy value; returns it, or undefined after `timeoutMs`. */
export async function poll<T>(
  check: () => Promise<T> | T,
  timeoutMs: number,
  everyMs = 100,
): Promise<T | undefined> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    try {
      const v = await check();
      if (v) return v;
    } catch {
      // not yet
    }
    if (Date.now() >= deadline) return undefined;
    await sleep(everyMs);
  }
}

/** A response body as a short quotation for the observed column. */
export function quote(body: Buffer | string, max = 120): string {
  const t = body.toString().replace(/\s+/g, " ").trim();
  return `"${t.length > max ? `${t.slice(0, max - 1)}…` : t}"`;
}

export function ms(n: number): string {
  return n >= 10_000 ? `${(n / 1000).toFixed(1)} s` : `${Math.round(n)} ms`;
}

export function mb(kb: number): string {
  return `${(kb / 1024).toFixed(1)} MB`;
}

/** Counts of equal values, e.g. statuses: `200×97, 502×3`. */
export function histogram(values: Array<string | number>): string {
  const counts = new Map<string, number>();
  for (const v of values) counts.set(String(v), (counts.get(String(v)) ?? 0) + 1);
  return [...counts.entries()]
    .sort((a, b) => b[1] - a[1])
    .map(([k, n]) => `${k}×${n}`)
    .join(", ");
}

/** One line of at most `max` characters, safe inside a markdown table cell. */
export function cell(text: string, max = 160): string {
  const one = text.replace(/\s+/g, " ").replace(/\|/g, "\\|").trim();
  return one.length > max ? `${one.slice(0, max - 1)}…` : one;
}
