/**
 * Clients as Prometheus (and an attacker) talk to the proxy: absolute-form requests over http.request, and raw
 * bytes on a socket for anything an HTTP library would refuse to send. Neither ever rejects: failures are
 * data the rows measure.
 */
import { type Agent, request } from "node:http";
import { connect, type Socket } from "node:net";

export interface Reply {
  status?: number;
  headers: Record<string, string | string[] | undefined>;
  body: Buffer;
  /** True when the body ended as framed (Content-Length reached or final chunk seen). */
  complete: boolean;
  error?: string;
  elapsedMs: number;
}

export interface ScrapeOptions {
  method?: string;
  path?: string;
  headers?: Record<string, string>;
  /** Client-side give-up time, so a hung proxy shows up as an error instead of a stuck run. */
  timeoutMs?: number;
  agent?: Agent | false;
  /** Called with the response once headers arrive (to abort mid-body, for instance). */
  onResponse?: (destroy: () => void, received: () => number) => void;
}

/** `GET http://TARGET/metrics` through the proxy on 127.0.0.1:proxyPort. */
export function scrape(proxyPort: number, target: string, options: ScrapeOptions = {}): Promise<Reply> {
  const t0 = performance.now();
  return new Promise((resolve) => {
    let settled = false;
    const parts: Buffer[] = [];
    let status: number | undefined;
    let headers: Reply["headers"] = {};
    let complete = false;
    const finish = (error?: string) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      resolve({
        status,
        headers,
        body: Buffer.concat(parts),
        complete,
        error,
        elapsedMs: performance.now() - t0,
      });
    };
    const req = request({
      host: "127.0.0.1",
      port: proxyPort,
      method: options.method ?? "GET",
      path: `http://${target}${options.path ?? "/metrics"}`,
      headers: { host: target, ...options.headers },
      agent: options.agent ?? false,
    });
    const timer = setTimeout(() => {
      req.destroy();
      finish(`no answer within ${options.timeoutMs ?? 30_000} ms`);
    }, options.timeoutMs ?? 30_000);
    req.on("response", (res) => {
      status = res.statusCode;
      headers = res.headers;
      let received = 0;
      res.on("data", (d: Buffer) => {
        received += d.length;
        parts.push(d);
      });
      res.on("end", () => {
        complete = res.complete;
        finish();
      });
      res.on("aborted", () => finish("response aborted mid-body"));
      res.on("error", (e) => finish(`response error: ${e.message}`));
      res.on("close", () => finish(res.complete ? undefined : "connection closed mid-body"));
      options.onResponse?.(
        () => {
          req.destroy();
          finish("destroyed by client");
        },
        () => received,
      );
    });
    req.on("error", (e: NodeJS.ErrnoException) => finish(e.code ?? e.message));
    req.end();
  });
}

export interface RawReply {
  status?: number;
  /** Status line and headers as received (latin1). */
  head: string;
  body: string;
  /** The proxy closed (FIN or RST) before or after answering. */
  closed: boolean;
  timedOut: boolean;
  error?: string;
  elapsedMs: number;
}

export interface RawOptions {
  /** Half-close after writing, like a client that has nothing more to say. */
  halfClose?: boolean;
  timeoutMs?: number;
  /** Write in pieces: [bytes, delayMs] pairs (slowloris). */
  pieces?: Array<[Buffer | string, number]>;
  /** Keep reading after a complete response until the peer closes (or the timeout passes). */
  untilClose?: boolean;
}

/**
 * Writes `data` on a fresh TCP connection to 127.0.0.1:port and reads one response: done when the framed body
 * is in (Content-Length or final chunk), the peer closes, or the timeout passes.
 */
export function raw(port: number, data: Buffer | string, options: RawOptions = {}): Promise<RawReply> {
  const t0 = performance.now();
  return new Promise((resolve) => {
    const sock = connect(port, "127.0.0.1");
    sock.setNoDelay(true);
    let buf = Buffer.alloc(0);
    let settled = false;
    let error: string | undefined;
    const finish = (closed: boolean, timedOut: boolean) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      sock.destroy();
      const text = buf.toString("latin1");
      const end = text.indexOf("\r\n\r\n");
      const head = end >= 0 ? text.slice(0, end) : text;
      const m = /^HTTP\/1\.[01] (\d{3})/.exec(text);
      resolve({
        status: m ? Number(m[1]) : undefined,
        head,
        body: end >= 0 ? text.slice(end + 4) : "",
        closed,
        timedOut,
        error,
        elapsedMs: performance.now() - t0,
      });
    };
    const timer = setTimeout(() => finish(false, true), options.timeoutMs ?? 10_000);
    sock.on("data", (d: Buffer) => {
      buf = Buffer.concat([buf, d]);
      if (!options.untilClose && framedBodyDone(buf.toString("latin1"))) finish(false, false);
    });
    sock.on("error", (e: NodeJS.ErrnoException) => {
      error = e.code ?? e.message;
    });
    sock.on("close", () => finish(true, false));
    sock.on("connect", async () => {
      if (options.pieces) {
        for (const [bytes, delay] of options.pieces) {
          if (settled || sock.destroyed) return;
          sock.write(bytes);
          await new Promise((r) => setTimeout(r, delay));
        }
      } else {
        sock.write(data);
      }
      if (options.halfClose && !sock.destroyed) sock.end();
    });
  });
}

function framedBodyDone(text: string): boolean {
  const end = text.indexOf("\r\n\r\n");
  if (end < 0) return false;
  const head = text.slice(0, end).toLowerCase();
  const body = text.slice(end + 4);
  const status = Number(/^http\/1\.[01] (\d{3})/.exec(head)?.[1]);
  if (status === 204 || status === 304 || (status >= 100 && status < 200)) return true;
  const cl = /\r\ncontent-length:\s*(\d+)/.exec(head);
  if (cl) return Buffer.byteLength(body, "latin1") >= Number(cl[1]);
  if (/\r\ntransfer-encoding:[^\r]*chunked/.test(head)) return body.includes("0\r\n\r\n");
  return false;
}

/** Runs `task(i)` for i in [0, total) with at most `concurrency` in flight; results in index order. */
export async function pool<T>(
  total: number,
  concurrency: number,
  task: (i: number) => Promise<T>,
): Promise<T[]> {
  const results = new Array<T>(total);
  let next = 0;
  const worker = async () => {
    while (next < total) {
      const i = next++;
      results[i] = await task(i);
    }
  };
  await Promise.all(Array.from({ length: Math.min(concurrency, total) }, worker));
  return results;
}

/**
 * One keep-alive connection that sends absolute-form GETs one after another and reads Content-Length framed
 * answers — the cheapest client that still speaks real HTTP/1.1, so a soak run spends its CPU in the proxy
 * rather than in http.request. Anything it cannot frame (no Content-Length, a close) ends the connection and
 * is reported as that request's error.
 */
export class KeepAliveClient {
  private sock?: Socket;
  private buf: Buffer = Buffer.alloc(0);
  private waiter?: () => void;
  private closed = false;

  constructor(private readonly port: number) {}

  private async connection(): Promise<Socket> {
    if (this.sock && !this.closed) return this.sock;
    const sock = connect(this.port, "127.0.0.1");
    sock.setNoDelay(true);
    this.buf = Buffer.alloc(0);
    this.closed = false;
    sock.on("data", (d: Buffer) => {
      this.buf = this.buf.length ? Buffer.concat([this.buf, d]) : d;
      this.waiter?.();
    });
    const end = () => {
      this.closed = true;
      this.waiter?.();
    };
    sock.on("close", end);
    sock.on("error", end);
    await new Promise<void>((res) => {
      sock.once("connect", () => res());
      sock.once("error", () => res());
    });
    this.sock = sock;
    return sock;
  }

  private async until<T>(parse: () => T | undefined): Promise<T | undefined> {
    for (;;) {
      const v = parse();
      if (v !== undefined || this.closed) return v;
      await new Promise<void>((res) => {
        this.waiter = res;
      });
      this.waiter = undefined;
    }
  }

  async get(target: string, path = "/metrics"): Promise<{ status?: number; body?: Buffer; error?: string }> {
    const sock = await this.connection();
    if (this.closed) return { error: "connect failed" };
    sock.write(
      `GET http://${target}${path} HTTP/1.1\r\nHost: ${target}\r\nAccept-Encoding: identity\r\n\r\n`,
    );
    const head = await this.until(() => {
      const end = this.buf.indexOf("\r\n\r\n");
      if (end < 0) return undefined;
      const text = this.buf.subarray(0, end).toString("latin1");
      this.buf = this.buf.subarray(end + 4);
      return text;
    });
    if (head === undefined) return { error: "closed before the response head" };
    const status = Number(/^HTTP\/1\.1 (\d{3})/.exec(head)?.[1]);
    const length = /\r\ncontent-length:\s*(\d+)/i.exec(head);
    if (!length) {
      this.sock?.destroy();
      this.closed = true;
      return { status, error: "response without Content-Length" };
    }
    const n = Number(length[1]);
    const body = await this.until(() => {
      if (this.buf.length < n) return undefined;
      const b = this.buf.subarray(0, n);
      this.buf = this.buf.subarray(n);
      return b;
    });
    if (body === undefined) return { status, error: "closed mid-body" };
    if (/\r\nconnection:\s*close/i.test(head)) {
      this.sock?.destroy();
      this.closed = true;
    }
    return { status, body };
  }

  close(): void {
    this.sock?.destroy();
    this.closed = true;
  }
}
