/** The response framing reader of the relay (src/proxy/response-reader.ts), fed byte streams split every way. */
import { describe, expect, it } from "vitest";
import {
  MalformedResponseError,
  type ResponseHead,
  ResponseReader,
} from "../../src/proxy/response-reader.js";

interface Outcome {
  head?: ResponseHead;
  body: string;
  done: boolean;
  leftover: number;
}

/** Feeds `parts` in order; returns what the reader saw. */
function read(parts: (string | Buffer)[], headRequest = false): Outcome {
  const out: Outcome = { body: "", done: false, leftover: 0 };
  const reader = new ResponseReader(
    {
      head: (h) => {
        out.head = h;
        return true;
      },
      body: (b) => {
        out.body += b.toString("latin1");
        return true;
      },
    },
    headRequest,
  );
  for (const part of parts) {
    out.leftover += reader.push(typeof part === "string" ? Buffer.from(part, "latin1") : part);
    out.done = reader.done;
  }
  return out;
}

/** Every way to cut `text` into two pieces, plus one byte at a time. */
function splits(text: string): string[][] {
  const all: string[][] = [[text], [...text]];
  for (let i = 1; i < text.length; i++) all.push([text.slice(0, i), text.slice(i)]);
  return all;
}

const chunked =
  "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nTransfer-Encoding: chunked\r\n\r\n" +
  "5\r\nhello\r\n7;ext=1\r\n, world\r\n0\r\nX-Trailer: 1\r\n\r\n";

describe("ResponseReader", () => {
  it("reads a Content-Length body however the bytes are split, and nothing after it", () => {
    const text = "HTTP/1.1 200 OK\r\nContent-Length: 11\r\nKeep-Alive: timeout=5\r\n\r\nhello world";
    for (const parts of splits(text)) {
      const r = read(parts);
      expect(r.done).toBe(true);
      expect(r.body).toBe("hello world");
      expect(r.head?.status).toBe(200);
      expect(r.head?.contentLength).toBe(11);
      expect(r.head?.keepAlive).toBe(true);
      expect(r.head?.keepAliveHintMs).toBe(4000);
      expect(r.head?.rawHeaders).toEqual(["Content-Length", "11", "Keep-Alive", "timeout=5"]);
    }
    expect(read([`${text}HTTP/1.1 200 OK\r\n`]).leftover).toBe(17);
  });

  it("decodes chunked framing however the bytes are split, and ends after the trailers", () => {
    for (const parts of splits(chunked)) {
      const r = read(parts);
      expect(r.body).toBe("hello, world");
      expect(r.done).toBe(true);
      expect(r.head?.contentLength).toBeUndefined();
    }
    expect(read([chunked.slice(0, -2)]).done).toBe(false);
  });

  it("skips interim 1xx responses and reads the final one", () => {
    const r = read(["HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 204 No Content\r\nContent-Length: 3\r\n\r\n"]);
    expect(r.head?.status).toBe(204);
    expect(r.done).toBe(true);
    expect(r.body).toBe("");
  });

  it("reads no body for HEAD, 204 and 304 whatever the headers say", () => {
    const head = read(["HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n"], true);
    expect(head.done).toBe(true);
    expect(read(["HTTP/1.1 304 Not Modified\r\nTransfer-Encoding: chunked\r\n\r\n"]).done).toBe(true);
  });

  it("treats a body without Content-Length or chunked as running to the close, and not reusable", () => {
    const r = read(["HTTP/1.1 200 OK\r\n\r\nabc", "def"]);
    expect(r.body).toBe("abcdef");
    expect(r.done).toBe(false);
    expect(r.head?.keepAlive).toBe(false);
  });

  it("honours Connection: close and HTTP/1.0 keep-alive rules", () => {
    expect(read(["HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 0\r\n\r\n"]).head?.keepAlive).toBe(
      false,
    );
    expect(read(["HTTP/1.0 200 OK\r\nContent-Length: 0\r\n\r\n"]).head?.keepAlive).toBe(false);
    expect(
      read(["HTTP/1.0 200 OK\r\nConnection: keep-alive\r\nContent-Length: 0\r\n\r\n"]).head?.keepAlive,
    ).toBe(true);
  });

  it("accepts a Content-Length list of one repeated value", () => {
    const r = read(["HTTP/1.1 200 OK\r\nContent-Length: 2, 2\r\nContent-Length: 2\r\n\r\nok"]);
    expect(r.done).toBe(true);
    expect(r.body).toBe("ok");
  });

  it.each([
    [
      "both Transfer-Encoding and Content-Length",
      "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nContent-Length: 3\r\n\r\n",
    ],
    ["conflicting Content-Length", "HTTP/1.1 200 OK\r\nContent-Length: 3\r\nContent-Length: 4\r\n\r\n"],
    ["bad Content-Length", "HTTP/1.1 200 OK\r\nContent-Length: -1\r\n\r\n"],
    ["a transfer coding other than chunked", "HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip, chunked\r\n\r\n"],
    ["obs-fold", "HTTP/1.1 200 OK\r\nX-A: 1\r\n folded\r\nContent-Length: 0\r\n\r\n"],
    ["whitespace before the colon", "HTTP/1.1 200 OK\r\nContent-Length : 0\r\n\r\n"],
    ["a bad status line", "HTTP/2 200 OK\r\n\r\n"],
    ["101 Switching Protocols", "HTTP/1.1 101 Switching Protocols\r\nUpgrade: x\r\n\r\n"],
    ["a bad chunk size", "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n"],
    [
      "a chunk size that would overflow",
      "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n1000000000\r\n",
    ],
    ["chunk data without its CRLF", "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n1\r\nab\r\n"],
    ["a control character in the reason phrase", "HTTP/1.1 200 O\x01K\r\nContent-Length: 0\r\n\r\n"],
    ["a NUL in a header value", "HTTP/1.1 200 OK\r\nX-A: a\0b\r\nContent-Length: 0\r\n\r\n"],
  ])("refuses %s", (_, text) => {
    expect(() => read([text])).toThrow(MalformedResponseError);
  });

  it("refuses a head over 16 KB, even when it never ends", () => {
    expect(() => read([`HTTP/1.1 200 OK\r\nX-A: ${"a".repeat(17 * 1024)}`])).toThrow(/longer than/);
  });
});
