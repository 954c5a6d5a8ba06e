import { mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { request } from "node:http";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { pino } from "pino";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { CheckResult } from "../../src/check/index.js";
import { loadConfig } from "../../src/config/index.js";
import { type RunningProxy, settingsFromConfig, startProxy } from "../../src/proxy/index.js";
import { type Exporter, makeTls, metricsBody, startExporter } from "../helpers/exporter.js";
import { closedPort, withReservedPort } from "../helpers/ports.js";
import { runCli } from "../helpers/run-cli.js";
import { type Sshd, startSshd } from "../helpers/sshd.js";

let sshd: Sshd;
let work: string;
let good: Exporter;
let secure: Exporter;
let caPath: string;
let downPort: number;

/** Samples counted independently of sshscrape: metricsBody's sample lines all start with the metric name. */
const expectedSamples = (body: Buffer) =>
  body
    .toString()
    .split("\n")
    .filter((l) => l.startsWith("test_metric")).length;

beforeAll(async () => {
  work = mkdtempSync(join(tmpdir(), "sshscrape-check-"));
  good = await startExporter({ body: metricsBody(20_000) });
  const tls = makeTls(["127.0.0.1"]);
  caPath = tls.caCertPath;
  secure = await startExporter({ tls, body: metricsBody(3_000) });
  // Refuses connections for the whole file (a privileged port no service uses).
  downPort = await closedPort();
  // The key line the generator writes for these exporters: a check passes with no more than that.
  sshd = await startSshd({ permitOpen: [good.port, secure.port, downPort] });
});
afterAll(async () => {
  await good?.close();
  await secure?.close();
  await sshd?.stop();
});

let n = 0;
/** A target list for the test sshd; without `proxyPort` its proxy.listen is a port nothing listens on. */
async function writeList(exporters: string[], proxyPort?: number): Promise<string> {
  const knownHosts = join(work, "known_hosts");
  writeFileSync(knownHosts, `${sshd.knownHostsLine()}\n`);
  const file = join(work, `list-${++n}.yaml`);
  writeFileSync(
    file,
    `proxy:
  listen: "127.0.0.1:${proxyPort ?? (await closedPort())}"
  knownHostsFile: ${knownHosts}
ssh:
  user: ${sshd.user}
  port: ${sshd.port}
  key: { path: ${sshd.clientKeyPath} }
targets:
  - host: 127.0.0.1
    exporters:
${exporters.map((e) => `      - ${e}`).join("\n")}
`,
  );
  return file;
}

/** The proxy's own answer for one target, fetched by hand: what check must pass on as the cause. */
function proxyBody(proxyUrl: string, target: string): Promise<{ status: number; body: string }> {
  const u = new URL(proxyUrl);
  return new Promise((resolve, reject) => {
    const r = request({
      host: u.hostname,
      port: u.port,
      path: `http://${target}/metrics`,
      headers: { host: target },
    });
    r.on("response", (res) => {
      let body = "";
      res.on("data", (d) => {
        body += d;
      });
      res.on("end", () => resolve({ status: res.statusCode ?? 0, body }));
    });
    r.on("error", reject);
    r.end();
  });
}

describe("sshscrape check through a running proxy (real sshd, real proxy, real exporters)", () => {
  let proxy: RunningProxy;
  let file: string;
  beforeAll(async () => {
    // check finds the proxy at the list's proxy.listen, so the port is chosen first (retried if taken).
    await withReservedPort(async (port) => {
      file = await writeList(
        [
          `{ name: node, port: ${good.port} }`,
          `{ name: down, port: ${downPort} }`,
          `{ name: tls, port: ${secure.port}, scheme: https }`,
        ],
        port,
      );
      proxy = await startProxy(settingsFromConfig(loadConfig(file)), { logger: pino({ level: "silent" }) });
    });
  });
  afterAll(async () => proxy?.close(0));

  it("--json: one entry per exporter; the good ones with status, bytes and the right sample count; exit 1 for the down one with the proxy's cause", async () => {
    const run = await runCli<CheckResult>(["check", file, "--json", "--ca", caPath]);
    expect(run.exitCode).toBe(1);
    const result = run.result as CheckResult;
    expect(result).toMatchObject({ ok: false, total: 3, failed: 1, direct: false, proxy: proxy.url });
    const [node, down, tls] = result.exporters;
    expect(node).toMatchObject({
      target: `127.0.0.1:${good.port}`,
      job: "node",
      ok: true,
      status: 200,
      bytes: good.body.length,
      samples: expectedSamples(good.body),
    });
    expect(node?.latencyMs).toBeGreaterThan(0);
    expect(tls).toMatchObject({
      ok: true,
      status: 200,
      scheme: "https",
      bytes: secure.body.length,
      samples: expectedSamples(secure.body),
    });
    const direct = await proxyBody(proxy.url, `127.0.0.1:${downPort}`);
    expect(direct.status).toBeGreaterThanOrEqual(500);
    expect(down).toMatchObject({ ok: false, status: direct.status, job: "down" });
    expect(down?.error).toContain(direct.body.trim());
    expect(down?.bytes).toBeUndefined();
  });

  it("prints a table on stdout and each failure with its cause on stderr; no progress output when not on a TTY", async () => {
    const run = await runCli(["check", file, "--ca", caPath]);
    expect(run.exitCode).toBe(1);
    expect(run.error).toBe("1 of 3 exporters failed");
    const lines = run.stdout.trim().split("\n");
    expect(lines[0]).toMatch(/^TARGET\s+JOB\s+SCHEME\s+STATUS\s+LATENCY\s+BYTES\s+SAMPLES$/);
    expect(lines[1]).toMatch(
      new RegExp(
        `^127\\.0\\.0\\.1:${good.port}\\s+node\\s+http\\s+200\\s+\\d+ ms\\s+\\S+ kB\\s+${expectedSamples(good.body)}$`,
      ),
    );
    expect(lines[2]).toMatch(/\sdown\s+http\s+FAIL 5\d\d\s/);
    expect(run.stderr).toContain(`http://127.0.0.1:${downPort}/metrics (job down): 5`);
    expect(run.stderr).not.toContain("checked ");
  });

  it("without --ca an https exporter with a private CA fails with the TLS cause", async () => {
    const run = await runCli<CheckResult>(["check", file, "--json"]);
    const tls = run.result?.exporters.find((e) => e.job === "tls");
    expect(tls?.ok).toBe(false);
    expect(tls?.error).toMatch(/TLS to 127\.0\.0\.1:\d+: .*certificate/i);
  });
});

describe("sshscrape check --direct", () => {
  it("goes straight over SSH through an in-process proxy and exits 0 when every exporter answers", async () => {
    const file = await writeList([
      `{ name: node, port: ${good.port} }`,
      `{ name: tls, port: ${secure.port}, scheme: https }`,
    ]);
    const run = await runCli<CheckResult>(["check", file, "--direct", "--ca", caPath, "--json"]);
    expect(run.exitCode).toBe(0);
    expect(run.result).toMatchObject({ ok: true, direct: true, total: 2, failed: 0 });
    expect(run.result?.exporters.map((e) => e.samples)).toEqual([
      expectedSamples(good.body),
      expectedSamples(secure.body),
    ]);
  });

  it("reports a refused CONNECT for an https exporter with the proxy's cause, without waiting for a timeout", async () => {
    const file = await writeList([`{ name: tlsdown, port: ${downPort}, scheme: https }`]);
    const run = await runCli<CheckResult>(["check", file, "--direct", "--json", "--timeout", "20s"]);
    expect(run.exitCode).toBe(1);
    const e = run.result?.exporters[0];
    expect(e).toMatchObject({ ok: false, scheme: "https" });
    expect(e?.status).toBeGreaterThanOrEqual(500);
    expect(e?.error).toMatch(new RegExp(`^CONNECT ${e?.status} .*: .*${downPort}`));
    expect(e?.latencyMs).toBeLessThan(15_000);
  });

  it("works from the list alone after keyscan: host keys from hostKeys, no known_hosts file", async () => {
    const file = join(work, "keyscanned.yaml");
    writeFileSync(
      file,
      `proxy: { knownHostsFile: ${join(work, "no-such-known-hosts")} }
ssh: { user: ${sshd.user}, port: ${sshd.port}, key: { path: ${sshd.clientKeyPath} } }
targets:
  - host: 127.0.0.1
    exporters: [{ name: node, port: ${good.port} }]
`,
    );
    // Before keyscan the in-process proxy has no way to verify the host, and says where it looked.
    const before = await runCli(["check", file, "--direct"]);
    expect(before.exitCode).toBeGreaterThan(0);
    expect(before.error).toContain(join(work, "no-such-known-hosts"));
    expect((await runCli(["keyscan", file])).exitCode).toBe(0);
    const after = await runCli<CheckResult>(["check", file, "--direct", "--json"]);
    expect(after.exitCode).toBe(0);
    expect(after.result?.exporters[0]?.samples).toBe(expectedSamples(good.body));
  });

  it("reports the down exporter with the in-process proxy's cause", async () => {
    const file = await writeList([`{ name: node, port: ${good.port} }`, `{ name: down, port: ${downPort} }`]);
    const run = await runCli<CheckResult>(["check", file, "--direct", "--json"]);
    expect(run.exitCode).toBe(1);
    const down = run.result?.exporters[1];
    expect(down?.ok).toBe(false);
    expect(down?.status).toBe(502);
    // The cause names the SSH login and the exporter address sshd could not open.
    expect(down?.error).toContain(`${sshd.user}@127.0.0.1:${sshd.port}`);
    expect(down?.error).toContain(`127.0.0.1:${downPort}`);
    expect(down?.error).toMatch(/refused|channel/i);
  });
});

describe("sshscrape check with proxy authentication", () => {
  it("sends the credentials from proxy.auth.passwordFile or from --proxy's URL", async () => {
    const passwordFile = join(work, "proxy-password");
    writeFileSync(passwordFile, "s3cret\n", { mode: 0o600 });
    const file = join(work, "with-auth.yaml");
    let plain = "";
    const proxy = await withReservedPort(async (port) => {
      plain = await writeList([`{ name: node, port: ${good.port} }`], port);
      writeFileSync(
        file,
        readFileSync(plain, "utf8").replace(
          "proxy:\n",
          `proxy:\n  auth: { username: prometheus, passwordFile: ${passwordFile} }\n`,
        ),
      );
      return startProxy(settingsFromConfig(loadConfig(file)), { logger: pino({ level: "silent" }) });
    });
    try {
      // Without credentials the proxy refuses (so the passing run below is the credentials' doing).
      const refused = await runCli<CheckResult>(["check", plain, "--proxy", proxy.url, "--json"]);
      expect(refused.result?.exporters[0]?.status).toBe(407);
      const run = await runCli<CheckResult>(["check", file, "--json"]);
      expect(run.exitCode).toBe(0);
      expect(run.result?.exporters[0]).toMatchObject({ ok: true, samples: expectedSamples(good.body) });
      // Credentials in --proxy's URL, as Prometheus' proxy_url takes them.
      const withUrl = `http://prometheus:s3cret@127.0.0.1:${proxy.port}`;
      const viaUrl = await runCli<CheckResult>(["check", plain, "--proxy", withUrl, "--json"]);
      expect(viaUrl.exitCode).toBe(0);
    } finally {
      await proxy.close(0);
    }
  });
});

describe("sshscrape check without a proxy", () => {
  it("names the proxy it could not reach and where the address came from, once, and suggests --direct", async () => {
    const file = await writeList([
      `{ name: node, port: ${good.port} }`,
      `{ name: other, port: ${downPort} }`,
    ]);
    const run = await runCli<CheckResult>(["check", file]);
    expect(run.exitCode).toBe(1);
    expect(run.error).toMatch(
      new RegExp(
        `^cannot reach the proxy at 127\\.0\\.0\\.1:\\d+ \\(${file}: proxy\\.listen\\): connection refused; .*--direct$`,
      ),
    );
  });
});
