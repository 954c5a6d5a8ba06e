/**
 * A raw HTTP/1.1 client for byte-level tests of the proxy: writes exactly the bytes given on one TCP
 * connection and reads whole responses back as received (head, body framing and all), so two proxies'
 * answers can be compared byte for byte.
 */
import { connect, type Socket } from "node:net";

/**
 * `text` with each Date field's value replaced by "(time)": the one field two answers to the same request may
 * differ in (they may be made on either side of a second's boundary).
 */
export const undated = (text: string) => text.replace(/\r\nDate: [^\r]*/gi, "\r\nDate: (time)");

export interface RawResponse {
  /** Everything received for this response, head and framed body. */
  raw: Buffer;
  /** The head up to and including CRLF CRLF, as latin1. */
  head: string;
  status: number;
  /** The body after de-chunking. */
  body: Buffer;
  chunked: boolean;
}

export class RawClient {
  private readonly socket: Socket;
  private buf = Buffer.alloc(0);
  private waiter: (() => void) | undefined;
  closed = false;
  readonly done: Promise<void>;

  private constructor(socket: Socket) {
    this.socket = socket;
    socket.on("data", (d: Buffer) => {
      this.buf = Buffer.concat([this.buf, d]);
      this.waiter?.();
    });
    this.done = new Promise((resolve) => {
      socket.on("close", () => {
        this.closed = true;
        this.waiter?.();
        resolve();
      });
    });
    socket.on("error", () => {});
  }

  static open(port: number, host = "127.0.0.1"): Promise<RawClient> {
    return new Promise((resolve, reject) => {
      const s = connect({ port, host, noDelay: true }, () => resolve(new RawClient(s)));
      s.once("error", reject);
    });
  }

  get localPort(): number {
    return this.socket.localPort ?? 0;
  }

  write(bytes: string | Buffer): Promise<void> {
    return new Promise((resolve) => this.socket.write(bytes, () => resolve()));
  }

  destroy(): void {
    this.socket.destroy();
  }

  /** Bytes received and not yet read as a response. */
  pending(): Buffer {
    return this.buf;
  }

  /** Reads one response (`head`: the request was HEAD, so no body whatever the headers say). */
  async response(head = false): Promise<RawResponse> {
    for (;;) {
      const r = parseResponse(this.buf, head, this.closed);
      if (r) {
        this.buf = this.buf.subarray(r.raw.length);
        return r;
      }
      if (this.closed) throw new Error(`connection closed after ${this.buf.length} bytes of a response`);
      await new Promise<void>((resolve) => {
        this.waiter = resolve;
      });
      this.waiter = undefined;
    }
  }
}

/** One whole response from the start of `buf`, or undefined when more bytes are needed. */
export function parseResponse(buf: Buffer, headRequest: boolean, closed: boolean): RawResponse | undefined {
  const end = buf.indexOf("\r\n\r\n");
  if (end < 0) return undefined;
  const head = buf.toString("latin1", 0, end + 4);
  const status = Number(head.slice(9, 12));
  const length = /\r\ncontent-length: *(\d+)/i.exec(head);
  const isChunked = /\r\ntransfer-encoding: *chunked/i.test(head);
  let p = end + 4;
  if (headRequest || status === 204 || status === 304)
    return { raw: buf.subarray(0, p), head, status, body: Buffer.alloc(0), chunked: false };
  if (isChunked) {
    const parts: Buffer[] = [];
    for (;;) {
      const eol = buf.indexOf("\r\n", p);
      if (eol < 0) return undefined;
      const size = Number.parseInt(buf.toString("latin1", p, eol), 16);
      if (size === 0) {
        if (buf.length < eol + 4) return undefined;
        const raw = buf.subarray(0, eol + 4);
        return { raw, head, status, body: Buffer.concat(parts), chunked: true };
      }
      if (buf.length < eol + 2 + size + 2) return undefined;
      parts.push(buf.subarray(eol + 2, eol + 2 + size));
      p = eol + 2 + size + 2;
    }
  }
  if (length) {
    const n = Number(length[1]);
    if (buf.length < p + n) return undefined;
    return { raw: buf.subarray(0, p + n), head, status, body: buf.subarray(p, p + n), chunked: false };
  }
  if (!closed) return undefined;
  return { raw: buf, head, status, body: buf.subarray(p), chunked: false };
}
