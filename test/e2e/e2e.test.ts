/**
 * The user's whole workflow, with nothing faked: a target list → `sshscrape generate` → the NixOS module
 * evaluated by real `nix-instantiate` → prometheus.yml → Debian's Prometheus → `sshscrape proxy` (the built
 * CLI, as its own process) → OpenSSH sshd on five loopback aliases → Debian's node_exporter and a TLS exporter.
 */
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { stringify } from "yaml";
import { type Exporter, makeTls, startExporter } from "../helpers/exporter.js";
import { type NodeExporter, startNodeExporter } from "../helpers/node-exporter.js";
import { closedPort, withReservedPort } from "../helpers/ports.js";
import { waitFor } from "../helpers/processes.js";
import { checkConfig, type Prometheus, startPrometheus } from "../helpers/prometheus.js";
import { viaProxy } from "../helpers/proxy.js";
import { type Sshd, startSshd } from "../helpers/sshd.js";
import {
  type EvaluatedModule,
  generateAndEvaluate,
  knownHostsText,
  prometheusYml,
  proxyArgsFromUnit,
  runExecStartPost,
} from "./generated-config.js";
import { proxyMetrics, select, sum } from "./proxy-client.js";
import { type RunningCli, startProxyProcess } from "./proxy-process.js";

const SCRAPE_INTERVAL_S = 2;
const NODE_HOSTS = ["127.0.0.2", "127.0.0.3", "127.0.0.4", "127.0.0.6"];
const TLS_HOST = "127.0.0.5";
/** Also carries a node exporter; its second exporter's port has nothing listening. */
const DOWN_HOST = "127.0.0.6";
const SSH_HOSTS = ["127.0.0.2", "127.0.0.3", "127.0.0.4", TLS_HOST, DOWN_HOST];
/** In no target list: the proxy must refuse it without touching SSH. */
const UNLISTED_HOST = "127.0.0.9";

describe("end to end: generated config → Prometheus → sshscrape proxy → OpenSSH → exporters", () => {
  const cleanups: Array<{ what: string; pid?: () => number | undefined; stop: () => Promise<void> }> = [];
  let dir: string;
  let sshd: Sshd;
  let nodeExporter: NodeExporter;
  let tlsExporter: Exporter;
  let downPort: number;
  let proxy: RunningCli;
  let prometheus: Prometheus;
  let module: EvaluatedModule;
  let readyWait: ReturnType<typeof runExecStartPost>;
  let readyAfterWait: string;
  let generatedYml: Record<string, unknown>;
  let caCertPath: string;

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), "sshscrape-e2e-"));
    cleanups.push({ what: "temp dir", stop: async () => rmSync(dir, { recursive: true, force: true }) });

    const tls = makeTls([TLS_HOST]);
    caCertPath = tls.caCertPath;
    cleanups.push({ what: "tls dir", stop: async () => rmSync(tls.dir, { recursive: true, force: true }) });
    nodeExporter = await startNodeExporter();
    cleanups.push({ what: "node_exporter", pid: nodeExporter.pid, stop: nodeExporter.stop });
    tlsExporter = await startExporter({ tls });
    cleanups.push({ what: "tls exporter", stop: tlsExporter.close });
    // Stays closed for the whole run (a privileged port no service uses), so "down" cannot turn "up".
    downPort = await closedPort();

    // What `sshscrape generate --remote` puts on every target: only these forwards, to this literal address.
    sshd = await startSshd({
      addresses: SSH_HOSTS,
      permitOpen: [nodeExporter.port, tlsExporter.port, downPort],
    });
    cleanups.push({
      what: "sshd",
      pid: sshd.pid,
      stop: async () => {
        await sshd.stop();
        rmSync(sshd.dir, { recursive: true, force: true });
      },
    });

    // The proxy's address goes into the generated config before it starts, so it cannot bind port 0:
    // a reserved port, and the whole generate → start once more on another if it was taken meanwhile.
    await withReservedPort(async (proxyPort) => {
      // The proxy reads the known_hosts file NixOS writes from the generated services.openssh.knownHosts.
      const knownHostsFile = join(dir, "ssh_known_hosts");
      const hostKey = sshd.hostKeyPub.split(" ").slice(0, 2).join(" ");
      const targetList = {
        proxy: { listen: `127.0.0.1:${proxyPort}`, knownHostsFile },
        ssh: {
          user: sshd.user,
          port: sshd.port,
          key: { path: sshd.clientKeyPath },
          publicKey: sshd.clientKeyPub,
        },
        defaults: {
          scrapeInterval: `${SCRAPE_INTERVAL_S}s`,
          scrapeTimeout: `${SCRAPE_INTERVAL_S}s`,
          labels: { env: "e2e" },
        },
        targets: [
          ...NODE_HOSTS.filter((h) => h !== DOWN_HOST).map((host) => ({
            host,
            hostKeys: [hostKey],
            exporters: [{ name: "node", port: nodeExporter.port }],
          })),
          {
            host: TLS_HOST,
            hostKeys: [hostKey],
            // The exporter's throwaway CA, as a user names a private CA: the generator makes it tls_config.
            exporters: [
              { name: "tls", port: tlsExporter.port, scheme: "https", tls: { caFile: tls.caCertPath } },
            ],
          },
          {
            host: DOWN_HOST,
            hostKeys: [hostKey],
            exporters: [
              { name: "node", port: nodeExporter.port },
              { name: "down", port: downPort },
            ],
          },
        ],
      };
      const listFile = join(dir, "targets.yaml");
      writeFileSync(listFile, stringify(targetList));

      ({ module } = generateAndEvaluate(listFile, dir));
      writeFileSync(knownHostsFile, knownHostsText(module));
      generatedYml = prometheusYml(module, { scrapeIntervalSeconds: SCRAPE_INTERVAL_S });
      const promYmlPath = join(dir, "prometheus.yml");
      writeFileSync(promYmlPath, stringify(generatedYml));
      // The same check NixOS runs on services.prometheus at build time.
      checkConfig(promYmlPath);

      // Started exactly as the generated systemd unit starts it.
      proxy = await startProxyProcess(
        proxyArgsFromUnit(module, join(dir, "credentials")),
        `http://127.0.0.1:${proxyPort}`,
      );
    });
    cleanups.push({ what: "sshscrape proxy", pid: proxy.pid, stop: proxy.stop });
    // systemd runs the unit's ExecStartPost (waiting for /readyz) before it starts Prometheus, which the
    // unit's `before` orders after it.
    readyWait = runExecStartPost(module);
    readyAfterWait = await fetch(`${proxy.url}/readyz`).then(async (r) => `${r.status} ${await r.text()}`);

    prometheus = await startPrometheus({ config: generatedYml });
    cleanups.push({ what: "prometheus", pid: prometheus.pid, stop: prometheus.stop });
  }, 60_000);

  afterAll(async () => {
    const pids: Array<[string, number]> = [];
    for (const c of cleanups.reverse()) {
      const pid = c.pid?.();
      if (pid) pids.push([c.what, pid]);
      await c.stop();
    }
    // Every process this file started must be gone, whether the tests passed or not.
    const alive = pids.filter(([, pid]) => {
      try {
        process.kill(pid, 0);
        return true;
      } catch {
        return false;
      }
    });
    if (alive.length > 0) throw new Error(`still running after cleanup: ${JSON.stringify(alive)}`);
  });

  const failureContext = () =>
    `\n--- proxy output ---\n${proxy?.output().slice(-4000)}\n--- prometheus output ---\n${prometheus
      ?.output()
      .slice(-2000)}`;

  it("the deployed configuration is the generator's: every job points Prometheus at the proxy", () => {
    const jobs = module.services.prometheus.scrapeConfigs;
    expect(jobs.map((j) => j.job_name).sort()).toEqual(["down", "node", "tls"]);
    for (const job of jobs) expect(job.proxy_url).toBe(proxy.url);
    const tlsJob = jobs.find((j) => j.job_name === "tls");
    expect(tlsJob?.scheme).toBe("https");
    // The https exporter's CA comes from the target list's `tls`, through the generated tls_config.
    expect(tlsJob?.tls_config).toEqual({ ca_file: caCertPath });
    for (const job of jobs.filter((j) => j.job_name !== "tls")) expect(job.tls_config).toBeUndefined();
  });

  it("systemd starts Prometheus only once the proxy has connected to every host (ExecStartPost, before=)", async () => {
    expect(module.systemd.services.sshscrape.before).toContain("prometheus.service");
    expect(readyWait).toMatchObject({ status: 0, ignoreFailure: true });
    expect(readyAfterWait).toBe(
      `200 ready: ${NODE_HOSTS.length + 1} of ${NODE_HOSTS.length + 1} configured hosts connected, 0 failed\n`,
    );
  });

  it("Prometheus scrapes every good target through the proxy (up == 1), from its very first scrape", async () => {
    const expectedTargets = NODE_HOSTS.length + 2;
    // Prometheus' discovery manager hands new targets to the scrapers at most every 5 s, so waiting starts
    // when every target is listed, not when Prometheus is ready.
    await waitFor(
      `${expectedTargets} active targets in Prometheus`,
      async () => (await prometheus.targets()).length === expectedTargets,
      15_000,
    );
    const good = [
      ...NODE_HOSTS.map((h) => `${h}:${nodeExporter.port}`),
      `${TLS_HOST}:${tlsExporter.port}`,
    ].sort();
    const downInstance = `${DOWN_HOST}:${downPort}`;
    let last = "";
    try {
      await waitFor(
        "up == 1 for every good target and up == 0 for the down one",
        async () => {
          const up = await prometheus.query("up");
          last = JSON.stringify(up.map((s) => [s.metric.instance, s.value]));
          const upInstances = up
            .filter((s) => s.value === 1)
            .map((s) => s.metric.instance)
            .sort();
          const down = up.find((s) => s.metric.instance === downInstance);
          return JSON.stringify(upInstances) === JSON.stringify(good) && down?.value === 0;
        },
        // Generous: on a loaded machine scrapes start late. What is asserted below is the mechanism.
        20_000,
      );
    } catch (err) {
      throw new Error(`${(err as Error).message}; last up: ${last}${failureContext()}`);
    }
    // The connections were made before Prometheus started (preconnect + ExecStartPost), so no good target
    // ever had a failed scrape: its first up sample is already 1. The down one never was up.
    const history = await prometheus.queryMatrix("up[5m]");
    for (const series of history) {
      const values = series.values.map((v) => v.value);
      if (series.metric.instance === downInstance)
        expect(
          values.every((v) => v === 0),
          downInstance,
        ).toBe(true);
      else expect(values, series.metric.instance).toEqual(values.map(() => 1));
    }
    expect(history.map((s) => s.metric.instance).sort()).toEqual([...good, downInstance].sort());
  }, 40_000);

  it("the down exporter's failure reaches Prometheus as the proxy's 502", async () => {
    const down = (await prometheus.targets()).find((t) => t.labels.instance === `${DOWN_HOST}:${downPort}`);
    expect(down?.health).toBe("down");
    expect(down?.lastError).toMatch(/502/);
    // The proxy names the cause in plain text; Prometheus drops the body, so ask the proxy directly.
    const res = await viaProxy(proxy.url, `http://${DOWN_HOST}:${downPort}/metrics`, { timeoutMs: 15_000 });
    expect(res.status).toBe(502);
    expect(res.body.toString()).toContain(`${sshd.user}@${DOWN_HOST}:${sshd.port}`);
    expect(res.body.toString()).toContain(`127.0.0.1:${downPort}`);
    const metrics = await proxyMetrics(proxy.url);
    expect(sum(select(metrics, "sshscrape_errors_total", { type: "CHANNEL_OPEN_FAILED" }))).toBeGreaterThan(
      0,
    );
  });

  it("real node_exporter series arrive for every node host, with the generated labels", async () => {
    const cpu = await prometheus.query('count by (instance, job, env) (node_cpu_seconds_total{job="node"})');
    expect(cpu.map((s) => s.metric.instance).sort()).toEqual(
      NODE_HOSTS.map((h) => `${h}:${nodeExporter.port}`).sort(),
    );
    for (const s of cpu) {
      expect(s.metric.env).toBe("e2e");
      expect(s.value).toBeGreaterThan(0);
    }
  });

  it("the https target went through CONNECT with TLS end to end (Prometheus verified the test CA)", async () => {
    const [tlsUp] = await prometheus.query(`up{instance="${TLS_HOST}:${tlsExporter.port}"}`);
    expect(tlsUp?.metric.job).toBe("tls");
    expect(tlsUp?.value).toBe(1);
    const series = await prometheus.query(`count(test_metric{instance="${TLS_HOST}:${tlsExporter.port}"})`);
    expect(series[0]?.value).toBeGreaterThan(0);
    expect(tlsExporter.requests.length).toBeGreaterThan(0);
  });

  it("one SSH handshake per host, however many scrapes went through it", async () => {
    // Let every target be scraped several times over the pooled connections first.
    await waitFor(
      "three scrapes of every target",
      async () => {
        const counts = await prometheus.query("count_over_time(up[1m])");
        return counts.length === NODE_HOSTS.length + 2 && counts.every((s) => s.value >= 3);
      },
      5 * SCRAPE_INTERVAL_S * 1000,
    );
    const metrics = await proxyMetrics(proxy.url);
    for (const host of SSH_HOSTS) {
      const label = `${sshd.user}@${host}:${sshd.port}`;
      expect(
        sum(select(metrics, "sshscrape_ssh_handshakes_total", { host: label, result: "success" })),
        label,
      ).toBe(1);
    }
    expect(sum(select(metrics, "sshscrape_ssh_handshakes_total", { result: "failure" }))).toBe(0);
    expect(sum(select(metrics, "sshscrape_ssh_connections"))).toBe(SSH_HOSTS.length);
    // sshd agrees: it accepted exactly one login per host.
    const logins = sshd.output().match(/Accepted publickey for /g) ?? [];
    expect(logins.length).toBe(SSH_HOSTS.length);
  }, 30_000);

  it("a host that is not in the target list gets 403 and never reaches SSH", async () => {
    const unlisted = await viaProxy(proxy.url, `http://${UNLISTED_HOST}:${nodeExporter.port}/metrics`, {
      timeoutMs: 15_000,
    });
    expect(unlisted.status).toBe(403);
    expect(unlisted.body.toString()).toContain(UNLISTED_HOST);
    // A listed host on a port that is not one of its exporters is just as unlisted.
    const otherPort = await viaProxy(proxy.url, `http://${NODE_HOSTS[0]}:${sshd.port}/metrics`, {
      timeoutMs: 15_000,
    });
    expect(otherPort.status).toBe(403);

    const metrics = await proxyMetrics(proxy.url);
    // Refused targets are counted under target="other", so strangers cannot grow the label set.
    expect(sum(select(metrics, "sshscrape_requests_total", { target: "other", code: "403" }))).toBe(2);
    expect(sum(select(metrics, "sshscrape_errors_total", { type: "NOT_ALLOWED" }))).toBe(2);
    expect(
      select(metrics, "sshscrape_ssh_handshakes_total").filter((s) => s.labels.host?.includes(UNLISTED_HOST)),
    ).toEqual([]);
  });
});
