/**
 * An exporter with URL parameters (blackbox-style `/probe?module=…&target=…`) scraped for real: Debian's
 * Prometheus runs the jobs `sshscrape generate --format prometheus` writes (a static job with `params`, and
 * a `--discovery http` job reading `__param_*` labels from the proxy's `GET /sd`), through the proxy (in
 * process, on port 0), OpenSSH and a channel to an exporter that records the request target it parsed. The
 * query reaches the exporter intact, other paths of the exporter are refused, and `sshscrape check` asks for
 * the same URL.
 */
import { execFileSync } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { parse, stringify } from "yaml";
import type { CheckResult } from "../../src/check/index.js";
import { loadConfig } from "../../src/config/index.js";
import { type RunningProxy, settingsFromConfig, startProxy } from "../../src/proxy/index.js";
import { CLI, REPO_ROOT } from "../e2e/proxy-process.js";
import { type Exporter, startExporter } from "../helpers/exporter.js";
import { waitFor } from "../helpers/processes.js";
import { checkConfig, type Prometheus, startPrometheus } from "../helpers/prometheus.js";
import { memoryLogger, rawRequest, viaProxy } from "../helpers/proxy.js";
import { runCli } from "../helpers/run-cli.js";
import { type Sshd, startSshd } from "../helpers/sshd.js";

// A target URL with its own query and characters that must be percent-encoded, as blackbox users write them.
const PROBED = "http://127.0.0.1:8080/health?a=1&b=x y";
const PARAMS = { module: ["http_2xx"], target: [PROBED] };
/** What Prometheus (Go's url.Values.Encode: keys sorted, form encoding) puts after the path. */
const QUERY = `module=http_2xx&target=${encodeURIComponent(PROBED).replace(/%20/g, "+")}`;

describe("params: a scrape with a query string through the proxy and SSH", () => {
  let dir: string;
  let sshd: Sshd;
  let exporter: Exporter;
  let proxy: RunningProxy;
  let prometheus: Prometheus;
  let listFile: string;

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), "sshscrape-params-e2e-"));
    exporter = await startExporter();
    sshd = await startSshd({ permitOpen: [exporter.port] });
    writeFileSync(join(dir, "known_hosts"), "");
    listFile = join(dir, "targets.yaml");
    writeFileSync(
      listFile,
      stringify({
        proxy: { listen: "127.0.0.1:8888", knownHostsFile: join(dir, "known_hosts"), preconnect: false },
        ssh: { user: sshd.user, port: sshd.port, key: { path: sshd.clientKeyPath } },
        defaults: { scrapeInterval: "1s", scrapeTimeout: "1s" },
        targets: [
          {
            host: "127.0.0.1",
            hostKeys: [sshd.hostKeyPub],
            exporters: [{ name: "blackbox", port: exporter.port, metricsPath: "/probe", params: PARAMS }],
          },
        ],
      }),
    );
    const { logger } = memoryLogger("warn");
    const runtime = () => ({
      ...settingsFromConfig(loadConfig(listFile)),
      listen: { host: "127.0.0.1", port: 0 },
    });
    proxy = await startProxy(runtime(), { logger, reloadRuntime: runtime });
  }, 60_000);

  afterAll(async () => {
    await prometheus?.stop();
    await proxy?.close(0);
    await exporter?.close();
    await sshd?.stop();
    if (dir) rmSync(dir, { recursive: true, force: true });
    if (sshd) rmSync(sshd.dir, { recursive: true, force: true });
  });

  it("GET /sd carries each parameter as a __param_<name> label", async () => {
    const res = await fetch(`${proxy.url}/sd?job=blackbox`);
    expect(res.status).toBe(200);
    expect(await res.json()).toEqual([
      {
        targets: [`127.0.0.1:${exporter.port}`],
        labels: {
          __metrics_path__: "/probe",
          __param_module: "http_2xx",
          __param_target: PROBED,
          __scheme__: "http",
          __scrape_interval__: "1s",
          __scrape_timeout__: "1s",
        },
      },
    ]);
  });

  it("an absolute-form GET with a query reaches the exporter with the query byte for byte", async () => {
    const path = `/probe?${QUERY}&odd=%2F..%2F&empty=`;
    const res = await viaProxy(proxy.url, `http://127.0.0.1:${exporter.port}${path}`);
    expect(res.status).toBe(200);
    expect(exporter.requests.at(-1)?.url).toBe(path);
  });

  it("only the metricsPath passes (any query, or percent-encoded); other paths are 403 PATH_NOT_ALLOWED, never forwarded", async () => {
    const before = exporter.requests.length;
    const raw = (path: string) =>
      rawRequest(
        proxy.url,
        `GET http://127.0.0.1:${exporter.port}${path} HTTP/1.1\r\nHost: 127.0.0.1:${exporter.port}\r\nConnection: close\r\n\r\n`,
      );
    for (const path of [
      "/metrics",
      "/",
      "/probe/../metrics?module=x",
      "/probe/",
      "/prob",
      "/probe%3F?x=1",
      "?module=x",
    ]) {
      const answer = await raw(path);
      expect(answer, path).toMatch(/^HTTP\/1\.1 403 /);
      expect(answer, path).toMatch(/\r\nx-sshscrape-error: PATH_NOT_ALLOWED\r\n/i);
    }
    expect(exporter.requests.length).toBe(before);
    for (const path of ["/probe", "/probe?", "/%70robe?module=x"]) {
      expect(await raw(path), path).toMatch(/^HTTP\/1\.1 200 /);
      expect(exporter.requests.at(-1)?.url).toBe(path);
    }
  });

  it("Prometheus' static job (params) and http_sd job (__param_ labels) both scrape /probe?module=…&target=…", async () => {
    const generate = (flags: string[]) =>
      (
        parse(
          execFileSync(process.execPath, [CLI, "generate", listFile, "--format", "prometheus", ...flags], {
            cwd: REPO_ROOT,
          }).toString(),
        ) as { scrape_configs: Array<Record<string, unknown>> }
      ).scrape_configs;
    const [fixed] = generate([]);
    const [discovered] = generate(["--discovery", "http"]);
    expect(fixed?.params).toEqual(PARAMS);
    // The discovered job has no params of its own: they come only as __param_* labels from /sd.
    expect(discovered).not.toHaveProperty("params");
    // The generator wrote the list's proxy.listen; this proxy listens on the port the kernel gave it.
    const jobs = [
      { ...fixed, job_name: "static", proxy_url: proxy.url },
      {
        ...discovered,
        job_name: "discovered",
        proxy_url: proxy.url,
        http_sd_configs: [{ url: `${proxy.url}/sd?job=blackbox`, refresh_interval: "1s" }],
      },
    ];
    const config = { scrape_configs: jobs };
    writeFileSync(join(dir, "prometheus.yml"), stringify(config));
    checkConfig(join(dir, "prometheus.yml"));
    const before = exporter.requests.length;
    prometheus = await startPrometheus({ config });
    await waitFor(
      "both jobs up",
      async () => {
        const targets = await prometheus.targets();
        return targets.length === 2 && targets.every((t) => t.health === "up");
      },
      20_000,
    ).catch(async (e) => {
      throw new Error(
        `${(e as Error).message}\n${JSON.stringify(await prometheus.targets())}\n${prometheus.output()}`,
      );
    });
    for (const t of await prometheus.targets())
      expect(t.scrapeUrl).toBe(`http://127.0.0.1:${exporter.port}/probe?${QUERY}`);
    const paths = new Set(exporter.requests.slice(before).map((r) => `${r.method} ${r.url}`));
    expect([...paths]).toEqual([`GET /probe?${QUERY}`]);
    await prometheus.stop();
  }, 60_000);

  it("sshscrape check requests the exporter with its params", async () => {
    const before = exporter.requests.length;
    const run = await runCli<CheckResult>(["check", listFile, "--proxy", proxy.url, "--json"]);
    expect(run.exitCode, `${run.stdout}${run.stderr}`).toBe(0);
    expect(run.result?.exporters[0]).toMatchObject({
      ok: true,
      url: `http://127.0.0.1:${exporter.port}/probe?${QUERY}`,
    });
    expect(exporter.requests.slice(before).map((r) => r.url)).toEqual([`/probe?${QUERY}`]);
  });
});
