/**
 * The proxy reads its target list in a child process (src/config/load-isolated.ts) so it never keeps the
 * schema loaded. What it gets must be exactly what loadConfig gives in-process: the same data (a structured
 * clone, so `undefined` members and key order survive) and the same typed errors, messages and problems.
 */
import { mkdtempSync, readdirSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import {
  ConfigReadError,
  ConfigSyntaxError,
  ConfigValidationError,
  loadConfig,
} from "../../src/config/index.js";
import { loadConfigIsolated, loadConfigIsolatedAsync } from "../../src/config/load-isolated.js";

const examples = join(import.meta.dirname, "../../examples");
const work = mkdtempSync(join(tmpdir(), "sshscrape-isolated-"));
const file = (name: string, text: string) => {
  const path = join(work, name);
  writeFileSync(path, text);
  return path;
};

function outcome(load: () => unknown): unknown {
  try {
    return { ok: load() };
  } catch (err) {
    const e = err as Error & { code?: string; problems?: unknown; file?: string; exitCode?: number };
    return {
      class: e.constructor.name,
      message: e.message,
      code: e.code,
      exit: e.exitCode,
      problems: e.problems,
      file: e.file,
    };
  }
}

describe("loadConfigIsolated", () => {
  const lists = [
    ...readdirSync(examples)
      .filter((f) => f.endsWith(".yaml"))
      .map((f) => join(examples, f)),
    file(
      "full.json",
      JSON.stringify({
        proxy: { listen: "127.0.0.1:9999", knownHostsFile: "/kh", timeout: "20s" },
        ssh: { user: "prom", port: 2222, key: { path: "/k" } },
        shards: { count: 2, index: 1 },
        targets: [
          {
            host: "a.example.org",
            labels: { env: "prod" },
            exporters: [{ name: "node", port: 9100, params: { x: ["1", "2"] } }],
          },
          { host: "10.0.0.2", exporters: [{ name: "pg", port: 9187, scheme: "https" }] },
        ],
      }),
    ),
  ];

  it("gives exactly loadConfig's result for valid lists", async () => {
    for (const list of lists) {
      const direct = outcome(() => loadConfig(list));
      expect(direct, list).toHaveProperty("ok");
      expect(
        outcome(() => loadConfigIsolated(list)),
        list,
      ).toStrictEqual(direct);
      expect({ ok: await loadConfigIsolatedAsync(list) }, list).toStrictEqual(direct);
    }
  });

  it("throws loadConfig's typed errors: unreadable, syntax, invalid", async () => {
    const bad = [
      join(work, "missing.yaml"),
      work,
      file("syntax.yaml", "targets: [ {host: x\n"),
      file("syntax.json", '{"targets": [}'),
      file("invalid.yaml", 'targets: [{host: "a b", exporters: []}]\nbogus: 1\n'),
    ];
    const classes = new Set<string>();
    for (const list of bad) {
      const direct = outcome(() => loadConfig(list)) as { class: string };
      classes.add(direct.class);
      expect(
        outcome(() => loadConfigIsolated(list)),
        list,
      ).toStrictEqual(direct);
      const isolatedAsync = await loadConfigIsolatedAsync(list).then(
        (ok) => ({ ok }),
        (err) =>
          outcome(() => {
            throw err;
          }),
      );
      expect(isolatedAsync, list).toStrictEqual(direct);
    }
    expect([...classes].sort()).toEqual(
      [ConfigReadError.name, ConfigSyntaxError.name, ConfigValidationError.name].sort(),
    );
  });
});
