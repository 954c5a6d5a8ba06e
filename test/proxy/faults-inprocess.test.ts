/**
 * Faults OpenSSH cannot produce on demand, injected with an in-process ssh2.Server: a handshake that never
 * completes, and a direct-tcpip channel open that is never answered. Everything else uses real sshd.
 */
import { mkdtempSync, writeFileSync } from "node:fs";
import type { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import ssh2 from "ssh2";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type RunningProxy, startProxy } from "../../src/proxy/index.js";
import type { ProxyRuntime } from "../../src/proxy/settings.js";
import { ed25519KeyPair } from "../helpers/ed25519.js";
import { memoryLogger, runtimeFor, type SshServer, viaProxy } from "../helpers/proxy.js";

type Mode = "stall-auth" | "ignore-channel";

interface FakeSshd {
  port: number;
  knownHostsLine: string;
  close(): Promise<void>;
}

async function fakeSshd(mode: Mode): Promise<FakeSshd> {
  const hostKey = ed25519KeyPair();
  const server = new ssh2.Server({ hostKeys: [hostKey.private] }, (client) => {
    client.on("error", () => {});
    client.on("authentication", (ctx) => {
      if (mode === "stall-auth") return; // never accept or reject: the handshake hangs
      ctx.accept();
    });
    client.on("ready", () => {
      client.on("tcpip", () => {
        // never accept or reject: the channel open is never answered
      });
    });
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", () => resolve()));
  const port = (server.address() as AddressInfo).port;
  return {
    port,
    knownHostsLine: `[127.0.0.1]:${port} ${hostKey.public.split(" ").slice(0, 2).join(" ")}`,
    close: () => new Promise((resolve) => server.close(() => resolve())),
  };
}

/** The proxy's runtime for a fake: its own directory, a fresh client key, the proxy's default timeouts. */
function runtime(fake: FakeSshd): ProxyRuntime {
  const dir = mkdtempSync(join(tmpdir(), "sshscrape-faults-"));
  const key = ed25519KeyPair();
  const clientKeyPath = join(dir, "client_key");
  writeFileSync(clientKeyPath, key.private, { mode: 0o600 });
  const server: SshServer = {
    dir,
    user: "prom",
    port: fake.port,
    clientKeyPath,
    knownHostsLine: () => fake.knownHostsLine,
  };
  return runtimeFor(server, {
    exact: [{ host: "127.0.0.1", port: 9100 }],
    timeouts: {
      request: 30_000,
      connect: 5_000,
      handshake: 20_000,
      channelOpen: 20_000,
      keepaliveInterval: 15_000,
      backoff: 10_000,
      grace: 1_000,
    },
  });
}

const log = memoryLogger("info");

/** The budget a 504 body names: "timed out in phase X after N ms". */
function budgetIn(body: string): number {
  const n = /timed out in phase [\w-]+ after (\d+) ms/.exec(body)?.[1];
  if (n === undefined) throw new Error(`no budget in ${JSON.stringify(body)}`);
  return Number(n);
}
let stalled: FakeSshd;
let silent: FakeSshd;
let stalledProxy: RunningProxy;
let silentProxy: RunningProxy;

beforeAll(async () => {
  stalled = await fakeSshd("stall-auth");
  silent = await fakeSshd("ignore-channel");
  stalledProxy = await startProxy(runtime(stalled), { logger: log.logger });
  silentProxy = await startProxy(runtime(silent), { logger: log.logger });
});

afterAll(async () => {
  await stalledProxy?.close(100);
  await silentProxy?.close(100);
  await stalled?.close();
  await silent?.close();
});

describe("faults injected with ssh2.Server", () => {
  it("a stalled handshake ends in 504 naming ssh-handshake, inside the scrape timeout", async () => {
    const started = Date.now();
    const res = await viaProxy(stalledProxy.url, "http://127.0.0.1:9100/metrics", {
      headers: { "x-prometheus-scrape-timeout-seconds": "2" },
    });
    expect(res.status).toBe(504);
    // Budgeted from the header (2000 − 500 ms margin), not from handshakeTimeout (20 s): the body says how
    // long the proxy waited. The wall-clock bound only rules out the 20 s wait, with room for a busy machine.
    expect(res.body.toString()).toContain("timed out in phase ssh-handshake");
    expect(budgetIn(res.body.toString())).toBeLessThanOrEqual(1500);
    expect(Date.now() - started).toBeLessThan(6000);
  });

  it("a channel open that is never answered ends in 504 naming channel-open, inside the scrape timeout", async () => {
    const started = Date.now();
    const res = await viaProxy(silentProxy.url, "http://127.0.0.1:9100/metrics", {
      headers: { "x-prometheus-scrape-timeout-seconds": "2" },
    });
    expect(res.status).toBe(504);
    expect(res.body.toString()).toContain("channel-open");
    expect(budgetIn(res.body.toString())).toBeLessThanOrEqual(1500);
    expect(Date.now() - started).toBeLessThan(6000);
    const warn = log.records.find((r) => r.msg === "request failed" && r.phase === "channel-open");
    expect(warn).toMatchObject({ level: 40, target: "127.0.0.1:9100", status: 504 });
  });
});
