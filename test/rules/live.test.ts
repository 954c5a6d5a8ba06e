/**
 * The rules and the dashboard against the real thing: a real sshd (five loopback addresses), a real
 * node_exporter, the proxy, and Debian's Prometheus loading rules/sshscrape.rules.yml and scraping the proxy's
 * own /metrics (job "sshscrape") and the exporters through it. Each host, and three exporters on the healthy
 * one (hanging, hanging up, port closed), are broken in one way the alerts tell apart; the test checks that
 * - every metric name a rule or a dashboard query reads is in the proxy's real /metrics (or node_exporter's,
 *   or Prometheus' own series), so a rename cannot silently empty a panel or mute an alert;
 * - every recording rule and every dashboard query returns data from these real series;
 * - each broken host or target has its own alert pending (the `for:` of minutes keeps it from firing within
 *   a test), naming the right host, and the healthy host none.
 * Not covered here: Grafana itself (the JSON is checked for shape, not rendered).
 */
import { execFileSync } from "node:child_process";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type RunningProxy, startProxy } from "../../src/proxy/index.js";
import { type Exporter, startExporter } from "../helpers/exporter.js";
import { type NodeExporter, startNodeExporter } from "../helpers/node-exporter.js";
import { freePort, waitFor } from "../helpers/processes.js";
import { type Prometheus, startPrometheus } from "../helpers/prometheus.js";
import { memoryLogger, runtimeFor } from "../helpers/proxy.js";
import { type Sshd, startSshd } from "../helpers/sshd.js";
import { metricNames, variableMetricNames } from "./promql-names.js";
import { DASHBOARD_FILE, loadRules, RULES_FILE } from "./rules-file.js";

/** .1 healthy, .2 host key changed, .3 host key unknown, .4 our key refused, .5 sshd port closed. */
const HOSTS = ["127.0.0.1", "127.0.0.2", "127.0.0.3", "127.0.0.4", "127.0.0.5"];
/** Series Prometheus makes itself rather than scraping them. */
const PROMETHEUS_OWN = new Set(["up", "scrape_duration_seconds", "ALERTS"]);

interface Panel {
  title: string;
  type: string;
  targets?: Array<{ expr: string }>;
  panels?: Panel[];
}
interface Dashboard {
  panels: Panel[];
  templating: { list: Array<{ name: string; type: string; query: string | { query: string } }> };
  annotations: { list: Array<{ expr?: string }> };
}

const dashboard = JSON.parse(readFileSync(DASHBOARD_FILE, "utf8")) as Dashboard;
const panelQueries = dashboard.panels
  .flatMap((p) => [p, ...(p.panels ?? [])])
  .flatMap((p) => (p.targets ?? []).map((t) => ({ panel: p.title, expr: t.expr })));
const variableQueries = dashboard.templating.list
  .filter((v) => v.type === "query")
  .map((v) => (typeof v.query === "string" ? v.query : v.query.query));
const rules = loadRules();
const recorded = new Set(rules.flatMap((r) => (r.record ? [r.record] : [])));

/** A dashboard query as Grafana sends it with every variable at "All". */
function asSent(expr: string): string {
  return expr.replace(/\$__rate_interval/g, "1m").replace(/\$(instance|host|target)\b/g, ".*");
}

let sshd: Sshd;
let node: NodeExporter;
let hanging: Exporter;
let hangingUp: Exporter;
let closedExporterPort: number;
let closedSshPort: number;
let proxy: RunningProxy;
let prometheus: Prometheus;
let proxyStopped = false;

beforeAll(async () => {
  sshd = await startSshd({ addresses: HOSTS });
  node = await startNodeExporter();
  hanging = await startExporter({ handler: () => {} });
  hangingUp = await startExporter({ handler: (req) => req.socket.destroy() });
  closedExporterPort = await freePort();
  closedSshPort = await freePort("127.0.0.5");
  const strangerKey = join(sshd.dir, "stranger_key");
  execFileSync("ssh-keygen", ["-q", "-t", "ed25519", "-N", "", "-C", "not-authorized", "-f", strangerKey]);
  const otherHostKey = join(sshd.dir, "other_host_key");
  execFileSync("ssh-keygen", ["-q", "-t", "ed25519", "-N", "", "-C", "", "-f", otherHostKey]);
  const otherPub = readFileSync(`${otherHostKey}.pub`, "utf8").split(" ").slice(0, 2).join(" ");
  const knownHosts = [
    sshd.knownHostsLine(["127.0.0.1", "127.0.0.4"]),
    `[127.0.0.2]:${sshd.port} ${otherPub}`,
    // 127.0.0.3: no line at all.
  ].join("\n");
  const exact = [
    { host: "127.0.0.1", port: node.port },
    { host: "127.0.0.1", port: hanging.port },
    { host: "127.0.0.1", port: hangingUp.port },
    { host: "127.0.0.1", port: closedExporterPort },
    ...HOSTS.slice(1).map((host) => ({ host, port: node.port })),
  ];
  proxy = await startProxy(
    runtimeFor(sshd, {
      exact,
      knownHosts: `${knownHosts}\n`,
      overrides: {
        preconnect: true,
        hosts: new Map([
          ["127.0.0.4", { keyFile: strangerKey }],
          ["127.0.0.5", { port: closedSshPort }],
        ]),
      },
    }),
    { logger: memoryLogger("warn").logger },
  );
  prometheus = await startPrometheus({
    config: {
      global: { scrape_interval: "2s", scrape_timeout: "2s", evaluation_interval: "1s" },
      rule_files: [RULES_FILE],
      scrape_configs: [
        { job_name: "sshscrape", static_configs: [{ targets: [new URL(proxy.url).host] }] },
        {
          job_name: "node",
          proxy_url: proxy.url,
          static_configs: [{ targets: exact.map((t) => `${t.host}:${t.port}`) }],
        },
      ],
    },
  });
}, 90_000);

afterAll(async () => {
  await prometheus?.stop();
  if (!proxyStopped) await proxy?.close(200);
  await hanging?.close();
  await hangingUp?.close();
  await node?.stop();
  await sshd?.stop();
});

const user = () => sshd.user;

describe("rules and dashboard against a real proxy and Prometheus", () => {
  it("raises, per broken host or target, the alert that names its cause", async () => {
    const expected = [
      { alertname: "SshscrapeHostKeyMismatch", host: `${user()}@127.0.0.2:${sshd.port}` },
      { alertname: "SshscrapeHostKeyUnknown", host: `${user()}@127.0.0.3:${sshd.port}` },
      { alertname: "SshscrapeSshKeyRefused", host: `${user()}@127.0.0.4:${sshd.port}` },
      { alertname: "SshscrapeSshUnreachable", host: `${user()}@127.0.0.5:${closedSshPort}` },
      { alertname: "SshscrapeExporterUnreachable", target: `127.0.0.1:${closedExporterPort}` },
      {
        alertname: "SshscrapeScrapeTimeouts",
        target: `127.0.0.1:${hanging.port}`,
        phase: "upstream-response",
      },
    ];
    const missing = async () => {
      const alerts = await prometheus.query("ALERTS");
      return expected.filter(
        (e) => !alerts.some((a) => Object.entries(e).every(([k, v]) => a.metric[k] === v)),
      );
    };
    await waitFor("every expected alert pending", async () => (await missing()).length === 0, 60_000).catch(
      async (err) => {
        throw new Error(`${(err as Error).message}; missing: ${JSON.stringify(await missing())}`);
      },
    );
    const alerts = await prometheus.query("ALERTS");
    // Pending, not firing: every `for:` is minutes long.
    expect(alerts.filter((a) => a.metric.alertstate === "firing")).toEqual([]);
    // The healthy host has no per-host alert, and each broken host exactly one.
    const perHost = alerts.filter((a) => a.metric.host !== undefined);
    expect(perHost.filter((a) => a.metric.host?.includes("@127.0.0.1:"))).toEqual([]);
    for (const h of HOSTS.slice(1))
      expect(perHost.filter((a) => a.metric.host?.includes(`@${h}:`))).toHaveLength(1);
  }, 90_000);

  it("reads only metric names that exist: the proxy's real /metrics, node_exporter's, Prometheus' own", async () => {
    // After the test above: every failure path has run, so its series exist.
    const proxyMetrics = await fetch(`${proxy.url}/metrics`).then((r) => r.text());
    const nodeMetrics = await fetch(node.url).then((r) => r.text());
    const exposed = (text: string, name: string) =>
      text.split("\n").some((l) => l.startsWith(`${name}{`) || l.startsWith(`${name} `));
    const used = new Map<string, string>();
    for (const r of rules) for (const n of metricNames(r.expr)) used.set(n, `rule ${r.alert ?? r.record}`);
    for (const q of panelQueries) for (const n of metricNames(q.expr)) used.set(n, `panel "${q.panel}"`);
    for (const q of variableQueries) for (const n of variableMetricNames(q)) used.set(n, `variable ${q}`);
    for (const a of dashboard.annotations.list)
      for (const n of metricNames(a.expr ?? "")) used.set(n, "annotation");
    expect(used.size).toBeGreaterThan(20);
    const unknown = [...used].filter(([n]) => {
      if (n.includes(":")) return !recorded.has(n);
      if (PROMETHEUS_OWN.has(n)) return false;
      if (n.startsWith("node_")) return !exposed(nodeMetrics, n);
      return !exposed(proxyMetrics, n);
    });
    expect(unknown).toEqual([]);
    // And Prometheus has ingested each of them (Prometheus' own included). A recording rule over a rate has a
    // series only after two scrapes and an evaluation: wait for that, then assert.
    const notIngested = async () => {
      const missing: string[] = [];
      for (const [n, where] of used)
        if ((await prometheus.query(`count({__name__=${JSON.stringify(n)}})`)).length !== 1)
          missing.push(`${n} (${where})`);
      return missing;
    };
    await waitFor("every metric name ingested", async () => (await notIngested()).length === 0, 30_000).catch(
      () => undefined,
    );
    expect(await notIngested(), "names with no series in Prometheus").toEqual([]);
  }, 60_000);

  it("every recording rule and every dashboard query returns data", async () => {
    const variables = variableQueries.map((v) => {
      const m = /^label_values\((.*),\s*(\w+)\s*\)$/.exec(v);
      expect(m, v).not.toBeNull();
      return { v, expr: (m as RegExpExecArray)[1] as string, label: (m as RegExpExecArray)[2] as string };
    });
    const emptyQueries = async () => {
      const empty: string[] = [];
      for (const r of rules.filter((x) => x.record))
        if ((await prometheus.query(r.record as string)).length === 0) empty.push(`record ${r.record}`);
      for (const q of panelQueries)
        if ((await prometheus.query(asSent(q.expr))).length === 0)
          empty.push(`panel "${q.panel}": ${q.expr}`);
      for (const { v, expr, label } of variables)
        if (!(await prometheus.query(asSent(expr))).some((r) => r.metric[label])) empty.push(`variable ${v}`);
      return empty;
    };
    // Rates need two scrapes and a rule evaluation after the failures began: wait for that, then assert.
    await waitFor("every query has data", async () => (await emptyQueries()).length === 0, 30_000).catch(
      () => undefined,
    );
    expect(await emptyQueries()).toEqual([]);
  }, 90_000);

  it("raises SshscrapeProxyDown (pending) once the proxy stops answering", async () => {
    await proxy.close(200);
    proxyStopped = true;
    await waitFor(
      "SshscrapeProxyDown pending",
      async () =>
        (await prometheus.query('ALERTS{alertname="SshscrapeProxyDown"}')).some(
          (a) => a.metric.instance === new URL(proxy.url).host,
        ),
      30_000,
    );
  }, 40_000);
});
