/**
 * An exporter that records every request its HTTP parser sees (method, path, body), and answers each with a
 * body naming the request it answers. A smuggled request shows up as an entry nobody sent as a request, and a
 * desynchronised channel as a scrape whose answer names another path. Paths starting with /slow are answered
 * after a delay, so a smuggled answer is still on its way when the next scrape reuses the channel.
 */
import { connect } from "node:net";
import { type Exporter, startExporter } from "./exporter.js";

export interface ParsedRequest {
  method: string;
  path: string;
  body: string;
}

export interface LoggingExporter extends Exporter {
  seen: ParsedRequest[];
}

export const SLOW_MS = 300;

/** `answer to GET /a` — what the exporter sends back for a request. */
export function answerFor(method: string, path: string): string {
  return `answer to ${method} ${path}\n`;
}

export async function startLoggingExporter(): Promise<LoggingExporter> {
  const seen: ParsedRequest[] = [];
  const exporter = await startExporter({
    handler: (req, res) => {
      const chunks: Buffer[] = [];
      req.on("data", (c: Buffer) => chunks.push(c));
      req.on("end", () => {
        seen.push({
          method: req.method ?? "",
          path: req.url ?? "",
          body: Buffer.concat(chunks).toString("latin1"),
        });
        const body = answerFor(req.method ?? "", req.url ?? "");
        const send = () => {
          res.writeHead(200, { "content-type": "text/plain", "content-length": Buffer.byteLength(body) });
          res.end(body);
        };
        if (req.url?.startsWith("/slow")) setTimeout(send, SLOW_MS);
        else send();
      });
    },
  });
  return Object.assign(exporter, { seen });
}

export interface RawAnswer {
  status?: number;
  head: string;
  body: string;
  closed: boolean;
}

/**
 * Writes `bytes` on a fresh connection to 127.0.0.1:port and collects what comes back until the peer closes,
 * a Content-Length framed answer is complete, or `ms` pass. Never rejects.
 */
export function rawExchange(port: number, bytes: string, ms = 3000): Promise<RawAnswer> {
  return new Promise((resolve) => {
    const sock = connect(port, "127.0.0.1");
    let buf = "";
    let done = false;
    const finish = (closed: boolean) => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      sock.destroy();
      const end = buf.indexOf("\r\n\r\n");
      const head = end >= 0 ? buf.slice(0, end) : buf;
      const status = /^HTTP\/1\.[01] (\d{3})/.exec(buf)?.[1];
      resolve({
        status: status ? Number(status) : undefined,
        head,
        body: end >= 0 ? buf.slice(end + 4) : "",
        closed,
      });
    };
    const timer = setTimeout(() => finish(false), ms);
    sock.on("data", (d: Buffer) => {
      buf += d.toString("latin1");
      const end = buf.indexOf("\r\n\r\n");
      const length = /\r\ncontent-length:\s*(\d+)/i.exec(buf.slice(0, end))?.[1];
      if (end >= 0 && length !== undefined && buf.length - end - 4 >= Number(length)) finish(false);
    });
    sock.on("error", () => finish(true));
    sock.on("close", () => finish(true));
    sock.write(bytes);
  });
}

/** A chunked body holding `payload` as one chunk. */
export function chunked(payload: string): string {
  return `${Buffer.byteLength(payload, "latin1").toString(16)}\r\n${payload}\r\n0\r\n\r\n`;
}

/** The request a smuggling probe hides in its body. */
export const SMUGGLED = "GET /slow-SMUGGLED HTTP/1.1\r\nHost: x\r\n\r\n";

export interface SmugglingProbe {
  name: string;
  /** Request bytes for target `t` (`127.0.0.1:PORT`). */
  bytes: (t: string) => string;
}

/** The variants of a body the exporter could mistake for a request of its own (issue: request smuggling). */
export const SMUGGLING_PROBES: SmugglingProbe[] = [
  {
    name: "chunked GET",
    bytes: (t) =>
      `GET http://${t}/a HTTP/1.1\r\nHost: ${t}\r\nTransfer-Encoding: chunked\r\n\r\n${chunked(SMUGGLED)}`,
  },
  {
    name: "chunked HEAD",
    bytes: (t) =>
      `HEAD http://${t}/a HTTP/1.1\r\nHost: ${t}\r\nTransfer-Encoding: chunked\r\n\r\n${chunked(SMUGGLED)}`,
  },
  {
    name: "GET, Connection naming Content-Length",
    bytes: (t) =>
      `GET http://${t}/a HTTP/1.1\r\nHost: ${t}\r\nContent-Length: ${SMUGGLED.length}\r\n` +
      `Connection: keep-alive, Content-Length\r\n\r\n${SMUGGLED}`,
  },
  {
    name: "GET with a plain Content-Length body",
    bytes: (t) =>
      `GET http://${t}/a HTTP/1.1\r\nHost: ${t}\r\nContent-Length: ${SMUGGLED.length}\r\n\r\n${SMUGGLED}`,
  },
  {
    name: "GET, duplicate equal Content-Length",
    bytes: (t) =>
      `GET http://${t}/a HTTP/1.1\r\nHost: ${t}\r\nContent-Length: ${SMUGGLED.length}\r\n` +
      `Content-Length: ${SMUGGLED.length}\r\n\r\n${SMUGGLED}`,
  },
  {
    name: "GET, Content-Length and Transfer-Encoding",
    bytes: (t) =>
      `GET http://${t}/a HTTP/1.1\r\nHost: ${t}\r\nContent-Length: 4\r\nTransfer-Encoding: chunked\r\n\r\n${chunked(SMUGGLED)}`,
  },
  {
    name: "GET, duplicate Transfer-Encoding",
    bytes: (t) =>
      `GET http://${t}/a HTTP/1.1\r\nHost: ${t}\r\nTransfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n\r\n${chunked(SMUGGLED)}`,
  },
  {
    name: "GET, Connection naming Transfer-Encoding",
    bytes: (t) =>
      `GET http://${t}/a HTTP/1.1\r\nHost: ${t}\r\nTransfer-Encoding: chunked\r\nConnection: Transfer-Encoding\r\n\r\n${chunked(SMUGGLED)}`,
  },
  {
    // A raw tunnel would carry any request past the rules above; Prometheus only tunnels https exporters.
    name: "CONNECT to a scheme: http exporter, a request inside the tunnel",
    bytes: (t) => `CONNECT ${t} HTTP/1.1\r\nHost: ${t}\r\n\r\n${SMUGGLED}`,
  },
  {
    name: "POST with a Content-Length body to an exporter that allows only GET/HEAD",
    bytes: (t) =>
      `POST http://${t}/a HTTP/1.1\r\nHost: ${t}\r\nContent-Length: ${SMUGGLED.length}\r\n\r\n${SMUGGLED}`,
  },
  {
    name: "POST, chunked, to an exporter that allows only GET/HEAD",
    bytes: (t) =>
      `POST http://${t}/a HTTP/1.1\r\nHost: ${t}\r\nTransfer-Encoding: chunked\r\n\r\n${chunked(SMUGGLED)}`,
  },
];
