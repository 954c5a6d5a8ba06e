import { readFileSync } from "node:fs";
import { createRequire } from "node:module";
import { extname } from "node:path";
import type { Document, LineCounter } from "yaml";
import type { z } from "zod";
import { ConfigReadError, ConfigSyntaxError, ConfigValidationError, type Problem } from "./errors.js";
import { describeFound, unknownKeyMessage, valueAt } from "./messages.js";
import { formatPath } from "./path.js";
import { readFast } from "./read-fast.js";
import { type Config, configSchema } from "./schema.js";

// The `yaml` package is loaded only when a list needs its positions (see parseConfig), so a valid list
// does not pay for loading it.
const require = createRequire(import.meta.url);
const loadYaml = (): typeof import("yaml") => require("yaml");

export interface LoadedConfig {
  file: string;
  config: Config;
}

/** Reads, parses (YAML, or JSON for *.json) and validates a target list; throws the typed config errors. */
export function loadConfig(file: string): LoadedConfig {
  let source: string;
  try {
    source = readFileSync(file, "utf8");
  } catch (err) {
    throw new ConfigReadError(file, err as NodeJS.ErrnoException);
  }
  return parseConfig(source, file);
}

/** Parses and validates target-list text; `file` only names it in messages and picks JSON vs YAML. */
export function parseConfig(source: string, file: string): LoadedConfig {
  // Valid lists, the common case, take the fast reader; everything else is read again below for positions.
  const fast = readFast(source);
  if (fast) {
    const result = configSchema.safeParse(fast.data ?? {});
    if (result.success) return { file, config: result.data };
  }
  const { LineCounter, parseDocument } = loadYaml();
  const lines = new LineCounter();
  // JSON is a subset of YAML 1.2, so one parser serves both and gives positions for both.
  const doc = parseDocument(source, { lineCounter: lines, prettyErrors: true, uniqueKeys: true });
  if (doc.errors.length > 0) {
    throw new ConfigSyntaxError(
      file,
      doc.errors.map((e) => ({
        path: "",
        message: `${extname(file) === ".json" ? "JSON" : "YAML"} syntax error: ${e.message.split("\n")[0]?.replace(/ at line \d+, column \d+:?$/, "")}`,
        line: e.linePos?.[0].line,
        column: e.linePos?.[0].col,
      })),
    );
  }
  const data = toData(doc, file);
  const result = configSchema.safeParse(data ?? {});
  if (!result.success) {
    throw new ConfigValidationError(
      file,
      toProblems(result.error, (path, at) => positionOf(doc, lines, path, at), data),
    );
  }
  return { file, config: result.data };
}

/**
 * The document as plain data. The `yaml` package refuses to expand aliases into more than maxAliasCount
 * nodes (a "billion laughs" list would otherwise take all memory) by throwing a ReferenceError, and a deep
 * enough nesting overflows the stack with a RangeError: both are problems of the file, so they are reported
 * like syntax errors, naming it (exit 2), not as a crash.
 */
function toData(doc: Document, file: string): unknown {
  try {
    return doc.toJS({ maxAliasCount: 100 });
  } catch (err) {
    if (!(err instanceof ReferenceError || err instanceof RangeError)) throw err;
    throw new ConfigSyntaxError(file, [
      {
        path: "",
        message:
          err instanceof ReferenceError
            ? "YAML aliases expand to too many nodes (an alias bomb, or anchors reused far more than a target list needs); write the values out instead of using * aliases"
            : `YAML too deeply nested to read (${err.message})`,
      },
    ]);
  }
}

type Locate = (
  path: ReadonlyArray<PropertyKey>,
  at?: "key" | "value",
) => { line: number; column: number } | undefined;

export function toProblems(error: z.ZodError, locate: Locate = () => undefined, data?: unknown): Problem[] {
  const problems = error.issues.flatMap((issue): Problem[] => {
    // One problem per unknown key, at the key itself, so the position points where the typo is.
    if (issue.code === "unrecognized_keys")
      return issue.keys.map((key) => {
        const path = [...issue.path, key];
        const pos = locate(path, "key");
        return {
          path: formatPath(path),
          message: unknownKeyMessage(key, issue.path),
          ...(pos ? { line: pos.line, column: pos.column } : {}),
        };
      });
    const value = data === undefined ? undefined : valueAt(data, issue.path);
    let message = issue.message;
    if (issue.code === "invalid_type" && message.startsWith("Invalid input"))
      message = `expected ${issue.expected}`;
    if (data !== undefined && issue.code === "invalid_type" && value === undefined)
      message = `required but missing (${message})`;
    // A value of the wrong type says what it was; a wrong value of the right type is on the quoted line.
    else if (data !== undefined && issue.code === "invalid_type" && message.startsWith("expected "))
      message = `${message}, got ${describeFound(value)}`;
    const pos = locate(issue.path);
    return [
      { path: formatPath(issue.path), message, ...(pos ? { line: pos.line, column: pos.column } : {}) },
    ];
  });
  // One line per distinct problem; zod reports some twice (e.g. union branches).
  const seen = new Set<string>();
  return problems.filter((p) => {
    const k = `${p.path}\0${p.message}`;
    if (seen.has(k)) return false;
    seen.add(k);
    return true;
  });
}

function positionOf(
  doc: Document,
  lines: LineCounter,
  path: ReadonlyArray<PropertyKey>,
  at: "key" | "value" = "value",
) {
  const { isMap, isSeq } = loadYaml();
  // Walk as deep as the document goes; a missing key is reported at its parent.
  let node: unknown = doc.contents;
  for (const [i, seg] of path.entries()) {
    if (isMap(node)) {
      const pair = node.items.find((p) => (p.key as { value?: unknown } | null)?.value === seg);
      if (!pair) break;
      node = at === "key" && i === path.length - 1 ? pair.key : (pair.value ?? pair.key);
    } else if (isSeq(node) && typeof seg === "number") {
      const next = node.items[seg];
      if (!next) break;
      node = next;
    } else break;
  }
  const range = (node as { range?: [number, number, number] } | null)?.range;
  if (!range) return undefined;
  const p = lines.linePos(range[0]);
  return { line: p.line, column: p.col };
}
