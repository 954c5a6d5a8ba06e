/**
 * An exporter's `params` (URL query parameters, e.g. blackbox's `module`): validated like every string of the
 * list, and carried into every job the project produces — `generate --format prometheus` (static and
 * `--discovery http`, each through Debian's real `promtool check config`), `--format file-sd`, and the NixOS
 * module evaluated by real Nix under the project's stub NixOS (test/nix/eval-nixos.nix), whose job goes
 * through promtool too. Not covered here: NixOS' own prometheus module (the stub declares `params` as
 * nixpkgs 25.11 does, attrsOf (listOf str)); the scrape itself is test/scale/params-scrape.test.ts.
 */
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { parse, stringify } from "yaml";
import { ConfigValidationError, parseConfig } from "../../src/config/index.js";
import { checkConfig } from "../helpers/prometheus.js";
import { runCli } from "../helpers/run-cli.js";
import { nixEval, nixValue, repoRoot } from "../nix/nix.js";

const dir = mkdtempSync(join(tmpdir(), "sshscrape-params-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const HOST_KEY = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIKqUqTrlZcgo+NdJ2WZn+6A8KutrG/ZKWsF8cTUaiJLc";

const BLACKBOX = {
  name: "blackbox",
  port: 9115,
  metricsPath: "/probe",
  params: { module: ["http_2xx"], target: ["http://127.0.0.1:8080/health?x=1&y"] },
};

function list(exporters: unknown[]): Record<string, unknown> {
  return {
    proxy: { listen: "127.0.0.1:8888" },
    ssh: { key: { path: "/var/lib/sshscrape/key" } },
    targets: [
      {
        host: "a.example.org",
        hostKeys: [HOST_KEY],
        exporters: [{ name: "node", port: 9100 }, ...exporters],
      },
      { host: "b.example.org", hostKeys: [HOST_KEY], exporters },
    ],
  };
}

let n = 0;
function listFile(exporters: unknown[]): string {
  const file = join(dir, `list-${n++}.yaml`);
  writeFileSync(file, stringify(list(exporters)));
  return file;
}

function problemsOf(exporter: Record<string, unknown>): string {
  try {
    parseConfig(stringify(list([exporter])), "list.yaml");
  } catch (err) {
    if (err instanceof ConfigValidationError) return err.message;
    throw err;
  }
  throw new Error("expected the list to be rejected");
}

/** Parses the printed prometheus.yml after promtool accepted it. */
function promYml(text: string): Array<Record<string, unknown>> {
  const file = join(dir, `prometheus-${n++}.yml`);
  writeFileSync(file, text);
  checkConfig(file);
  return (parse(text) as { scrape_configs: Array<Record<string, unknown>> }).scrape_configs;
}

describe("params in the target list", () => {
  it("accepts a map of name → list of strings and keeps it as written", () => {
    const { config } = parseConfig(stringify(list([BLACKBOX])), "list.yaml");
    expect(config.targets[1]?.exporters[0]?.params).toEqual(BLACKBOX.params);
  });

  it.each([
    [{ module: "http_2xx" }, "params.module", "expected a list of strings"],
    [{ module: [] }, "params.module", "expected at least one value"],
    [{ module: [""] }, "params.module[0]", "must not be empty"],
    [{ module: ["http\n2xx"] }, "params.module[0]", "control characters"],
    [{ module: ["http\u202e2xx"] }, "params.module[0]", "U+202E (RIGHT-TO-LEFT OVERRIDE)"],
    [{ "mod-ule": ["x"] }, 'params["mod-ule"]', "__param_<name>"],
    [{ "mod\u200bule": ["x"] }, 'params["mod\u200bule"]', "ZERO WIDTH SPACE"],
    [{ module: ["x".repeat(1025)] }, "params.module[0]", "at most 1024 characters"],
    [{ module: Array(17).fill("x") }, "params.module", "at most 16 values"],
    [Object.fromEntries(Array.from({ length: 17 }, (_, i) => [`p${i}`, ["x"]])), "params", "at most 16"],
    [{ a: Array(5).fill("/".repeat(300)) }, "params", "expected at most 4096"],
  ])("refuses %j at %s", (params, path, message) => {
    const problems = problemsOf({ ...BLACKBOX, params });
    expect(problems).toContain(`targets[0].exporters[1].${path}`);
    expect(problems).toContain(message);
  });
});

describe("generate carries params", () => {
  it("--format prometheus: the job has params with every value; promtool accepts it", async () => {
    const file = listFile([{ ...BLACKBOX, params: { ...BLACKBOX.params, module: ["http_2xx", "tcp"] } }]);
    const run = await runCli(["generate", file, "--format", "prometheus"]);
    expect(run.exitCode, run.stderr).toBe(0);
    const job = promYml(run.stdout).find((j) => j.job_name === "blackbox");
    expect(job).toMatchObject({
      metrics_path: "/probe",
      params: { module: ["http_2xx", "tcp"], target: BLACKBOX.params.target },
    });
    expect(promYml(run.stdout).find((j) => j.job_name === "node")).not.toHaveProperty("params");
  });

  it("--format prometheus: exporters of one name with different params become separate jobs", async () => {
    const file = join(dir, "split.yaml");
    const other = { ...BLACKBOX, params: { module: ["icmp"] } };
    writeFileSync(
      file,
      stringify({
        ...list([]),
        targets: [
          { host: "a.example.org", exporters: [BLACKBOX] },
          { host: "b.example.org", exporters: [other] },
        ],
      }),
    );
    const run = await runCli(["generate", file, "--format", "prometheus"]);
    expect(run.exitCode, run.stderr).toBe(0);
    const jobs = promYml(run.stdout);
    expect(jobs.map((j) => [j.job_name, j.params])).toEqual([
      ["blackbox", { module: ["http_2xx"], target: BLACKBOX.params.target }],
      ["blackbox-2", { module: ["icmp"] }],
    ]);
  });

  it("--format file-sd: each group carries __param_<name> labels", async () => {
    const run = await runCli(["generate", listFile([BLACKBOX]), "--format", "file-sd"]);
    expect(run.exitCode, run.stderr).toBe(0);
    const groups = JSON.parse(run.stdout) as Array<{ targets: string[]; labels: Record<string, string> }>;
    const blackbox = groups.find((g) => g.labels.job === "blackbox");
    expect(blackbox?.targets).toEqual(["a.example.org:9115", "b.example.org:9115"]);
    expect(blackbox?.labels).toMatchObject({
      __metrics_path__: "/probe",
      __param_module: "http_2xx",
      __param_target: "http://127.0.0.1:8080/health?x=1&y",
    });
    expect(groups.find((g) => g.labels.job === "node")?.labels).not.toHaveProperty("__param_module");
  });

  it.each([
    [["--format", "file-sd"], "file_sd"],
    [["--format", "prometheus", "--discovery", "http"], "http_sd"],
  ])("%j refuses a multi-valued parameter (a label holds one value), naming it", async (flags, how) => {
    const file = listFile([{ ...BLACKBOX, params: { module: ["http_2xx", "tcp"] } }]);
    const run = await runCli(["generate", file, ...flags]);
    expect(run.exitCode).toBe(2);
    expect(run.error).toContain("targets[0].exporters[1].params.module: has 2 values");
    expect(run.error).toContain(how);
  });

  it("--discovery http: the job reads /sd (which carries the params); promtool accepts it", async () => {
    const run = await runCli([
      "generate",
      listFile([BLACKBOX]),
      "--format",
      "prometheus",
      "--discovery",
      "http",
    ]);
    expect(run.exitCode, run.stderr).toBe(0);
    const job = promYml(run.stdout).find((j) => j.job_name === "blackbox");
    expect(job?.http_sd_configs).toEqual([{ url: "http://127.0.0.1:8888/sd?job=blackbox" }]);
  });

  it("--format nix: the exporter's params reach services.sshscrape", async () => {
    const run = await runCli(["generate", listFile([BLACKBOX])]);
    expect(run.exitCode, run.stderr).toBe(0);
    expect(run.stdout).toContain('module = [ "http_2xx" ];');
    expect(run.stdout).toContain('target = [ "http://127.0.0.1:8080/health?x=1&y" ];');
  });
});

interface Evaluated {
  failedAssertions: string[];
  scrapeConfigs: Array<Record<string, unknown>>;
}

function evaluate(sshscrape: Record<string, unknown>): Evaluated | string {
  const r = nixEval(
    `import ${repoRoot}/test/nix/eval-nixos.nix { sshscrapeModules = true; modules = [ { services.sshscrape = ${nixValue(sshscrape)}; } ]; }`,
  );
  return r.status === 0 ? (JSON.parse(r.stdout) as Evaluated) : r.stderr;
}

const monitoring = (params: Record<string, string[]>, discovery = "static") => ({
  enable: true,
  checkConfig: false,
  ssh: { keyFile: "/run/secrets/sshscrape-ssh-key" },
  knownHosts: { enable: false },
  scrapeConfigs: { discovery },
  targets: {
    "a.example.org": { exporters: { blackbox: { port: 9115, metricsPath: "/probe", params } } },
    "b.example.org": { exporters: { node: { port: 9100 } } },
  },
});

describe("nix/module.nix: exporters.<name>.params", () => {
  const dropNulls = (v: unknown): unknown =>
    Array.isArray(v)
      ? v.map(dropNulls)
      : v && typeof v === "object"
        ? Object.fromEntries(
            Object.entries(v)
              .filter(([, x]) => x !== null)
              .map(([k, x]) => [k, dropNulls(x)]),
          )
        : v;

  it("becomes the job's params (every value, static discovery); promtool accepts the jobs", () => {
    const ev = evaluate(monitoring({ module: ["http_2xx", "tcp"], target: ["https://x.example/"] }));
    if (typeof ev === "string") throw new Error(ev);
    expect(ev.failedAssertions).toEqual([]);
    const job = ev.scrapeConfigs.find((j) => String(j.job_name).endsWith("blackbox"));
    expect(job).toMatchObject({
      metrics_path: "/probe",
      params: { module: ["http_2xx", "tcp"], target: ["https://x.example/"] },
    });
    expect(ev.scrapeConfigs.find((j) => String(j.job_name).endsWith("node"))?.params ?? null).toBeNull();
    promYml(stringify({ scrape_configs: dropNulls(ev.scrapeConfigs) }));
  });

  it("discovery = http with a multi-valued parameter fails an assertion naming the option", () => {
    const ev = evaluate(monitoring({ module: ["http_2xx", "tcp"] }, "http"));
    if (typeof ev === "string") throw new Error(ev);
    expect(ev.failedAssertions.join("\n")).toContain(
      'services.sshscrape.targets."a.example.org".exporters.blackbox.params',
    );
    const single = evaluate(monitoring({ module: ["http_2xx"] }, "http"));
    if (typeof single === "string") throw new Error(single);
    expect(single.failedAssertions).toEqual([]);
  });

  it("an empty value list is a type error, as with nixpkgs' nonEmptyListOf", () => {
    const ev = evaluate(monitoring({ module: [] }));
    expect(typeof ev).toBe("string");
    expect(String(ev)).toContain("non-empty list");
  });
});
