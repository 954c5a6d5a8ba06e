/** The framing decision on its own (framing.ts): what is forwarded, with which header fields, and what is refused. */
import { describe, expect, it } from "vitest";
import { decideFraming, type FramingDecision } from "../../src/proxy/framing.js";
import { endToEndHeaders } from "../../src/proxy/hop-by-hop.js";

const AUTH = "127.0.0.1:9100";

function decide(method: string, headers: string[], extra?: string[], httpVersion = "1.1"): FramingDecision {
  return decideFraming(
    { method, httpVersion, rawHeaders: headers },
    { authority: AUTH, extraMethods: extra ? new Set(extra) : undefined },
  );
}

function refusal(d: FramingDecision): string {
  if (d.ok) throw new Error(`expected a refusal, got a plan: ${JSON.stringify(d.plan)}`);
  return `${d.error.status} ${d.error.code}`;
}

describe("decideFraming", () => {
  it("forwards a plain GET with the target's authority as Host and no framing header", () => {
    const d = decide("GET", [
      "Host",
      "evil.example:80",
      "Accept",
      "text/plain",
      "X-Prometheus-Scrape-Timeout-Seconds",
      "10",
    ]);
    expect(d).toEqual({
      ok: true,
      plan: {
        method: "GET",
        headers: ["Host", AUTH, "Accept", "text/plain", "X-Prometheus-Scrape-Timeout-Seconds", "10"],
        body: { kind: "none" },
      },
    });
  });

  it("drops hop-by-hop headers, headers named in Connection, Expect and Content-Length: 0", () => {
    const d = decide("GET", [
      "Host",
      AUTH,
      "Connection",
      "keep-alive, X-Hop",
      "X-Hop",
      "1",
      "Keep-Alive",
      "timeout=5",
      "Proxy-Authorization",
      "Basic eDp5",
      "TE",
      "trailers",
      "Expect",
      "100-continue",
      "Content-Length",
      "0",
      "X-End",
      "2",
    ]);
    expect(d.ok && d.plan.headers).toEqual(["Host", AUTH, "X-End", "2"]);
  });

  it.each([
    ["GET chunked", "GET", ["Transfer-Encoding", "chunked"], "400 BODY_NOT_ALLOWED"],
    ["HEAD chunked", "HEAD", ["Transfer-Encoding", "chunked"], "400 BODY_NOT_ALLOWED"],
    ["GET with a body by Content-Length", "GET", ["Content-Length", "5"], "400 BODY_NOT_ALLOWED"],
    [
      "Connection naming Content-Length",
      "GET",
      ["Content-Length", "5", "Connection", "keep-alive, Content-Length"],
      "400 BAD_FRAMING",
    ],
    [
      "Connection naming Transfer-Encoding",
      "POST",
      ["Transfer-Encoding", "chunked", "Connection", "transfer-encoding"],
      "400 BAD_FRAMING",
    ],
    ["Connection naming Host", "GET", ["Connection", "Host"], "400 BAD_FRAMING"],
    [
      "Proxy-Connection naming Content-Length",
      "GET",
      ["Proxy-Connection", "content-length"],
      "400 BAD_FRAMING",
    ],
    [
      "duplicate equal Content-Length",
      "POST",
      ["Content-Length", "5", "Content-Length", "5"],
      "400 BAD_FRAMING",
    ],
    ["Content-Length list", "POST", ["Content-Length", "5, 5"], "400 BAD_FRAMING"],
    ["signed Content-Length", "POST", ["Content-Length", "+5"], "400 BAD_FRAMING"],
    [
      "Content-Length and Transfer-Encoding",
      "POST",
      ["Content-Length", "5", "Transfer-Encoding", "chunked"],
      "400 BAD_FRAMING",
    ],
    [
      "duplicate Transfer-Encoding",
      "POST",
      ["Transfer-Encoding", "chunked", "Transfer-Encoding", "chunked"],
      "400 BAD_FRAMING",
    ],
    ["gzip, chunked", "POST", ["Transfer-Encoding", "gzip, chunked"], "400 BAD_FRAMING"],
    ["identity", "POST", ["Transfer-Encoding", "identity"], "400 BAD_FRAMING"],
    ["two Host fields", "GET", ["Host", "a", "Host", "b"], "400 BAD_FRAMING"],
  ])("refuses %s", (_name, method, headers, want) => {
    expect(refusal(decide(method, ["Host", AUTH, ...headers], ["POST"]))).toBe(want);
  });

  it("refuses Transfer-Encoding in HTTP/1.0", () => {
    expect(refusal(decide("POST", ["Transfer-Encoding", "chunked"], ["POST"], "1.0"))).toBe(
      "400 BAD_FRAMING",
    );
  });

  it("refuses methods beyond GET and HEAD unless the exporter opted in, naming what is allowed", () => {
    for (const m of ["POST", "PUT", "DELETE", "OPTIONS", "TRACE", "PATCH"]) {
      const d = decide(m, []);
      expect(refusal(d)).toBe("405 METHOD_NOT_ALLOWED");
    }
    const d = decide("PUT", [], ["POST"]);
    expect(!d.ok && d.error.message).toContain("GET, HEAD, POST");
  });

  it("frames an opted-in body explicitly: chunked stays chunked, a length stays that length, none says 0", () => {
    const chunkedPlan = decide("DELETE", ["Transfer-Encoding", "Chunked"], ["DELETE"]);
    expect(chunkedPlan.ok && chunkedPlan.plan).toEqual({
      method: "DELETE",
      headers: ["Host", AUTH, "Transfer-Encoding", "chunked"],
      body: { kind: "chunked" },
    });
    const lengthPlan = decide("POST", ["Content-Length", "12"], ["POST"]);
    expect(lengthPlan.ok && lengthPlan.plan.body).toEqual({ kind: "length", length: 12 });
    expect(lengthPlan.ok && lengthPlan.plan.headers).toEqual(["Host", AUTH, "Content-Length", "12"]);
    const empty = decide("POST", [], ["POST"]);
    expect(empty.ok && empty.plan.headers).toEqual(["Host", AUTH, "Content-Length", "0"]);
  });
});

describe("endToEndHeaders (responses)", () => {
  it("lets Connection remove other headers, never Content-Length or Host", () => {
    const raw = ["Content-Length", "5", "Connection", "Content-Length, host, X-A", "X-A", "1", "Host", "h"];
    expect(endToEndHeaders(raw)).toEqual(["Content-Length", "5", "Host", "h"]);
  });
});
