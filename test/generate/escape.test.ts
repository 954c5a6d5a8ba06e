// biome-ignore-all lint/suspicious/noTemplateCurlyInString: these strings hold Nix's ${ on purpose
/**
 * Injection: whatever a user writes into the target list either is refused with a message naming the field,
 * or reaches NixOS as exactly the same string. Checked with real `nix-instantiate --eval`, batched so one Nix
 * process judges a few hundred generated values.
 */
import { mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import fc from "fast-check";
import { beforeAll, describe, expect, it } from "vitest";
import { ConfigValidationError, parseConfig } from "../../src/config/index.js";
import { generateFiles } from "../../src/generate/generate.js";
import { NixEscapeError, nixAttr, nixPath, nixString } from "../../src/nix/escape.js";
import { nixValue } from "../../src/nix/value.js";
import { repoRoot } from "../nix/nix.js";
import { execArgv } from "../nix/unit.js";
import { nixEval } from "./nix-eval.js";

// Fragments that mean something to Nix, YAML, JSON, shells or sshd.
const PIECES = ['"', "\\", "${", "''", "''${", "\\${", "$", "{", "}", "'", "\n", "\r", "\t", "#", ";", " "];
const TEXT = ["a", "Z", "_", "-", ".", ":", "/", "é", "😀", "\u2028", "or", "in", "let", "rec"];
const CONTROL = ["\u0000", "\u0001", "\b", "\f", "\u001b", "\u007f", "\ud800"];

const nasty = fc
  .array(fc.constantFrom(...PIECES, ...TEXT), { minLength: 0, maxLength: 8 })
  .map((a) => a.join(""));
const anyString = fc.oneof(
  { arbitrary: nasty, weight: 3 },
  { arbitrary: fc.string({ unit: "grapheme", maxLength: 12 }), weight: 1 },
);
// Nix-significant but without line breaks, tabs or U+2028, which validation refuses: free-text fields drawn
// mostly from this get through to Nix often enough that both outcomes are exercised in every run.
const printable = fc
  .array(fc.constantFrom(...[...PIECES, ...TEXT].filter((p) => !/[\n\r\t\u2028]/.test(p))), { maxLength: 8 })
  .map((a) => a.join(""));
const freeText = fc.oneof({ arbitrary: printable, weight: 2 }, { arbitrary: anyString, weight: 1 });

let hostKey: string;
beforeAll(() => {
  hostKey = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIMaox8osPCTxv6HRrHRIGHDaD4dMA2LmU4tG8UKzxIwE";
});

describe("nixString / nixAttr / nixPath", () => {
  it("round-trip every representable string exactly through nix-instantiate --eval", () => {
    const samples = [...fc.sample(anyString, 400), "${x}", "''${x}''", "\\${x}", "$${x}", "a\nb", ""];
    const back = nixEval<string[]>(`[ ${samples.map((s) => nixString(s)).join(" ")} ]`);
    expect(back).toEqual(samples);
  });

  it("round-trip attribute names, quoting keywords and anything not an identifier", () => {
    const names = [
      ...new Set([...fc.sample(anyString, 300), "if", "or", "rec", "a-b", "a'b", "_x", "1a", ""]),
    ];
    const back = nixEval<string[][]>(
      `[ ${names.map((n) => `(builtins.attrNames { ${nixAttr(n)} = null; })`).join(" ")} ]`,
    );
    expect(back).toEqual(names.map((n) => [n]));
    expect(nixAttr("node")).toBe("node");
    expect(nixAttr("or")).toBe('"or"');
    expect(nixAttr("db1.example.org")).toBe('"db1.example.org"');
  });

  it("refuses control characters Nix strings cannot hold, naming the character", () => {
    fc.assert(
      fc.property(nasty, fc.constantFrom(...CONTROL), nasty, (a, c, b) => {
        expect(() => nixString(a + c + b)).toThrow(NixEscapeError);
        expect(() => nixString(a + c + b)).toThrow(/U\+[0-9a-f]{4}/);
      }),
    );
  });

  it("writes paths Nix resolves to the same file, whatever characters they hold", () => {
    const dir = mkdtempSync(join(tmpdir(), "sshscrape-path-"));
    const paths = [
      "./secrets/a.yaml",
      "../x/b.age",
      "secrets/c.yaml",
      "./with space/k.age",
      './q"uote/${x}.yaml',
      "./''/k",
      "/abs/with space/k",
      ...fc
        .sample(
          nasty.filter((s) => !/[\n\r\t]/.test(s) && s.trim() !== "" && !s.includes("//")),
          100,
        )
        .map((s) => `./d/${s.replace(/\/+$/, "")}x`),
    ];
    const back = nixEval<string[]>(`[ ${paths.map((p) => `(toString (${nixPath(p)}))`).join(" ")} ]`);
    // Nix resolves relative paths in -E against the current directory.
    expect(back).toEqual(paths.map((p) => resolve(process.cwd(), p)));
    expect(dir).toBeTruthy();
  });

  it("nixValue renders nested data that evaluates back to itself (negative numbers in lists too)", () => {
    // Every rendered value is evaluated by Nix, in one batch: refusing is allowed, changing is not.
    const rendered: Array<{ value: unknown; nix: string }> = [];
    fc.assert(
      fc.property(
        fc.oneof(
          fc.jsonValue({ maxDepth: 3 }),
          fc.array(fc.integer({ min: -1000, max: 1000 }), { maxLength: 4 }),
        ),
        (v) => {
          try {
            rendered.push({ value: v, nix: nixValue(v as never, 1) });
          } catch (err) {
            expect(err).toBeInstanceOf(NixEscapeError);
          }
        },
      ),
      { numRuns: 150, examples: [[[-5]], [[1, -5]], [{ a: -1 }]] },
    );
    // Floats and -0 are outside nixValue's contract (integers only); they must be refused, not changed.
    const exact = rendered.filter(
      (r) => !JSON.stringify(r.value).match(/\.\d|e[+-]?\d/) && !Object.is(r.value, -0),
    );
    expect(exact.length).toBeGreaterThan(50);
    expect(nixEval(`[ ${exact.map((r) => `(${r.nix})`).join(" ")} ]`)).toEqual(
      JSON.parse(JSON.stringify(exact.map((r) => r.value))),
    );
    expect(nixValue([-5])).toBe("[ (-5) ]");
    const data = { a: [1, "x${y}", { "b c": true, or: null }], "''": [], e: {} };
    expect(nixEval(nixValue(data))).toEqual(data);
  });
});

interface Injected {
  host: string;
  labelName: string;
  labelValue: string;
  exporterName: string;
  sopsKey: string;
  metricsPath: string;
  comment: string;
  knownHostsFile: string;
}

// Fields with a strict syntax are mostly valid, so that most lists get through to Nix; the rest are free.
const mostly = (valid: string) =>
  fc.oneof({ arbitrary: fc.constant(valid), weight: 4 }, { arbitrary: anyString, weight: 1 });
const injected = fc.record<Injected>({
  host: mostly("db1.example.org"),
  labelName: mostly("role"),
  labelValue: freeText,
  exporterName: mostly("node"),
  sopsKey: freeText,
  metricsPath: freeText.map((s) => `/${s}`),
  comment: freeText,
  knownHostsFile: freeText.map((s) => `/etc/${s}`),
});

function listFor(v: Injected): string {
  return JSON.stringify({
    proxy: { knownHostsFile: v.knownHostsFile },
    ssh: {
      key: { sops: { file: "./secrets/s.yaml", key: v.sopsKey } },
      publicKey: `${hostKey} ${v.comment}`,
    },
    targets: [
      {
        host: v.host,
        hostKeys: [hostKey],
        labels: { [v.labelName]: v.labelValue },
        exporters: [{ name: v.exporterName, port: 9100, metricsPath: v.metricsPath }],
      },
    ],
  });
}

describe("target list values with Nix-significant characters", () => {
  it("are refused with a message naming the field, or round-trip exactly through generated Nix", () => {
    const dir = mkdtempSync(join(tmpdir(), "sshscrape-inject-"));
    const accepted: Array<{ v: Injected; file: string }> = [];
    let refused = 0;
    fc.assert(
      fc.property(injected, (v) => {
        const name = join(dir, `list${accepted.length + refused}.json`);
        let loaded: ReturnType<typeof parseConfig>;
        try {
          loaded = parseConfig(listFor(v), name);
        } catch (err) {
          expect(err).toBeInstanceOf(ConfigValidationError);
          // `FILE: targets[0].labels["\""]: what is wrong`
          for (const line of (err as Error).message.split("\n"))
            expect(
              line.startsWith(`${name}: `) &&
                /^(targets|ssh|proxy|defaults)\b.*: \S/s.test(line.slice(name.length + 2)),
              `${line} (file ${name})`,
            ).toBe(true);
          refused++;
          return;
        }
        const files = generateFiles(loaded, {
          source: name,
          version: "test",
          base: dir,
          format: "nix",
          split: false,
          remote: true,
          modules: "flake",
        });
        const out = mkdtempSync(join(dir, "out-"));
        for (const f of files) writeFileSync(join(out, f.name), f.content);
        accepted.push({ v, file: out });
      }),
      {
        numRuns: 200,
        examples: [
          // Spaces before U+2028 were once stripped as "trailing whitespace" (/$/m matches before it).
          [
            {
              host: "db1.example.org",
              labelName: "role",
              labelValue: "a \u2028 ${x} ''",
              exporterName: "node",
              sopsKey: "k",
              metricsPath: "/metrics",
              comment: "  \u2028",
              knownHostsFile: "/etc/known_hosts",
            },
          ],
        ],
      },
    );
    expect(accepted.length).toBeGreaterThan(5);
    expect(refused).toBeGreaterThan(5);
    // One Nix process evaluates every accepted case, as NixOS would: with sshscrape's modules, under the
    // NixOS-typed stubs (test/nix/eval-nixos.nix).
    const nixos = (modules: string) =>
      `(import ${nixPath(join(repoRoot, "test/nix/eval-nixos.nix"))} { sshscrapeModules = true; modules = [ ${modules} ]; })`;
    const expr = `[ ${accepted
      .map(
        (a) =>
          `{ main = ${nixos(`${nixPath(join(a.file, "sshscrape.nix"))} { sops.validateSopsFiles = false; sops.age.keyFile = "/var/lib/sops-nix/key.txt"; services.sshscrape.checkConfig = false; }`)}; remote = ${nixos(`(import ${nixPath(join(a.file, "remote.nix"))}).${nixString(a.v.host)}`)}; }`,
      )
      .join(" ")} ]`;
    // biome-ignore lint/suspicious/noExplicitAny: evaluated Nix JSON
    const results = nixEval<any[]>(expr);
    results.forEach((r, i) => {
      const { v } = accepted[i] as { v: Injected };
      expect(r.main.failedAssertions).toEqual([]);
      expect(r.remote.failedAssertions).toEqual([]);
      const job = r.main.prometheusConfig.scrape_configs[0];
      expect(job.job_name).toBe(`sshscrape-${v.exporterName}`);
      expect(job.metrics_path).toBe(v.metricsPath);
      expect(job.static_configs[0].labels).toEqual({ [v.labelName]: v.labelValue });
      expect(job.static_configs[0].targets[0]).toMatch(
        new RegExp(`^\\[?${v.host.replace(/[.*+?^${}()|[\]\\]/g, "\\$&")}\\]?:9100$`),
      );
      expect(r.main.sops["sshscrape-ssh-key"].key).toBe(v.sopsKey);
      expect(r.remote.users.sshscrape.openssh.authorizedKeys.keys[0]).toBe(
        `restrict,port-forwarding,permitopen="127.0.0.1:9100" ${hostKey} ${v.comment}`,
      );
      const proxyFile = execArgv(r.main.services.sshscrape.serviceConfig.ExecStart)[3];
      const proxyList = JSON.parse(readFileSync(proxyFile as string, "utf8"));
      expect(proxyList.proxy.knownHostsFile).toBe(v.knownHostsFile);
      expect(proxyList.targets[0].labels).toEqual({ [v.labelName]: v.labelValue });
    });
  });
});
