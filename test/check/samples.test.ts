import { describe, expect, it } from "vitest";
import { countSamples } from "../../src/check/samples.js";

describe("countSamples", () => {
  it("counts sample lines, not HELP/TYPE/EOF comments, blank lines or indented comments", () => {
    const body = [
      "# HELP up Whether up.",
      "# TYPE up gauge",
      'up{job="node"} 1',
      "",
      "   # an indented comment",
      'http_requests_total{code="200"} 1027 1395066363000',
      "  node_load1 0.5",
      "# EOF",
      "",
    ].join("\n");
    expect(countSamples(body)).toBe(3);
  });

  it("handles CRLF bodies and a body without a trailing newline", () => {
    expect(countSamples("# TYPE a counter\r\na_total 1\r\nb 2")).toBe(2);
    expect(countSamples("")).toBe(0);
  });
});
