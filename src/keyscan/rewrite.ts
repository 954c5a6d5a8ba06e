import { extname } from "node:path";
import { isMap, isScalar, isSeq, type Node, parseDocument, type YAMLMap, type YAMLSeq } from "yaml";
import { SshscrapeError } from "../errors.js";

export interface KeysUpdate {
  /** ["targets", 0, "hostKeys"] or ["targets", 0, "ssh", "jump", "hostKeys"]. */
  path: Array<string | number>;
  keys: string[];
}

/** The edited file did not come out as intended; nothing is written. */
export class RewriteError extends SshscrapeError {
  readonly code = "KEYSCAN_REWRITE";
}

/**
 * Returns `source` with the `hostKeys` lists at the given paths replaced. YAML is edited as text at the
 * positions the `yaml` Document API reports, so comments, quoting, flow/block style and blank lines
 * everywhere else stay byte for byte (a re-serialised document would reflow them). JSON is re-serialised as
 * JSON with its original indentation. The result is parsed again and checked before it is returned.
 */
export function rewriteHostKeys(source: string, file: string, updates: readonly KeysUpdate[]): string {
  const out =
    extname(file).toLowerCase() === ".json" ? rewriteJson(source, updates) : rewriteYaml(source, updates);
  const check = parseDocument(out);
  for (const u of updates) {
    const got =
      check.errors.length === 0 ? (check.getIn(u.path) as { toJSON?: () => unknown } | undefined) : undefined;
    const value = got && typeof got.toJSON === "function" ? got.toJSON() : got;
    if (JSON.stringify(value) !== JSON.stringify(u.keys))
      throw new RewriteError(
        `${file}: could not update ${u.path.join(".")} in place (the edited file did not read back as intended); nothing written. Add the keys by hand or report this.`,
      );
  }
  return out;
}

interface Edit {
  start: number;
  end: number;
  text: string;
}

const quote = (s: string) => JSON.stringify(s);

function rewriteYaml(source: string, updates: readonly KeysUpdate[]): string {
  const doc = parseDocument(source);
  const edits: Edit[] = [];
  for (const u of updates) {
    const node = doc.getIn(u.path, true) as Node | undefined;
    if (isSeq(node)) edits.push(...editSeq(source, node as YAMLSeq, u.keys));
    else if (node === undefined) {
      const parent = doc.getIn(u.path.slice(0, -1), true);
      if (!isMap(parent)) throw new RewriteError(`${u.path.slice(0, -1).join(".")} is not a mapping`);
      edits.push(insertKey(source, parent as YAMLMap, String(u.path.at(-1)), u.keys));
    } else throw new RewriteError(`${u.path.join(".")} is not a list`);
  }
  edits.sort((a, b) => b.start - a.start);
  let out = source;
  for (const e of edits) out = out.slice(0, e.start) + e.text + out.slice(e.end);
  return out;
}

function editSeq(source: string, seq: YAMLSeq, keys: string[]): Edit[] {
  const range = seq.range;
  if (!range) throw new RewriteError("list without a position");
  const items = seq.items.filter(isScalar);
  if (items.length !== seq.items.length || items.length > keys.length)
    throw new RewriteError("unexpected list shape");
  if (items.length === 0)
    return [{ start: range[0], end: range[1], text: `[${keys.map(quote).join(", ")}]` }];
  const edits: Edit[] = [];
  items.forEach((item, i) => {
    if (item.value !== keys[i] && item.range)
      edits.push({ start: item.range[0], end: item.range[1], text: quote(keys[i] as string) });
  });
  const extra = keys.slice(items.length);
  const last = items.at(-1)?.range;
  if (extra.length > 0 && last) {
    if (seq.flow)
      edits.push({ start: last[1], end: last[1], text: extra.map((k) => `, ${quote(k)}`).join("") });
    else {
      // After the last item's line (past any trailing comment), at the column of its "-".
      const eol = lineEnd(source, last[1]);
      const indent = " ".repeat(column(source, range[0]));
      edits.push({ start: eol, end: eol, text: extra.map((k) => `\n${indent}- ${quote(k)}`).join("") });
    }
  }
  return edits;
}

/** Adds `key: [...]` right after the map's `host` entry (every map that gets host keys has one). */
function insertKey(source: string, map: YAMLMap, key: string, keys: string[]): Edit {
  const anchor = map.items.find((p) => isScalar(p.key) && p.key.value === "host") ?? map.items.at(-1);
  const keyNode = anchor?.key as Node | undefined;
  const valueNode = anchor?.value as Node | undefined;
  const after = valueNode?.range?.[1] ?? keyNode?.range?.[1];
  if (after === undefined || !keyNode?.range) throw new RewriteError("mapping without a position");
  if (map.flow) return { start: after, end: after, text: `, ${key}: [${keys.map(quote).join(", ")}]` };
  const indent = " ".repeat(column(source, keyNode.range[0]));
  const eol = lineEnd(source, after);
  return {
    start: eol,
    end: eol,
    text: `\n${indent}${key}:${keys.map((k) => `\n${indent}  - ${quote(k)}`).join("")}`,
  };
}

function lineEnd(source: string, pos: number): number {
  const nl = source.indexOf("\n", pos);
  return nl === -1 ? source.length : nl;
}

function column(source: string, pos: number): number {
  return pos - (source.lastIndexOf("\n", pos - 1) + 1);
}

function rewriteJson(source: string, updates: readonly KeysUpdate[]): string {
  const data = JSON.parse(source) as Record<string, unknown>;
  for (const u of updates) {
    const parent = u.path
      .slice(0, -1)
      .reduce<unknown>((node, seg) => (node as Record<string, unknown>)?.[seg], data);
    if (!parent || typeof parent !== "object" || Array.isArray(parent))
      throw new RewriteError(`${u.path.slice(0, -1).join(".")} is not an object`);
    const obj = parent as Record<string, unknown>;
    const key = String(u.path.at(-1));
    if (key in obj) obj[key] = u.keys;
    else {
      // Rebuild so the new key sits right after "host", where a reader looks for it.
      const entries = Object.entries(obj);
      const at = entries.findIndex(([k]) => k === "host") + 1 || entries.length;
      entries.splice(at, 0, [key, u.keys]);
      for (const k of Object.keys(obj)) delete obj[k];
      Object.assign(obj, Object.fromEntries(entries));
    }
  }
  const indent = /^[ \t]+(?=")/m.exec(source)?.[0] ?? "  ";
  return `${JSON.stringify(data, null, indent)}${source.endsWith("\n") ? "\n" : ""}`;
}
