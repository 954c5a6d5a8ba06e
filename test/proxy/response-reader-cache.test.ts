/**
 * The response reader keeps header lines it already checked (docs/benchmarks.md, "Fixed cost per request"):
 * a cached line must give the same header, and a refused line must be refused every time.
 */
import { describe, expect, it } from "vitest";
import { MalformedResponseError } from "../../src/proxy/response-reader.js";
import { readHead as head } from "../helpers/response-head.js";

describe("checked header lines", () => {
  it("give the same headers and framing from the cache as the first time", () => {
    const text =
      "HTTP/1.1 200 OK\r\nContent-Type:  text/plain \r\nConnection: close\r\nContent-Length: 2\r\n\r\nok";
    const first = head(text);
    const second = head(text);
    expect(first?.rawHeaders).toEqual([
      "Content-Type",
      "text/plain",
      "Connection",
      "close",
      "Content-Length",
      "2",
    ]);
    expect(second).toEqual(first);
    expect(second?.keepAlive).toBe(false);
  });

  it("refuse a bad line every time, also after good lines were cached", () => {
    for (let i = 0; i < 3; i++) {
      head("HTTP/1.1 200 OK\r\nX-A: 1\r\nContent-Length: 0\r\n\r\n");
      expect(() => head("HTTP/1.1 200 OK\r\nX-A : 1\r\nContent-Length: 0\r\n\r\n")).toThrow(
        MalformedResponseError,
      );
      expect(() => head("HTTP/1.1 200 OK\r\nX-A: 1\r\n folded\r\nContent-Length: 0\r\n\r\n")).toThrow(
        MalformedResponseError,
      );
    }
  });
});
