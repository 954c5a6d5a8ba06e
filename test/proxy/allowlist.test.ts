import { describe, expect, it } from "vitest";
import { Allowlist, AllowPatternError } from "../../src/proxy/allowlist.js";
import { parseAbsoluteTarget, parseConnectTarget } from "../../src/proxy/request-target.js";

describe("Allowlist", () => {
  it("denies everything by default", () => {
    const a = new Allowlist({ exact: [] });
    expect(a.allows("127.0.0.1", 22)).toBe(false);
    expect(a.allows("node1.example.org", 9100)).toBe(false);
  });

  it("allows exactly the configured host:port pairs", () => {
    const a = new Allowlist({
      exact: [
        { host: "node1.example.org", port: 9100 },
        { host: "10.0.0.1", port: 9100 },
        { host: "::1", port: 9100 },
      ],
    });
    expect(a.allows("node1.example.org", 9100)).toBe(true);
    expect(a.allows("10.0.0.1", 9100)).toBe(true);
    expect(a.allows("::1", 9100)).toBe(true);
    expect(a.allows("node1.example.org", 9101)).toBe(false);
    expect(a.allows("node1.example.org", 22)).toBe(false);
    expect(a.allows("node2.example.org", 9100)).toBe(false);
    expect(a.allows("10.0.0.10", 9100)).toBe(false);
  });

  it("compares configured hosts in canonical form (case, trailing dot, IPv6 spelling, IPv4-mapped)", () => {
    const a = new Allowlist({
      exact: [
        { host: "Node1.Example.ORG.", port: 9100 },
        { host: "2001:DB8:0:0::1", port: 9100 },
        { host: "::ffff:10.0.0.7", port: 9100 },
      ],
    });
    expect(a.allows("node1.example.org", 9100)).toBe(true);
    expect(a.allows("2001:db8::1", 9100)).toBe(true);
    expect(a.allows("10.0.0.7", 9100)).toBe(true);
  });

  it("widens with proxy.allow patterns: * and ? stay inside one label or octet", () => {
    const a = new Allowlist({
      exact: [],
      patterns: ["*.example.org:9100", "10.0.0.*:*", "node?.lab:9100", "[::1]:9100", "[2001:db8::*]:9100"],
    });
    expect(a.allows("node1.example.org", 9100)).toBe(true);
    expect(a.allows("node1.example.org", 9101)).toBe(false);
    expect(a.allows("a.b.example.org", 9100)).toBe(false);
    expect(a.allows("example.org", 9100)).toBe(false);
    expect(a.allows("node1.example", 9100)).toBe(false);
    expect(a.allows("evil-example.org", 9100)).toBe(false);
    expect(a.allows("10.0.0.1", 22)).toBe(true);
    expect(a.allows("10.0.0.254", 9100)).toBe(true);
    expect(a.allows("10.0.1.1", 9100)).toBe(false);
    // An IPv4-shaped pattern never matches a DNS name that merely starts like an address.
    expect(a.allows("10.0.0.1.attacker.example", 9100)).toBe(false);
    expect(a.allows("10.0.0.web", 9100)).toBe(false);
    expect(a.allows("node7.lab", 9100)).toBe(true);
    expect(a.allows("node17.lab", 9100)).toBe(false);
    expect(a.allows("::1", 9100)).toBe(true);
    expect(a.allows("::2", 9100)).toBe(false);
    expect(a.allows("2001:db8::5", 9100)).toBe(true);
    expect(a.allows("2001:db9::5", 9100)).toBe(false);
  });

  it("treats a bare * host as any host, and lower-cases patterns", () => {
    const a = new Allowlist({ exact: [], patterns: ["*:9100", "Metrics.Example.ORG:*"] });
    expect(a.allows("a.b.c.example.net", 9100)).toBe(true);
    expect(a.allows("::1", 9100)).toBe(true);
    expect(a.allows("a.b.c.example.net", 9101)).toBe(false);
    expect(a.allows("metrics.example.org", 443)).toBe(true);
  });

  it("consults the any predicate (sshified-compatible mode) only after the lists", () => {
    const asked: string[] = [];
    const a = new Allowlist({
      exact: [{ host: "node1.example.org", port: 9100 }],
      any: (host, port) => {
        asked.push(`${host}:${port}`);
        return host === "known.example.org";
      },
    });
    expect(a.allows("node1.example.org", 9100)).toBe(true);
    expect(a.allows("known.example.org", 1234)).toBe(true);
    expect(a.allows("stranger.example.org", 9100)).toBe(false);
    expect(asked).toEqual(["known.example.org:1234", "stranger.example.org:9100"]);
  });

  it("refuses malformed patterns with a typed error naming the entry", () => {
    for (const p of [
      "node1.example.org",
      "::1:9100",
      "node1:99999",
      "node1:0",
      "10.0.*:*",
      "[::1]",
      "127.1:22",
    ]) {
      expect(() => new Allowlist({ exact: [], patterns: [p] }), p).toThrow(AllowPatternError);
    }
    expect(() => new Allowlist({ exact: [], patterns: ["nope"] })).toThrow(
      /proxy\.allow: "nope" is not HOST:PORT/,
    );
  });

  it("with request-target parsing, spelling tricks cannot reach an address only allowed in another form", () => {
    const a = new Allowlist({
      exact: [{ host: "node1.example.org", port: 9100 }],
      patterns: ["10.0.0.*:9100"],
    });
    const permitted = (target: string) => {
      try {
        const t = target.startsWith("http") ? parseAbsoluteTarget(target) : parseConnectTarget(target);
        return a.allows(t.host, t.port);
      } catch {
        return false;
      }
    };
    expect(permitted("http://NODE1.example.org.:9100/metrics")).toBe(true);
    expect(permitted("http://[::ffff:10.0.0.3]:9100/metrics")).toBe(true);
    for (const t of [
      "http://node1.example.org@127.0.0.1:22/",
      "http://127.0.0.1:22/",
      "127.0.0.1:22",
      "[::ffff:127.0.0.1]:22",
      "http://[::1]:9100/",
      "http://node1.example.org:9101/",
      "http://%6eode1.example.org:9100/",
      "http://10.0.0.1.attacker.example:9100/",
      "http://167772161:9100/",
      "node1.example.org:22",
    ]) {
      expect(permitted(t), t).toBe(false);
    }
  });
});
