/**
 * The proxy against a real OpenSSH sshd and real HTTP(S) exporters on loopback: what Prometheus sees.
 */
import { Agent, request } from "node:http";
import { connect as tlsConnect } from "node:tls";
import { gzipSync } from "node:zlib";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type RunningProxy, startProxy } from "../../src/proxy/index.js";
import { type Exporter, makeTls, metricsBody, startExporter } from "../helpers/exporter.js";
import { closedPort } from "../helpers/ports.js";
import { memoryLogger, metricValue, rawRequest, runtimeFor, sshdLogins, viaProxy } from "../helpers/proxy.js";
import { type Sshd, startSshd } from "../helpers/sshd.js";

const HOSTS = ["127.0.0.1", "127.0.0.2", "127.0.0.3", "127.0.0.4", "127.0.0.5"];

let sshd: Sshd;
let big: Exporter;
let gzipped: Exporter;
let echo: Exporter;
let hanging: Exporter;
let tls: Exporter;
let tlsCa: string;
/** One exporter per HOSTS entry (all listen on 127.0.0.1; the target host decides the SSH connection). */
const perHost: Exporter[] = [];
let proxy: RunningProxy;
const log = memoryLogger();
const gzipBody = gzipSync(metricsBody(50_000));

const metrics = () => fetch(`${proxy.url}/metrics`).then((r) => r.text());

/** Every exporter port the sshd's key may open (the generator's permitopen list), closedPort included. */
const opens: number[] = [];
/** A port nothing listens on, for the CHANNEL_OPEN_FAILED and sshd-down cases. */
let closed: number;

beforeAll(async () => {
  big = await startExporter({ body: metricsBody(100_000) });
  gzipped = await startExporter({
    handler: (_req, res) => {
      res.writeHead(200, { "content-type": "text/plain", "content-encoding": "gzip" });
      res.end(gzipBody);
    },
  });
  echo = await startExporter({
    handler: (req, res) => {
      const chunks: Buffer[] = [];
      req.on("data", (c: Buffer) => chunks.push(c));
      req.on("end", () => {
        res.writeHead(200, {
          "content-type": "application/json",
          "keep-alive": "timeout=99",
          "x-named-in-connection": "drop me",
          connection: "x-named-in-connection",
        });
        res.end(
          JSON.stringify({ headers: req.rawHeaders, body: Buffer.concat(chunks).toString(), url: req.url }),
        );
      });
    },
  });
  hanging = await startExporter({ handler: () => {} });
  const material = makeTls(["localhost", "127.0.0.1"]);
  tlsCa = material.caCert;
  tls = await startExporter({ tls: material, body: "tls_metric 1\n" });
  for (const [i] of HOSTS.entries()) perHost.push(await startExporter({ body: `host_index ${i}\n` }));
  closed = await closedPort();
  opens.push(...[big, gzipped, echo, hanging, tls, ...perHost].map((e) => e.port), closed);
  // The generator's key line for exactly these exporters: every request below goes through what we deploy.
  sshd = await startSshd({ addresses: HOSTS, permitOpen: opens });
  const exact = [big, gzipped, echo, hanging, tls].map((e) => ({ host: "127.0.0.1", port: e.port }));
  HOSTS.forEach((h, i) => {
    exact.push({ host: h, port: (perHost[i] as Exporter).port });
  });
  // POST is forwarded only to exporters that opt in (extraMethods); the echo exporter does.
  const extraMethods = new Map([[`127.0.0.1:${echo.port}`, new Set(["POST"])]]);
  proxy = await startProxy(runtimeFor(sshd, { exact, overrides: { extraMethods } }), { logger: log.logger });
});

afterAll(async () => {
  await proxy?.close(500);
  for (const e of [big, gzipped, echo, hanging, tls, ...perHost]) await e?.close();
  await sshd?.stop();
});

describe("proxying over real OpenSSH", () => {
  it("returns the exporter's body byte for byte", async () => {
    const res = await viaProxy(proxy.url, big.url);
    expect(res.status).toBe(200);
    expect(res.body.equals(big.body)).toBe(true);
    expect(res.headers["content-type"]).toBe("text/plain; version=0.0.4");
  });

  it("passes Content-Encoding: gzip and the compressed bytes through untouched", async () => {
    const res = await viaProxy(proxy.url, gzipped.url, { headers: { "accept-encoding": "gzip" } });
    expect(res.status).toBe(200);
    expect(res.headers["content-encoding"]).toBe("gzip");
    expect(res.body.equals(gzipBody)).toBe(true);
  });

  it("strips hop-by-hop headers both ways and forwards the rest, with a POST body", async () => {
    const res = await viaProxy(proxy.url, `http://127.0.0.1:${echo.port}/echo?q=1`, {
      method: "POST",
      body: "payload",
      headers: {
        connection: "x-secret-hop",
        "x-secret-hop": "no",
        "proxy-authorization": "Basic Zm9vOmJhcg==",
        "x-prometheus-scrape-timeout-seconds": "10",
        "x-end-to-end": "yes",
        te: "trailers",
      },
    });
    expect(res.status).toBe(200);
    const seen = JSON.parse(res.body.toString()) as { headers: string[]; body: string; url: string };
    const names = seen.headers.filter((_, i) => i % 2 === 0).map((n) => n.toLowerCase());
    expect(seen.url).toBe("/echo?q=1");
    expect(seen.body).toBe("payload");
    expect(names).toContain("x-end-to-end");
    expect(names).toContain("x-prometheus-scrape-timeout-seconds");
    expect(names).not.toContain("x-secret-hop");
    expect(names).not.toContain("proxy-authorization");
    expect(names).not.toContain("te");
    expect(res.headers["x-named-in-connection"]).toBeUndefined();
    // The proxy's own Keep-Alive (node:http) may be there; the exporter's must not.
    expect(res.headers["keep-alive"]).not.toBe("timeout=99");
  });

  it("routes each request by its own target over one client keep-alive connection", async () => {
    const agent = new Agent({ keepAlive: true, maxSockets: 1 });
    const ports = new Set<number | undefined>();
    for (let round = 0; round < 2; round++) {
      for (const [i, host] of HOSTS.entries()) {
        const res = await viaProxy(proxy.url, `http://${host}:${(perHost[i] as Exporter).port}/metrics`, {
          agent,
        });
        expect(res.status).toBe(200);
        expect(res.body.toString()).toBe(`host_index ${i}\n`);
        ports.add(res.localPort);
      }
    }
    agent.destroy();
    expect(ports.size).toBe(1);
    // One SSH connection per target host.
    const text = await metrics();
    for (const host of HOSTS)
      expect(metricValue(text, "sshscrape_ssh_up", { host: `${sshd.user}@${host}:${sshd.port}` })).toBe(1);
  });

  it("logs in once for many requests to a host (handshake metric and sshd's log agree)", async () => {
    const host = `${sshd.user}@127.0.0.1:${sshd.port}`;
    await viaProxy(proxy.url, big.url);
    const loginsBefore = sshdLogins(sshd);
    const beforeText = await metrics();
    const before = metricValue(beforeText, "sshscrape_ssh_handshakes_total", { host, result: "success" });
    // Idle keep-alive channels left by earlier tests (to other exporters) count in the gauge too.
    const channelsBefore = metricValue(beforeText, "sshscrape_ssh_channels");
    const results = await Promise.all(Array.from({ length: 20 }, () => viaProxy(proxy.url, big.url)));
    for (let i = 0; i < 10; i++) results.push(await viaProxy(proxy.url, gzipped.url));
    expect(results.every((r) => r.status === 200)).toBe(true);
    const after = metricValue(await metrics(), "sshscrape_ssh_handshakes_total", { host, result: "success" });
    expect(before).toBe(1);
    expect(after).toBe(1);
    expect(sshdLogins(sshd)).toBe(loginsBefore);
    // Channels stay open as idle keep-alive connections to the exporter (src/proxy/upstream.ts), at most one
    // per request that was in flight at once (20 to big, 1 to gzipped): none leaked.
    expect(metricValue(await metrics(), "sshscrape_ssh_channels") - channelsBefore).toBeLessThanOrEqual(21);
  });

  it("tunnels CONNECT so TLS is verified end to end with the exporter's CA", async () => {
    const socket = await new Promise<import("node:net").Socket>((resolve, reject) => {
      const req = request({
        host: "127.0.0.1",
        port: proxy.port,
        method: "CONNECT",
        path: `127.0.0.1:${tls.port}`,
        headers: { host: `127.0.0.1:${tls.port}` },
      });
      req.on("connect", (res, sock) => {
        if (res.statusCode === 200) resolve(sock);
        else reject(new Error(`CONNECT answered ${res.statusCode}`));
      });
      req.on("error", reject);
      req.end();
    });
    const secure = tlsConnect({ socket, ca: tlsCa, servername: "localhost" });
    await new Promise<void>((resolve, reject) => {
      secure.once("secureConnect", () => resolve());
      secure.once("error", reject);
    });
    expect(secure.authorized).toBe(true);
    secure.write(`GET /metrics HTTP/1.1\r\nHost: 127.0.0.1:${tls.port}\r\nConnection: close\r\n\r\n`);
    let text = "";
    for await (const chunk of secure) text += chunk.toString();
    expect(text).toMatch(/^HTTP\/1\.1 200/);
    expect(text.endsWith("\r\n\r\ntls_metric 1\n")).toBe(true);
  });

  it("answers CONNECT to a target that is not allowed with 403 and a body", async () => {
    const answer = await rawRequest(proxy.url, "CONNECT 127.0.0.1:1 HTTP/1.1\r\nHost: 127.0.0.1:1\r\n\r\n");
    expect(answer).toMatch(/^HTTP\/1\.1 403/);
    expect(answer).toContain("127.0.0.1:1 is not an allowed target");
  });
});

describe("failures Prometheus can read", () => {
  it("403 for a target that is not allowed", async () => {
    const res = await viaProxy(proxy.url, "http://127.0.0.1:9/metrics");
    expect(res.status).toBe(403);
    expect(res.body.toString()).toContain("127.0.0.1:9 is not an allowed target");
  });

  it("502 naming the remote address when nothing listens on the exporter port", async () => {
    const port = closed;
    const p = await startProxy(runtimeFor(sshd, { exact: [{ host: "127.0.0.1", port }] }), {
      logger: log.logger,
    });
    try {
      const res = await viaProxy(p.url, `http://127.0.0.1:${port}/metrics`);
      expect(res.status).toBe(502);
      expect(res.headers["x-sshscrape-error"]).toBe("CHANNEL_OPEN_FAILED");
      expect(res.body.toString()).toContain(`127.0.0.1:${port}`);
      expect(res.body.toString()).toMatch(/Connection refused/i);
      // The SSH connection itself is fine: the next good request reuses it.
      const warn = log.records.find((r) => r.msg === "request failed" && r.target === `127.0.0.1:${port}`);
      expect(warn).toMatchObject({ level: 40, phase: "channel-open" });
    } finally {
      await p.close(100);
    }
  });

  it("504 naming the phase, before the scrape timeout, when the exporter never answers", async () => {
    const started = Date.now();
    const res = await viaProxy(proxy.url, hanging.url, {
      headers: { "x-prometheus-scrape-timeout-seconds": "1.5" },
    });
    const took = Date.now() - started;
    expect(res.status).toBe(504);
    // The mechanism: the proxy budgeted the scrape timeout minus its margin (1500 − 500 ms) and spent what
    // was left of it waiting for the response. The wall-clock bound is loose on purpose (loaded machines);
    // it only rules out waiting for proxy.timeout (10 s) instead.
    const budget = Number(
      /timed out in phase upstream-response after (\d+) ms/.exec(res.body.toString())?.[1],
    );
    expect(budget).toBeGreaterThan(0);
    expect(budget).toBeLessThanOrEqual(1000);
    expect(took).toBeLessThan(5000);
  });

  it("400 for malformed and non-http targets, and for origin-form paths that are not ours", async () => {
    const ftp = await rawRequest(proxy.url, "GET ftp://127.0.0.1:21/ HTTP/1.1\r\nHost: x\r\n\r\n", 1000);
    expect(ftp).toMatch(/^HTTP\/1\.1 400/);
    const garbage = await rawRequest(proxy.url, "NOT HTTP AT ALL\r\n\r\n", 1000);
    expect(garbage).toMatch(/^HTTP\/1\.1 400/);
    const origin = await fetch(`${proxy.url}/something`);
    expect(origin.status).toBe(400);
    expect(await origin.text()).toContain("proxy_url");
  });

  it("405 for methods that are not proxied", async () => {
    const res = await viaProxy(proxy.url, big.url, { method: "DELETE" });
    expect(res.status).toBe(405);
  });

  it("431 for a header block over the limit", async () => {
    const res = await viaProxy(proxy.url, big.url, { headers: { "x-big": "a".repeat(20_000) } });
    expect(res.status).toBe(431);
  });

  it("502 on a host key mismatch, logged at error", async () => {
    const other = await startSshd();
    const wrongKey = other.knownHostsLine().split(" ").slice(1).join(" ");
    await other.stop();
    const bad = memoryLogger();
    const p = await startProxy(
      runtimeFor(sshd, {
        exact: [{ host: "127.0.0.1", port: big.port }],
        knownHosts: `[127.0.0.1]:${sshd.port} ${wrongKey}\n`,
      }),
      { logger: bad.logger },
    );
    try {
      const res = await viaProxy(p.url, big.url);
      expect(res.status).toBe(502);
      expect(res.headers["x-sshscrape-error"]).toBe("HOST_KEY_MISMATCH");
      expect(res.body.toString()).toContain("host key mismatch for 127.0.0.1");
      expect(bad.records.some((r) => r.level === 50 && r.code === "HOST_KEY_MISMATCH")).toBe(true);
    } finally {
      await p.close(100);
    }
  });

  it("accepts a hashed known_hosts (ssh-keygen -H) and refuses an @revoked key with 502", async () => {
    const { execFileSync } = await import("node:child_process");
    const { readFileSync, writeFileSync } = await import("node:fs");
    const hashedFile = `${sshd.dir}/known_hosts_hashed`;
    writeFileSync(hashedFile, `${sshd.knownHostsLine(["127.0.0.1"])}\n`);
    execFileSync("ssh-keygen", ["-q", "-H", "-f", hashedFile]);
    expect(readFileSync(hashedFile, "utf8")).toMatch(/^\|1\|/);
    for (const [knownHosts, status] of [
      [readFileSync(hashedFile, "utf8"), 200],
      [`@revoked ${sshd.knownHostsLine(["127.0.0.1"])}\n${sshd.knownHostsLine(["127.0.0.1"])}\n`, 502],
    ] as const) {
      const p = await startProxy(
        runtimeFor(sshd, { exact: [{ host: "127.0.0.1", port: big.port }], knownHosts }),
        { logger: log.logger },
      );
      try {
        const res = await viaProxy(p.url, big.url);
        expect(res.status).toBe(status);
        if (status === 502) expect(res.body.toString()).toContain("@revoked");
      } finally {
        await p.close(100);
      }
    }
  });

  it("502 naming the cause when sshd is down, then fails fast from the backoff without reconnecting", async () => {
    // An "sshd" whose port refuses connections for the whole test (nothing can start there meanwhile).
    const down = { ...sshd, port: closed };
    const p = await startProxy(
      runtimeFor(down, { exact: [{ host: "127.0.0.1", port: big.port }], timeouts: { backoff: 30_000 } }),
      { logger: log.logger },
    );
    try {
      const first = await viaProxy(p.url, big.url);
      expect(first.status).toBe(502);
      expect(first.body.toString()).toMatch(/cannot connect to SSH server .*127\.0\.0\.1.*ECONNREFUSED/);
      const second = await viaProxy(p.url, big.url);
      expect(second.status).toBe(502);
      expect(second.headers["x-sshscrape-error"]).toBe("SSH_BACKOFF");
      expect(second.body.toString()).toContain("ECONNREFUSED");
      const text = await fetch(`${p.url}/metrics`).then((r) => r.text());
      expect(metricValue(text, "sshscrape_ssh_handshakes_total", { result: "failure" })).toBe(1);
      const targets = (await fetch(`${p.url}/targets`).then((r) => r.json())) as {
        hosts: Array<{ state: string; lastError?: { code: string } }>;
      };
      expect(targets.hosts[0]).toMatchObject({ state: "backoff", lastError: { code: "SSH_CONNECT_FAILED" } });
    } finally {
      await p.close(100);
    }
  });

  it("407 without or with wrong proxy credentials; 200 with the right ones", async () => {
    const { writeFileSync } = await import("node:fs");
    const pwFile = `${sshd.dir}/proxy-password`;
    writeFileSync(pwFile, "s3cret\n");
    const p = await startProxy(
      runtimeFor(sshd, {
        exact: [{ host: "127.0.0.1", port: big.port }],
        overrides: { auth: { username: "prom", passwordFile: pwFile } },
      }),
      { logger: log.logger },
    );
    const basic = (s: string) => `Basic ${Buffer.from(s).toString("base64")}`;
    try {
      const none = await viaProxy(p.url, big.url);
      expect(none.status).toBe(407);
      expect(none.headers["proxy-authenticate"]).toContain("Basic");
      const wrong = await viaProxy(p.url, big.url, {
        headers: { "proxy-authorization": basic("prom:nope") },
      });
      expect(wrong.status).toBe(407);
      const right = await viaProxy(p.url, big.url, {
        headers: { "proxy-authorization": basic("prom:s3cret") },
      });
      expect(right.status).toBe(200);
      expect(right.body.equals(big.body)).toBe(true);
    } finally {
      await p.close(100);
    }
  });

  it("502 instead of a truncated body when the response exceeds maxResponseBytes", async () => {
    const chunked = await startExporter({
      handler: (_req, res) => {
        res.writeHead(200, { "content-type": "text/plain" });
        res.write(big.body.subarray(0, 60_000));
        setTimeout(() => res.end(big.body.subarray(60_000)), 50);
      },
    });
    sshd.permitOpen([...opens, chunked.port]); // read at the next login: the new proxy's
    const p = await startProxy(
      runtimeFor(sshd, {
        exact: [
          { host: "127.0.0.1", port: big.port },
          { host: "127.0.0.1", port: chunked.port },
        ],
        overrides: { maxResponseBytes: 50_000 },
      }),
      { logger: log.logger },
    );
    try {
      const known = await viaProxy(p.url, big.url);
      expect(known.status).toBe(502);
      expect(known.body.toString()).toContain("maxResponseBytes");
      // Without Content-Length the headers are out before the limit is hit: the response must fail, not end
      // short. On the wire: a 200 whose chunked body is cut off without its last-chunk (RFC 9112 §7.1), so
      // the client cannot take it for a complete response.
      const raw = await rawRequest(
        p.url,
        `GET ${chunked.url} HTTP/1.1\r\nHost: 127.0.0.1:${chunked.port}\r\nConnection: close\r\n\r\n`,
        10_000,
      );
      expect(raw).toMatch(/^HTTP\/1\.1 200 /);
      expect(raw.toLowerCase()).toContain("transfer-encoding: chunked");
      expect(raw).not.toMatch(/\r\n0\r\n\r\n$/);
      expect(raw.length).toBeLessThan(big.body.length);
      await expect(viaProxy(p.url, chunked.url)).rejects.toMatchObject({ code: "ECONNRESET" });
      const text = await fetch(`${p.url}/metrics`).then((r) => r.text());
      expect(metricValue(text, "sshscrape_errors_total", { type: "RESPONSE_TOO_LARGE" })).toBe(3);
    } finally {
      await p.close(100);
      await chunked.close();
    }
  });

  it("serves /healthz, /metrics and /targets in origin form", async () => {
    expect(await fetch(`${proxy.url}/healthz`).then((r) => r.text())).toBe("ok\n");
    const text = await metrics();
    expect(text).toContain("process_cpu_seconds_total");
    expect(metricValue(text, "sshscrape_requests_total", { code: "403" })).toBeGreaterThan(0);
    expect(metricValue(text, "sshscrape_errors_total", { type: "NOT_ALLOWED" })).toBeGreaterThan(0);
    const targets = (await fetch(`${proxy.url}/targets`).then((r) => r.json())) as {
      hosts: Array<{ host: string; state: string }>;
    };
    expect(targets.hosts.find((h) => h.host === `${sshd.user}@127.0.0.1:${sshd.port}`)?.state).toBe(
      "connected",
    );
  });
});
