/**
 * The proxy series the alerts are built on, against a real sshd: sshscrape_ssh_failing holds one series per
 * host that is down, labelled with its latest cause, replaced when the cause changes and gone once the host
 * connects; per-target errors carry the phase; readiness and handshake latency are exported.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type RunningProxy, startProxy } from "../../src/proxy/index.js";
import { type Exporter, startExporter } from "../helpers/exporter.js";
import { memoryLogger, metricValue, runtimeFor, viaProxy } from "../helpers/proxy.js";
import { type Sshd, startSshd } from "../helpers/sshd.js";

let sshd: Sshd;
let exporter: Exporter;
let proxy: RunningProxy;
const metrics = () => fetch(`${proxy.url}/metrics`).then((r) => r.text());
const failingLines = (text: string) => text.split("\n").filter((l) => l.startsWith("sshscrape_ssh_failing{"));

beforeAll(async () => {
  sshd = await startSshd();
  sshd.setAuthorizedKeys("");
  exporter = await startExporter({ body: "up_from_exporter 1\n" });
  proxy = await startProxy(
    runtimeFor(sshd, { exact: [{ host: "127.0.0.1", port: exporter.port }], timeouts: { backoff: 100 } }),
    { logger: memoryLogger("fatal").logger },
  );
});

afterAll(async () => {
  await proxy?.close(200);
  await exporter?.close();
  await sshd?.stop();
});

const host = () => `${sshd.user}@127.0.0.1:${sshd.port}`;
const pause = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe("the proxy's per-host and per-target failure series", () => {
  it("is ready without preconnect and has no failing host before any attempt", async () => {
    const text = await metrics();
    expect(metricValue(text, "sshscrape_ready")).toBe(1);
    expect(failingLines(text)).toEqual([]);
  });

  it("labels a refused key SSH_AUTH_FAILED, per host and per target", async () => {
    expect((await viaProxy(proxy.url, exporter.url)).status).toBe(502);
    const text = await metrics();
    expect(failingLines(text)).toEqual([
      `sshscrape_ssh_failing{host="${host()}",type="SSH_AUTH_FAILED",phase="ssh-auth"} 1`,
    ]);
    const target = `127.0.0.1:${exporter.port}`;
    expect(metricValue(text, "sshscrape_target_errors_total", { target, type: "SSH_AUTH_FAILED" })).toBe(1);
  });

  it("replaces the series when the cause changes", async () => {
    await sshd.stop();
    await pause(150);
    expect((await viaProxy(proxy.url, exporter.url)).status).toBe(502);
    expect(failingLines(await metrics())).toEqual([
      `sshscrape_ssh_failing{host="${host()}",type="SSH_CONNECT_FAILED",phase="ssh-connect"} 1`,
    ]);
  });

  it("drops it once the host connects, and records the handshake's duration", async () => {
    await sshd.restart();
    sshd.setAuthorizedKeys(`${sshd.clientKeyPub}\n`);
    await pause(150);
    expect((await viaProxy(proxy.url, exporter.url)).status).toBe(200);
    const text = await metrics();
    expect(failingLines(text)).toEqual([]);
    expect(metricValue(text, "sshscrape_ssh_handshake_last_seconds", { host: host() })).toBeGreaterThan(0);
    expect(metricValue(text, "sshscrape_ssh_handshake_duration_seconds_count")).toBe(1);
  });
});
