/**
 * Backpressure from a client that stops reading, through to the exporter, against real OpenSSH sshd: the
 * relay lets a bounded amount (src/proxy/exchange.ts, MAX_BUFFERED_BYTES) wait for the client, then pauses the
 * channel, and the channel data short cut (src/proxy/channel-sink.ts) gives way to the paused stream.
 * Without it the proxy would take the exporter's bytes as fast as they come and hold them in memory.
 */
import { connect, type Socket } from "node:net";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type RunningProxy, startProxy } from "../../src/proxy/index.js";
import { waitFor } from "../helpers/processes.js";
import { memoryLogger, runtimeFor } from "../helpers/proxy.js";
import {
  type ScriptedExporter,
  startScriptedExporter,
  writeEndlessBody,
} from "../helpers/scripted-exporter.js";
import { type Sshd, startSshd } from "../helpers/sshd.js";

let sshd: Sshd;
let proxy: RunningProxy;
let exporter: ScriptedExporter;
let port = 0;
let sockets = new Set<Socket>();

beforeAll(async () => {
  sshd = await startSshd();
  // Answers every request with a body that never ends, written as fast as the connection takes it.
  exporter = await startScriptedExporter((_n, socket) => {
    writeEndlessBody(socket);
    return undefined;
  });
  ({ port, sockets } = exporter);
  proxy = await startProxy(runtimeFor(sshd, { exact: [{ host: "127.0.0.1", port }] }), {
    logger: memoryLogger("info").logger,
  });
});

afterAll(async () => {
  await proxy?.close(100);
  await exporter?.close();
  await sshd?.stop();
});

describe("a client that stops reading", () => {
  it("stops the exporter's stream after a bounded amount, and the client still gets it in order", async () => {
    const client = connect(Number(new URL(proxy.url).port), "127.0.0.1");
    client.write(`GET http://127.0.0.1:${port}/metrics HTTP/1.1\r\nHost: 127.0.0.1:${port}\r\n\r\n`);
    client.pause();
    await waitFor("the exporter to be streaming", () => sockets.size === 1);
    const written = () => [...sockets].reduce((n, s) => n + s.bytesWritten, 0);
    // Stalled: the exporter's socket stopped taking bytes for a while (its kernel buffers full, because
    // sshd's channel window is used up, because the proxy stopped reading the channel).
    let last = -1;
    let same = 0;
    await waitFor(
      "the exporter's stream to stall",
      async () => {
        await new Promise((resolve) => setTimeout(resolve, 100));
        const now = written();
        same = now === last ? same + 1 : 0;
        last = now;
        return same >= 5;
      },
      30_000,
    );
    // ssh2's 2 MB channel window, sshd's buffers, the loopback sockets' buffers and the proxy's own 256 KB.
    expect(last).toBeLessThan(48 * 1024 * 1024);

    // Reading again, the client gets the stream where it stopped: the head, then whole chunks of x.
    const got: Buffer[] = [];
    let bytes = 0;
    client.on("data", (d: Buffer) => {
      got.push(d);
      bytes += d.length;
    });
    client.resume();
    await waitFor("the stream to flow again", () => bytes > last + 4 * 1024 * 1024, 30_000);
    client.destroy();
    const all = Buffer.concat(got);
    const head = all.indexOf("\r\n\r\n");
    expect(all.subarray(0, head).toString("latin1")).toMatch(/^HTTP\/1\.1 200 OK/);
    // node:http re-chunks what the relay writes: walk its chunks; their data must be nothing but x.
    let p = head + 4;
    let data = 0;
    while (data < 4 * 1024 * 1024) {
      const eol = all.indexOf("\r\n", p);
      const size = Number.parseInt(all.subarray(p, eol).toString("latin1"), 16);
      expect(size).toBeGreaterThan(0);
      const chunk = all.subarray(eol + 2, eol + 2 + size);
      expect(chunk.every((b) => b === 0x78)).toBe(true);
      expect(all.subarray(eol + 2 + size, eol + 4 + size).toString("latin1")).toBe("\r\n");
      p = eol + 4 + size;
      data += size;
    }
  }, 90_000);
});
