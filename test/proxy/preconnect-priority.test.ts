/**
 * Scrapes before preconnects, under load: with a fleet still queued for preconnect handshakes, every scrape
 * for a host not yet connected takes the next handshake slot (src/proxy/semaphore.ts), not its place in the
 * preconnect queue. Real OpenSSH sshd; the one slot is held by a host that never speaks until the test
 * lets it go, so the order is decided by the queue alone, not by timing.
 */
import { createServer, type Socket } from "node:net";
import { afterAll, beforeAll, expect, it } from "vitest";
import { startProxy } from "../../src/proxy/index.js";
import { type Exporter, startExporter } from "../helpers/exporter.js";
import { waitFor } from "../helpers/processes.js";
import { memoryLogger, runtimeFor, viaProxy } from "../helpers/proxy.js";
import { type Sshd, startSshd } from "../helpers/sshd.js";

const HOSTS = Array.from({ length: 16 }, (_, i) => `127.0.3.${i + 1}`);
const MUTE = "127.0.3.100";
let sshd: Sshd;
let exporter: Exporter;

beforeAll(async () => {
  exporter = await startExporter({ body: "up 1\n" });
  sshd = await startSshd({ addresses: HOSTS, permitOpen: [exporter.port], highLimits: true });
});

afterAll(async () => {
  await exporter?.close();
  await sshd?.stop();
});

it("gives each scrape for a host still queued for preconnect the next handshake slot, ahead of the rest", async () => {
  // The first host to preconnect accepts TCP and never says a word: it holds the only slot until released.
  const silent = new Set<Socket>();
  const mute = createServer((sock) => silent.add(sock));
  await new Promise<void>((r) => mute.listen(0, MUTE, r));
  const mutePort = (mute.address() as { port: number }).port;
  const log = memoryLogger("debug");
  const p = await startProxy(
    runtimeFor(sshd, {
      exact: [MUTE, ...HOSTS].map((host) => ({ host, port: exporter.port })),
      timeouts: { handshake: 60_000, request: 30_000 },
      overrides: { preconnect: true, maxHandshakes: 1, hosts: new Map([[MUTE, { port: mutePort }]]) },
    }),
    { logger: log.logger },
  );
  try {
    await waitFor("the silent host to hold the slot", () => silent.size === 1);
    // Scrapes for the last four hosts, which FIFO would connect 13th to 16th.
    const wanted = HOSTS.slice(-4);
    const scrapes = wanted.map((h) => viaProxy(p.url, `http://${h}:${exporter.port}/metrics`));
    const raised = () =>
      log.records.filter((r) => r.msg === "a request raised the host's queued preconnect ahead of the rest");
    await waitFor("all four scrapes queued", () => raised().length === 4);
    for (const sock of silent) sock.destroy();

    expect((await Promise.all(scrapes)).map((r) => r.status)).toEqual([200, 200, 200, 200]);
    await waitFor("every host preconnected", async () => (await fetch(`${p.url}/readyz`)).status === 200);
    const established = log.records
      .filter((r) => r.msg === "SSH connection established")
      .map((r) => String(r.host));
    expect(established).toHaveLength(HOSTS.length);
    const name = (h: string) => `${sshd.user}@${h}:${sshd.port}`;
    // The slot freed by the silent host and the next three went to the four scrapes, before any preconnect.
    expect(new Set(established.slice(0, 4))).toEqual(new Set(wanted.map(name)));
    expect(established.slice(4)).toEqual(HOSTS.slice(0, -4).map(name));
  } finally {
    await p.close(100);
    for (const sock of silent) sock.destroy();
    mute.close();
  }
});
