/**
 * Service discovery end to end, nothing faked: `sshscrape generate --format prometheus --discovery http` →
 * Debian's Prometheus → `GET /sd` on `sshscrape proxy` (the built CLI, its own process) → OpenSSH → an
 * exporter. Then the list changes (one target removed, one added) and the proxy gets SIGHUP: Prometheus must
 * drop and add the targets within one refresh interval plus its discovery manager's 5 s hand-over to the
 * scrapers (Prometheus batches discovery updates at most every 5 s), and scrape the new one through SSH.
 */
import { execFileSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { parse, stringify } from "yaml";
import { CLI, REPO_ROOT, type RunningCli, startProxyCli } from "../e2e/proxy-process.js";
import { type Exporter, startExporter } from "../helpers/exporter.js";
import { freePort, waitFor } from "../helpers/processes.js";
import { checkConfig, type Prometheus, startPrometheus } from "../helpers/prometheus.js";
import { type Sshd, startSshd } from "../helpers/sshd.js";

const REFRESH_S = 2;
/** Prometheus' discovery manager hands updates to the scrape manager at most this often. */
const DISCOVERY_BATCH_S = 5;
const FIRST = ["127.0.0.2", "127.0.0.3"];
const SECOND = ["127.0.0.3", "127.0.0.4"];

describe("http_sd end to end: Prometheus discovers from the proxy and follows a SIGHUP", () => {
  let dir: string;
  let sshd: Sshd;
  let exporter: Exporter;
  let proxy: RunningCli;
  let prometheus: Prometheus;
  let listFile: string;
  let writeList: (hosts: string[]) => void;

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), "sshscrape-sd-e2e-"));
    exporter = await startExporter();
    sshd = await startSshd({
      addresses: ["127.0.0.2", "127.0.0.3", "127.0.0.4"],
      keyOptions: `restrict,port-forwarding,permitopen="127.0.0.1:${exporter.port}"`,
    });
    const port = await freePort();
    writeFileSync(join(dir, "known_hosts"), "");
    listFile = join(dir, "targets.yaml");
    writeList = (hosts) =>
      writeFileSync(
        listFile,
        stringify({
          proxy: { listen: `127.0.0.1:${port}`, knownHostsFile: join(dir, "known_hosts") },
          ssh: { user: sshd.user, port: sshd.port, key: { path: sshd.clientKeyPath } },
          defaults: {
            scrapeInterval: `${REFRESH_S}s`,
            scrapeTimeout: `${REFRESH_S}s`,
            labels: { env: "sd" },
          },
          targets: hosts.map((host) => ({
            host,
            hostKeys: [sshd.hostKeyPub],
            exporters: [{ name: "node", port: exporter.port }],
          })),
        }),
      );
    writeList(FIRST);
    const yml = execFileSync(
      process.execPath,
      [CLI, "generate", listFile, "--format", "prometheus", "--discovery", "http"],
      { cwd: REPO_ROOT },
    ).toString();
    writeFileSync(join(dir, "prometheus.yml"), yml);
    checkConfig(join(dir, "prometheus.yml"));
    proxy = await startProxyCli(listFile);
    prometheus = await startPrometheus({ config: parse(yml) as Record<string, unknown> });
  }, 60_000);

  afterAll(async () => {
    await prometheus?.stop();
    await proxy?.stop();
    await sshd?.stop();
    await exporter?.close();
    rmSync(dir, { recursive: true, force: true });
    if (sshd) rmSync(sshd.dir, { recursive: true, force: true });
  });

  const context = () =>
    `\n--- proxy ---\n${proxy.output().slice(-3000)}\n--- prometheus ---\n${prometheus.output()}`;
  const upTargets = async () =>
    (await prometheus.targets())
      .filter((t) => t.health === "up")
      .map((t) => t.labels.instance)
      .sort();

  it("the generated job discovers from /sd and scrapes every target through the proxy and SSH", async () => {
    const job = (
      parse(readFileSync(join(dir, "prometheus.yml"), "utf8")) as {
        scrape_configs: Array<Record<string, unknown>>;
      }
    ).scrape_configs;
    expect(job).toEqual([
      {
        job_name: "node",
        proxy_url: proxy.url,
        http_sd_configs: [{ url: `${proxy.url}/sd?job=node`, refresh_interval: `${REFRESH_S}s` }],
      },
    ]);
    await waitFor(
      "both targets up in Prometheus",
      async () =>
        JSON.stringify(await upTargets()) === JSON.stringify(FIRST.map((h) => `${h}:${exporter.port}`)),
      30_000,
    ).catch((e) => {
      throw new Error(`${(e as Error).message}${context()}`);
    });
    const targets = await prometheus.targets();
    for (const t of targets) {
      expect(t.scrapeUrl).toMatch(/^http:\/\/127\.0\.0\.[23]:\d+\/metrics$/);
      expect(t.labels).toMatchObject({ job: "node", env: "sd" });
    }
    // The scrapes arrived over SSH (sshd's forward), never directly.
    expect(exporter.requests.length).toBeGreaterThan(0);
  });

  it("SIGHUP with one target removed and one added: /sd at once, Prometheus within one refresh (+5 s batch)", async () => {
    writeList(SECOND);
    const sent = Date.now();
    const from = proxy.output().length;
    process.kill(proxy.pid() as number, "SIGHUP");
    // The proxy reads the list in a child process (src/config/load-isolated.ts): /sd changes as part of the
    // reload, so the first request after its log line must see the new list.
    await waitFor(
      "the proxy to log the reload",
      () => proxy.output().slice(from).includes('"msg":"reloaded known_hosts, keys and credentials"'),
      10_000,
    );
    const groups = (await (await fetch(`${proxy.url}/sd`)).json()) as Array<{ targets: string[] }>;
    expect(groups.flatMap((g) => g.targets).join()).toBe(SECOND.map((h) => `${h}:${exporter.port}`).join());
    const changed = Date.now();
    const sdMs = changed - sent;
    const expected = SECOND.map((h) => `${h}:${exporter.port}`);
    await waitFor(
      "Prometheus to list exactly the new targets",
      async () =>
        (await prometheus.targets())
          .map((t) => t.labels.instance)
          .sort()
          .join() === expected.join(),
      30_000,
    ).catch((e) => {
      throw new Error(`${(e as Error).message}${context()}`);
    });
    const listedMs = Date.now() - changed;
    await waitFor(
      "the added target to be scraped (up)",
      async () => (await upTargets()).join() === expected.join(),
      15_000,
    );
    console.log(
      `SIGHUP → /sd ${sdMs} ms, /sd → Prometheus targets ${listedMs} ms, → up ${Date.now() - sent} ms`,
    );
    // From /sd's change: one refresh interval plus Prometheus' own 5 s batching, and 2 s for a loaded machine.
    expect(listedMs).toBeLessThan((REFRESH_S + DISCOVERY_BATCH_S + 2) * 1000);
  });
});
