/**
 * Wording of validation problems a user reads (`FILE: targets[1].ssh.port: expected 1–65535, got the string
 * "22022"`): what was expected and what was found, "missing" for a required key that is absent, and for an
 * unknown key the closest key that object does take.
 */
import { closest } from "../suggest.js";
import { configJsonSchema } from "./schema.js";

/** The value at `path` in the parsed document (undefined when absent). */
export function valueAt(data: unknown, path: ReadonlyArray<PropertyKey>): unknown {
  let v = data;
  for (const seg of path) {
    if (v === null || typeof v !== "object") return undefined;
    v = (v as Record<PropertyKey, unknown>)[seg];
  }
  return v;
}

/** `the number 10`, `the string "22022"`, `a list`: a found value, short enough for one line. */
export function describeFound(v: unknown): string {
  if (v === null) return "an empty value (null)";
  if (Array.isArray(v)) return "a list";
  if (typeof v === "object") return "a mapping";
  if (typeof v === "string") return `the string ${JSON.stringify(v.length > 40 ? `${v.slice(0, 40)}…` : v)}`;
  return `the ${typeof v} ${String(v)}`;
}

type JsonSchema = {
  properties?: Record<string, JsonSchema>;
  items?: JsonSchema;
  anyOf?: JsonSchema[];
  oneOf?: JsonSchema[];
  allOf?: JsonSchema[];
  additionalProperties?: JsonSchema | boolean;
};

let schema: JsonSchema | undefined;

/** Every key the object at `path` may have, read from the JSON Schema (the same one `sshscrape schema` prints). */
export function keysAt(path: ReadonlyArray<PropertyKey>): string[] {
  schema ??= configJsonSchema() as JsonSchema;
  let nodes: JsonSchema[] = [schema];
  const branches = (n: JsonSchema): JsonSchema[] => [
    n,
    ...[...(n.anyOf ?? []), ...(n.oneOf ?? []), ...(n.allOf ?? [])].flatMap(branches),
  ];
  for (const seg of path) {
    nodes = nodes.flatMap(branches).flatMap((n) => {
      if (typeof seg === "number") return n.items ? [n.items] : [];
      const p = n.properties?.[String(seg)];
      if (p) return [p];
      return typeof n.additionalProperties === "object" ? [n.additionalProperties] : [];
    });
  }
  return [...new Set(nodes.flatMap(branches).flatMap((n) => Object.keys(n.properties ?? {})))];
}

/** `unknown key "hostkeys"; did you mean "hostKeys"?` (or the plain notice when nothing is close). */
export function unknownKeyMessage(key: string, parent: ReadonlyArray<PropertyKey>): string {
  const near = closest(key, keysAt(parent));
  return near
    ? `unknown key "${key}"; did you mean "${near}"?`
    : `unknown key "${key}" (check the spelling; see \`sshscrape schema\`)`;
}
