/** parseAbsoluteTarget caches parsed authorities (docs/benchmarks.md, "Fixed cost per request"). */
import { describe, expect, it } from "vitest";
import { parseAbsoluteTarget, RequestTargetError } from "../../src/proxy/request-target.js";

describe("parseAbsoluteTarget's authority cache", () => {
  it("gives the same canonical host the second time, and still checks the rest of each target", () => {
    for (let i = 0; i < 2; i++) {
      expect(parseAbsoluteTarget("http://Node-1.Example.ORG.:9100/metrics?x=1")).toEqual({
        host: "node-1.example.org",
        port: 9100,
        path: "/metrics?x=1",
        scheme: "http",
      });
    }
    // Same authority, but a fragment: refused although the authority is cached.
    expect(() => parseAbsoluteTarget("http://Node-1.Example.ORG.:9100/metrics#f")).toThrow(
      RequestTargetError,
    );
  });

  it("refuses a refused authority every time", () => {
    for (let i = 0; i < 2; i++) {
      expect(() => parseAbsoluteTarget("http://127.1:9100/metrics")).toThrow(/dotted-quad/);
      expect(() => parseAbsoluteTarget("http://u@10.0.0.1:9100/metrics")).toThrow(/userinfo/);
    }
  });
});
