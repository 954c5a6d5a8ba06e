/**
 * Request smuggling into pooled exporter channels, against a real OpenSSH sshd: raw-socket clients send
 * requests whose bodies hold a second request, and an exporter logs every request its parser sees. The
 * exporter must never see a request the client did not send as a request, and the scrape after each probe,
 * which reuses the same idle channel, must get its own answer.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type RunningProxy, startProxy } from "../../src/proxy/index.js";
import {
  answerFor,
  chunked,
  type LoggingExporter,
  rawExchange,
  SLOW_MS,
  SMUGGLED,
  SMUGGLING_PROBES,
  startLoggingExporter,
} from "../helpers/logging-exporter.js";
import { memoryLogger, runtimeFor, viaProxy } from "../helpers/proxy.js";
import { type Sshd, startSshd } from "../helpers/sshd.js";

let sshd: Sshd;
/** Allows GET and HEAD only (the default). */
let plain: LoggingExporter;
/** Opted in to POST and DELETE (`extraMethods`). */
let writable: LoggingExporter;
let proxy: RunningProxy;
const log = memoryLogger();

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

beforeAll(async () => {
  sshd = await startSshd();
  plain = await startLoggingExporter();
  writable = await startLoggingExporter();
  const exact = [plain, writable].map((e) => ({ host: "127.0.0.1", port: e.port }));
  proxy = await startProxy(
    runtimeFor(sshd, {
      exact,
      overrides: {
        extraMethods: new Map([[`127.0.0.1:${writable.port}`, new Set(["POST", "DELETE"])]]),
        // As settingsFromConfig derives it from the exporters' `scheme`.
        schemes: new Map([
          [`127.0.0.1:${plain.port}`, "http"],
          [`127.0.0.1:${writable.port}`, "http"],
        ]),
      },
    }),
    { logger: log.logger },
  );
});

afterAll(async () => {
  await proxy?.close(500);
  await plain?.close();
  await writable?.close();
  await sshd?.stop();
});

/** Scrapes `path` through the proxy and returns the body (the idle channel of the target is reused). */
async function scrapeBody(e: LoggingExporter, path: string): Promise<string> {
  const res = await viaProxy(proxy.url, `http://127.0.0.1:${e.port}${path}`, { timeoutMs: 5000 });
  return `${res.status} ${res.body.toString()}`;
}

describe("request smuggling: refused before anything is forwarded", () => {
  for (const probe of SMUGGLING_PROBES) {
    it(`${probe.name}: 400/405, the exporter never sees the hidden request, the next scrape gets its own answer`, async () => {
      // An idle channel to reuse, as Prometheus leaves one behind after every scrape.
      expect(await scrapeBody(plain, "/warm")).toBe(`200 ${answerFor("GET", "/warm")}`);
      plain.seen.length = 0;
      const answer = await rawExchange(proxy.port, probe.bytes(`127.0.0.1:${plain.port}`));
      expect([400, 405]).toContain(answer.status);
      expect(await scrapeBody(plain, "/b")).toBe(`200 ${answerFor("GET", "/b")}`);
      await sleep(SLOW_MS + 100);
      expect(plain.seen.map((r) => `${r.method} ${r.path}`)).toEqual(["GET /b"]);
    });
  }

  it("refuses Connection naming Host", async () => {
    const t = `127.0.0.1:${plain.port}`;
    const answer = await rawExchange(
      proxy.port,
      `GET http://${t}/a HTTP/1.1\r\nHost: ${t}\r\nConnection: Host\r\n\r\n`,
    );
    expect(answer.status).toBe(400);
    expect(answer.body).toMatch(/Connection/);
  });

  it("allows a GET with Content-Length: 0 (no body) and forwards it without one", async () => {
    plain.seen.length = 0;
    const t = `127.0.0.1:${plain.port}`;
    const answer = await rawExchange(
      proxy.port,
      `GET http://${t}/zero HTTP/1.1\r\nHost: ${t}\r\nContent-Length: 0\r\n\r\n`,
    );
    expect(answer.status).toBe(200);
    expect(answer.body).toBe(answerFor("GET", "/zero"));
    expect(plain.seen).toEqual([{ method: "GET", path: "/zero", body: "" }]);
  });
});

describe("an exporter that opts in to more methods gets their bodies framed", () => {
  for (const [name, head, body] of [
    ["POST chunked", "POST", `Transfer-Encoding: chunked\r\n\r\n${chunked(SMUGGLED)}`],
    ["POST Content-Length", "POST", `Content-Length: ${SMUGGLED.length}\r\n\r\n${SMUGGLED}`],
    // node:http sends DELETE bodies unframed unless told the framing: the plan must always say it.
    ["DELETE chunked", "DELETE", `Transfer-Encoding: chunked\r\n\r\n${chunked(SMUGGLED)}`],
  ] as const) {
    it(`${name}: the body arrives as the body of one request`, async () => {
      expect(await scrapeBody(writable, "/warm")).toBe(`200 ${answerFor("GET", "/warm")}`);
      writable.seen.length = 0;
      const t = `127.0.0.1:${writable.port}`;
      const answer = await rawExchange(proxy.port, `${head} http://${t}/a HTTP/1.1\r\nHost: ${t}\r\n${body}`);
      expect(answer.status).toBe(200);
      expect(answer.body).toBe(answerFor(head, "/a"));
      expect(await scrapeBody(writable, "/b")).toBe(`200 ${answerFor("GET", "/b")}`);
      await sleep(SLOW_MS + 100);
      expect(writable.seen).toEqual([
        { method: head, path: "/a", body: SMUGGLED },
        { method: "GET", path: "/b", body: "" },
      ]);
    });
  }

  it("still refuses PUT there (not opted in) with 405", async () => {
    const t = `127.0.0.1:${writable.port}`;
    const answer = await rawExchange(
      proxy.port,
      `PUT http://${t}/a HTTP/1.1\r\nHost: ${t}\r\nContent-Length: 2\r\n\r\nhi`,
    );
    expect(answer.status).toBe(405);
  });
});
