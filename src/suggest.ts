/** Near-miss suggestions for mistyped names (commands, keys): the closest by edit distance, if close enough. */

/** Levenshtein distance, case-insensitive (a typo's case is rarely the point). */
export function editDistance(a: string, b: string): number {
  const s = a.toLowerCase();
  const t = b.toLowerCase();
  let prev = Array.from({ length: t.length + 1 }, (_, j) => j);
  for (let i = 1; i <= s.length; i++) {
    const row = [i];
    for (let j = 1; j <= t.length; j++)
      row[j] = Math.min(
        (prev[j] as number) + 1,
        (row[j - 1] as number) + 1,
        (prev[j - 1] as number) + (s[i - 1] === t[j - 1] ? 0 : 1),
      );
    prev = row;
  }
  return prev[t.length] as number;
}

/** A unique prefix (`gen` → generate), else the nearest within two edits (or a third of the name). */
export function closestCommand(typed: string, names: readonly string[]): string | undefined {
  if (!typed) return undefined;
  const prefixed = names.filter((n) => n.startsWith(typed));
  if (prefixed.length === 1) return prefixed[0];
  return closest(typed, names);
}

export function closest(typed: string, names: readonly string[]): string | undefined {
  const limit = Math.max(2, Math.floor(typed.length / 3));
  let best: { name: string; d: number } | undefined;
  for (const name of names) {
    const d = editDistance(typed, name);
    if (d <= limit && (!best || d < best.d)) best = { name, d };
  }
  return best?.name;
}
