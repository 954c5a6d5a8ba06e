/**
 * A response that fails after its head was written in the same tick (src/proxy/front-response.ts `destroy`),
 * against real OpenSSH: the exporter's head and a chunked body over proxy.maxResponseBytes arrive in one SSH
 * packet, so the exchange writes the head (corked until the end of the tick) and then fails the response.
 * (The front serves it: no `Connection: close`.) The client must still see the 200 and a body cut off without its last-chunk, as when the head had left
 * earlier (test/proxy/server.test.ts): before, the corked head was dropped and the connection closed empty.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type RunningProxy, startProxy } from "../../src/proxy/index.js";
import { type Exporter, startExporter } from "../helpers/exporter.js";
import { memoryLogger, rawRequest, runtimeFor } from "../helpers/proxy.js";
import { type Sshd, startSshd } from "../helpers/sshd.js";

const BODY = Buffer.alloc(6_000, "x");
let sshd: Sshd;
let exporter: Exporter;
let proxy: RunningProxy;

beforeAll(async () => {
  // Head and body in one write: one SSH packet.
  exporter = await startExporter({
    handler: (_req, res) => {
      res.writeHead(200, { "content-type": "text/plain" });
      res.end(BODY);
    },
  });
  sshd = await startSshd({ permitOpen: [exporter.port] });
  proxy = await startProxy(
    runtimeFor(sshd, {
      exact: [{ host: "127.0.0.1", port: exporter.port }],
      overrides: { maxResponseBytes: 1_000 },
    }),
    { logger: memoryLogger("info").logger },
  );
});

afterAll(async () => {
  await proxy?.close(100);
  await exporter?.close();
  await sshd?.stop();
});

describe("a response failed in the tick its head was written", () => {
  it("still shows the client the 200 and a chunked body cut off short", async () => {
    for (let i = 0; i < 3; i++) {
      const raw = await rawRequest(
        proxy.url,
        `GET ${exporter.url} HTTP/1.1\r\nHost: 127.0.0.1:${exporter.port}\r\n\r\n`,
        10_000,
      );
      expect(raw).toMatch(/^HTTP\/1\.1 200 /);
      expect(raw.toLowerCase()).toContain("transfer-encoding: chunked");
      expect(raw).not.toMatch(/\r\n0\r\n\r\n$/);
      expect(raw.length).toBeLessThan(BODY.length);
    }
  });
});
