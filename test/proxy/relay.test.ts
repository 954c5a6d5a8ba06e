/**
 * The response relay (src/proxy/exchange.ts) against real OpenSSH sshd and a raw-socket exporter that answers with
 * exactly the bytes each test chooses, so framing the relay must pass, decode or refuse can be sent as is.
 */
import { connect, type Socket } from "node:net";
import { afterAll, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { type RunningProxy, startProxy } from "../../src/proxy/index.js";
import { waitFor } from "../helpers/processes.js";
import { memoryLogger, metricValue, runtimeFor, viaProxy } from "../helpers/proxy.js";
import {
  numbered,
  type ScriptedExporter,
  startScriptedExporter,
  writeEndlessBody,
} from "../helpers/scripted-exporter.js";
import { type Sshd, startSshd } from "../helpers/sshd.js";

let sshd: Sshd;
let proxy: RunningProxy;
let exporter: ScriptedExporter;
let port = 0;
/** Every request head the exporter parsed (first line), in order. */
let seen: string[] = [];
/** What the exporter answers to the next request(s); by default a 2-byte body; "<endless>" never ends. */
let answer: (n: number) => string;
let sockets = new Set<Socket>();

beforeAll(async () => {
  sshd = await startSshd();
  exporter = await startScriptedExporter((n, socket) => {
    const text = answer(n);
    if (text !== "<endless>") return text;
    writeEndlessBody(socket);
    return undefined;
  });
  ({ port, seen, sockets } = exporter);
  proxy = await startProxy(runtimeFor(sshd, { exact: [{ host: "127.0.0.1", port }] }), {
    logger: memoryLogger("info").logger,
  });
});

beforeEach(() => {
  seen.length = 0;
  answer = numbered;
});

afterAll(async () => {
  await proxy?.close(100);
  await exporter?.close();
  await sshd?.stop();
});

const url = (path = "/metrics") => `http://127.0.0.1:${port}${path}`;

describe("response relay", () => {
  it("passes a chunked body through decoded and intact, and reuses the channel", async () => {
    answer = () =>
      "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nContent-Type: text/plain\r\n\r\n" +
      "3\r\nup \r\n2;x=y\r\n1\n\r\n0\r\nX-T: 1\r\n\r\n";
    const a = await viaProxy(proxy.url, url());
    const b = await viaProxy(proxy.url, url());
    expect([a.status, b.status]).toEqual([200, 200]);
    expect(a.body.toString()).toBe("up 1\n");
    expect(b.body.toString()).toBe("up 1\n");
    expect(a.headers["content-type"]).toBe("text/plain");
    expect(sockets.size).toBe(1);
  });

  it("relays a body that runs to the close, and opens a fresh channel for the next request", async () => {
    answer = () => "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n\r\nuntil close<close>";
    const a = await viaProxy(proxy.url, url());
    expect(a.status).toBe(200);
    expect(a.body.toString()).toBe("until close");
    answer = () => "HTTP/1.1 200 OK\r\nContent-Length: 4\r\n\r\nnext";
    expect((await viaProxy(proxy.url, url())).body.toString()).toBe("next");
  });

  it("answers 502 to ambiguous framing and never reuses that channel: the next scrape gets its own answer", async () => {
    // Content-Length and Transfer-Encoding together: where this response ends is ambiguous (RFC 9112 §6.3).
    answer = (n) =>
      n === 1
        ? "HTTP/1.1 200 OK\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 8\r\n\r\nsmuggled"
        : "HTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r\nown";
    const a = await viaProxy(proxy.url, url());
    expect(a.status).toBe(502);
    expect(a.headers["x-sshscrape-error"]).toBe("UPSTREAM_FAILED");
    const b = await viaProxy(proxy.url, url());
    expect(b.status).toBe(200);
    expect(b.body.toString()).toBe("own");
  });

  it("does not reuse a channel whose exporter sent more than one response", async () => {
    answer = (n) =>
      n === 1
        ? "HTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r\none" +
          "HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nextra"
        : "HTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r\ntwo";
    expect((await viaProxy(proxy.url, url())).body.toString()).toBe("one");
    expect((await viaProxy(proxy.url, url())).body.toString()).toBe("two");
  });

  it("refuses GET with a body (400) before anything reaches the exporter", async () => {
    const res = await viaProxy(proxy.url, url(), { headers: { "content-length": "4" }, body: "x=1\n" });
    expect(res.status).toBe(400);
    expect(seen).toEqual([]);
  });

  it("skips a 100 Continue and relays the final response; HEAD gets the head only", async () => {
    answer = () => "HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 4\r\n\r\nbody";
    expect((await viaProxy(proxy.url, url())).body.toString()).toBe("body");
    answer = () => "HTTP/1.1 200 OK\r\nContent-Length: 4\r\n\r\n";
    const head = await viaProxy(proxy.url, url(), { method: "HEAD" });
    expect(head.status).toBe(200);
    expect(head.headers["content-length"]).toBe("4");
    expect(head.body.length).toBe(0);
    expect(seen.at(-1)).toBe("HEAD /metrics HTTP/1.1");
  });

  it("closes the channel of a client that went away while the response was held up by backpressure", async () => {
    answer = () => "<endless>";
    const channels = async () =>
      metricValue(await fetch(`${proxy.url}/metrics`).then((r) => r.text()), "sshscrape_ssh_channels");
    // A client that sends the request and never reads: the proxy's writes fill its socket, the channel pauses.
    const client = connect(Number(new URL(proxy.url).port), "127.0.0.1");
    client.write(`GET ${url()} HTTP/1.1\r\nHost: 127.0.0.1:${port}\r\n\r\n`);
    client.pause();
    await waitFor("the exporter to be streaming", () => seen.length === 1);
    await new Promise((resolve) => setTimeout(resolve, 300));
    const streaming = await channels();
    client.destroy();
    // ssh2 emits a channel's 'close' only after its readable side ended: a paused channel never got there.
    await waitFor("the channel to close", async () => (await channels()) === streaming - 1, 5_000);
  });
});
