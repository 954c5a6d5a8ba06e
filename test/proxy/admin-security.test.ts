/**
 * The proxy's own endpoints and its own telemetry as an outsider meets them, against a real sshd:
 * /metrics and /targets behind proxy.auth, /targets without file paths, bounded metric labels in
 * sshified mode, and refused requests counted in full but logged at a bounded rate.
 */
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type RunningProxy, startProxy } from "../../src/proxy/index.js";
import { MAX_EXTRA_LABELS, OVERFLOW_LABEL } from "../../src/proxy/metrics.js";
import { LOG_BURST } from "../../src/proxy/request-log.js";
import { type Exporter, startExporter } from "../helpers/exporter.js";
import { memoryLogger, metricValue, runtimeFor, viaProxy } from "../helpers/proxy.js";
import { type Sshd, startSshd } from "../helpers/sshd.js";

let sshd: Sshd;
let exporter: Exporter;

beforeAll(async () => {
  sshd = await startSshd();
  exporter = await startExporter({ body: "up 1\n" });
});

afterAll(async () => {
  await exporter?.close();
  await sshd?.stop();
});

const basic = (user: string, password: string) =>
  `Basic ${Buffer.from(`${user}:${password}`).toString("base64")}`;

describe("admin endpoints with proxy.auth", () => {
  let proxy: RunningProxy;
  const passwordFile = () => join(sshd.dir, "proxy-password");

  beforeAll(async () => {
    writeFileSync(passwordFile(), "s3cret\n");
    proxy = await startProxy(
      runtimeFor(sshd, {
        exact: [{ host: "127.0.0.1", port: exporter.port }],
        overrides: { auth: { username: "prom", passwordFile: passwordFile() } },
      }),
      { logger: memoryLogger().logger },
    );
  });
  afterAll(() => proxy?.close(500));

  it.each(["/metrics", "/targets"])(
    "%s: 401 with a challenge without or with wrong credentials",
    async (path) => {
      const none = await fetch(`${proxy.url}${path}`);
      expect(none.status).toBe(401);
      expect(none.headers.get("www-authenticate")).toBe('Basic realm="sshscrape"');
      expect(none.headers.get("x-sshscrape-error")).toBe("AUTH_REQUIRED");
      const wrong = await fetch(`${proxy.url}${path}`, { headers: { authorization: basic("prom", "nope") } });
      expect(wrong.status).toBe(401);
    },
  );

  it.each(["authorization", "proxy-authorization"])(
    "%s: 200 with the proxy's credentials",
    async (header) => {
      for (const path of ["/metrics", "/targets"]) {
        const res = await fetch(`${proxy.url}${path}`, { headers: { [header]: basic("prom", "s3cret") } });
        expect(res.status).toBe(200);
      }
    },
  );

  it("guards /metrics on proxy.metricsListen the same way", async () => {
    const p = await startProxy(
      runtimeFor(sshd, {
        exact: [{ host: "127.0.0.1", port: exporter.port }],
        overrides: {
          auth: { username: "prom", passwordFile: passwordFile() },
          metricsListen: { host: "127.0.0.1", port: 0 },
        },
      }),
      { logger: memoryLogger().logger },
    );
    try {
      const url = p.metricsUrl as string;
      expect((await fetch(url)).status).toBe(401);
      expect((await fetch(url, { headers: { authorization: basic("prom", "s3cret") } })).status).toBe(200);
    } finally {
      await p.close(500);
    }
  });

  it("keeps /healthz and /readyz open (the unit's ExecStartPost polls /readyz with a plain curl)", async () => {
    expect((await fetch(`${proxy.url}/healthz`)).status).toBe(200);
    expect((await fetch(`${proxy.url}/readyz`)).status).toBe(200);
  });
});

describe("/targets never shows file paths", () => {
  it("reports a refused SSH login without the key file or the target list path", async () => {
    const other = await startSshd();
    try {
      other.setAuthorizedKeys("");
      const rt = runtimeFor(other, { exact: [{ host: "127.0.0.1", port: exporter.port }] });
      const proxy = await startProxy(
        { ...rt, source: "/etc/sshscrape/targets.yaml" },
        { logger: memoryLogger().logger },
      );
      try {
        const res = await viaProxy(proxy.url, exporter.url);
        expect(res.status).toBe(502);
        expect(res.headers["x-sshscrape-error"]).toBe("SSH_AUTH_FAILED");
        const text = await (await fetch(`${proxy.url}/targets`)).text();
        const body = JSON.parse(text) as { hosts: Array<{ lastError?: { code: string; message: string } }> };
        expect(body.hosts[0]?.lastError?.code).toBe("SSH_AUTH_FAILED");
        expect(body.hosts[0]?.lastError?.message).toContain("<file>");
        expect(text).not.toContain(other.clientKeyPath);
        expect(text).not.toContain(other.dir);
        expect(text).not.toContain("/etc/sshscrape");
      } finally {
        await proxy.close(500);
      }
    } finally {
      await other.stop();
    }
  });
});

describe("bounded cardinality and rate-limited refusal logs", () => {
  it(`sshified mode: requests to ${MAX_EXTRA_LABELS * 2} distinct ports add at most ${MAX_EXTRA_LABELS} target labels plus "${OVERFLOW_LABEL}"`, async () => {
    const log = memoryLogger();
    const proxy = await startProxy(
      runtimeFor(sshd, { anyKnownHost: true, overrides: { mode: "sshified" } }),
      {
        logger: log.logger,
      },
    );
    try {
      // Ports where nothing listens: sshd refuses each channel at once (502), which is all a prober needs.
      const ports = Array.from({ length: MAX_EXTRA_LABELS * 2 }, (_, i) => 40000 + i);
      for (let i = 0; i < ports.length; i += 16)
        await Promise.all(
          ports.slice(i, i + 16).map((p) => viaProxy(proxy.url, `http://127.0.0.1:${p}/metrics`)),
        );
      const text = await fetch(`${proxy.url}/metrics`).then((r) => r.text());
      const targets = new Set(
        text
          .split("\n")
          .filter((l) => l.startsWith("sshscrape_requests_total{"))
          .map((l) => /target="([^"]*)"/.exec(l)?.[1]),
      );
      expect(targets.size).toBe(MAX_EXTRA_LABELS + 1);
      expect(targets.has(OVERFLOW_LABEL)).toBe(true);
      expect(metricValue(text, "sshscrape_requests_total")).toBe(ports.length);
      expect(metricValue(text, "sshscrape_requests_total", { target: OVERFLOW_LABEL })).toBe(
        ports.length - MAX_EXTRA_LABELS,
      );
    } finally {
      await proxy.close(500);
    }
  });

  it(`logs at most ${LOG_BURST} lines per kind of refusal per minute, counts all of them, and sums up the rest`, async () => {
    const log = memoryLogger();
    const proxy = await startProxy(
      runtimeFor(sshd, { exact: [{ host: "127.0.0.1", port: exporter.port }] }),
      {
        logger: log.logger,
      },
    );
    const n = 40;
    for (let i = 0; i < n; i++) expect((await viaProxy(proxy.url, "http://127.0.0.1:1/")).status).toBe(403);
    const text = await fetch(`${proxy.url}/metrics`).then((r) => r.text());
    expect(metricValue(text, "sshscrape_errors_total", { type: "NOT_ALLOWED" })).toBe(n);
    expect(metricValue(text, "sshscrape_log_lines_suppressed_total", { type: "NOT_ALLOWED" })).toBe(
      n - LOG_BURST,
    );
    await proxy.close(500);
    const lines = log.records.filter((r) => r.code === "NOT_ALLOWED");
    expect(lines.filter((r) => r.msg === "request failed")).toHaveLength(LOG_BURST);
    const summary = lines.filter((r) => r.suppressed !== undefined);
    expect(summary).toHaveLength(1);
    expect(summary[0]?.suppressed).toBe(n - LOG_BURST);
  });
});
