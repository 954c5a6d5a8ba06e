import { readFileSync } from "node:fs";
import { type AddressInfo, connect, createServer } from "node:net";
import { afterAll, describe, expect, it } from "vitest";
import { startNodeExporter } from "./node-exporter.js";
import { closedPort, probe, reservedPort } from "./ports.js";
import { startPrometheus } from "./prometheus.js";
import { startSshd } from "./sshd.js";

describe("port helpers", () => {
  const stops: Array<() => Promise<void>> = [];
  afterAll(async () => {
    for (const s of stops) await s();
  });

  it("closedPort is a privileged port that refuses connections", async () => {
    const port = await closedPort();
    expect(port).toBeLessThan(1024);
    expect(await probe("127.0.0.1", port)).toBe("refused");
  });

  it("reservedPort lies below the kernel's ephemeral range", () => {
    const low = Number(readFileSync("/proc/sys/net/ipv4/ip_local_port_range", "utf8").trim().split(/\s+/)[0]);
    for (let i = 0; i < 100; i++) {
      const p = reservedPort();
      expect(p).toBeGreaterThanOrEqual(10_000);
      expect(p).toBeLessThan(low);
    }
  });

  it("node_exporter and Prometheus start on port 0 and report the port they bound", async () => {
    const ne = await startNodeExporter();
    stops.push(ne.stop);
    expect(ne.port).toBeGreaterThan(0);
    expect((await fetch(ne.url)).ok).toBe(true);
    const prom = await startPrometheus({ config: { global: { scrape_interval: "15s" } } });
    stops.push(prom.stop);
    expect((await fetch(`${prom.url}/-/ready`)).ok).toBe(true);
  });

  it("sshd fails when any one of its addresses is taken, and otherwise listens on every address", async () => {
    // 127.0.0.3 taken on the port sshd is told to use: it would still listen on the other two, so the helper
    // must notice the one failed bind (the old helper checked only the first address).
    const blocker = createServer();
    await new Promise<void>((r) => blocker.listen(0, "127.0.0.3", r));
    stops.push(async () => void blocker.close());
    const taken = (blocker.address() as AddressInfo).port;
    await expect(
      startSshd({ addresses: ["127.0.0.1", "127.0.0.2", "127.0.0.3"], port: taken }),
    ).rejects.toMatchObject({
      code: "EADDRINUSE",
    });

    const sshd = await startSshd({ addresses: ["127.0.0.1", "127.0.0.2", "127.0.0.3"] });
    stops.push(sshd.stop);
    for (const a of sshd.addresses) {
      const banner = await new Promise<string>((resolve, reject) => {
        const s = connect(sshd.port, a);
        s.once("error", reject);
        s.once("data", (d: Buffer) => {
          s.destroy();
          resolve(d.toString());
        });
      });
      expect(banner, a).toMatch(/^SSH-2\.0-OpenSSH/);
    }
    expect(sshd.strictModes).toBe(process.getuid?.() === 0);
  });
});
