import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { ProxyError } from "../../src/proxy/proxy-error.js";
import {
  MAX_TARGET_LENGTH,
  parseAbsoluteTarget,
  parseConnectTarget,
  RequestTargetError,
} from "../../src/proxy/request-target.js";

// Host spellings that disguise one host as another (userinfo, percent-encoding, backslash, IPv4 shorthand) are
// open-relay probes: 403, as the allowlist answers. Plain malformed targets are 400. Each row states its status.

function rejection(fn: () => unknown): RequestTargetError {
  try {
    fn();
  } catch (err) {
    if (err instanceof RequestTargetError) return err;
    throw err;
  }
  throw new Error("expected a RequestTargetError, got a parsed target");
}

describe("parseAbsoluteTarget: open-relay tricks are refused (403 for disguised hosts, 400 for malformed)", () => {
  // [target, what WHATWG `new URL()` would have made of the host (undefined = it refuses too), reason, status]
  const tricks: Array<[string, string | undefined, RegExp, 400 | 403]> = [
    ["http://allowed.example.org@evil.example.org/", "evil.example.org", /userinfo/, 403],
    ["http://allowed.example.org:9100@evil.example.org:9100/", "evil.example.org", /userinfo/, 403],
    ["http://evil@allowed.example.org:9100/metrics", "allowed.example.org", /userinfo/, 403],
    ["http://%31%32%37.0.0.1:9100/", "127.0.0.1", /percent-encoding/, 403],
    ["http://allowed.example.org%2f@evil/", "evil", /userinfo|percent/, 403],
    ["http://al%6cowed.example.org/", "allowed.example.org", /percent-encoding/, 403],
    ["http://127.1:22/", "127.0.0.1", /dotted-quad/, 403],
    ["http://127.0.1/", "127.0.0.1", /dotted-quad/, 403],
    ["http://0x7f000001/", "127.0.0.1", /dotted-quad/, 403],
    ["http://0x7f.0.0.1:22/", "127.0.0.1", /dotted-quad/, 403],
    ["http://0177.0.0.1/", "127.0.0.1", /dotted-quad/, 403],
    ["http://127.0.0.01/", "127.0.0.1", /dotted-quad/, 403],
    ["http://2130706433/", "127.0.0.1", /dotted-quad/, 403],
    ["http://017700000001/", "127.0.0.1", /dotted-quad/, 403],
    ["http://0x7F.1/", "127.0.0.1", /dotted-quad/, 403],
    ["http://allowed.example.org\\@evil.example.org/", "allowed.example.org", /userinfo/, 403],
    ["http://evil.example.org\\allowed.example.org/", "evil.example.org", /backslash/, 403],
    ["http://1.2.3.4.5/", undefined, /dotted-quad/, 403],
    ["http://256.0.0.1/", undefined, /dotted-quad/, 403],
    ["http://foo.123/", undefined, /dotted-quad/, 403],
    ["https://allowed.example.org:9100/metrics", "allowed.example.org", /CONNECT/, 400],
    ["ftp://allowed.example.org/", "allowed.example.org", /scheme "ftp"/, 400],
    ["file:///etc/passwd", "", /scheme "file"/, 400],
    ["gopher://127.0.0.1:22/", "127.0.0.1", /scheme "gopher"/, 400],
    ["http:allowed.example.org/", "allowed.example.org", /no authority/, 400],
    ["http:/allowed.example.org/", "allowed.example.org", /no authority/, 400],
    ["//allowed.example.org/", undefined, /absolute-form/, 400],
    ["/metrics", undefined, /absolute-form/, 400],
    ["http://allowed.example.org:9100/metrics#frag", "allowed.example.org", /fragment/, 400],
    ["http://allowed.example.org#@evil/", "allowed.example.org", /fragment/, 400],
    ["http://[::1/", undefined, /unterminated/, 400],
    ["http://[::1]x/", undefined, /after "\]"/, 400],
    ["http://[127.0.0.1]/", undefined, /not an IPv6 address/, 400],
    ["http://[fe80::1%25eth0]/", undefined, /percent-encoding/, 403],
    ["http://[v1.fe]/", undefined, /not an IPv6 address/, 400],
    ["http://::1:9100/", undefined, /brackets/, 400],
    ["http:///metrics", "metrics", /empty host/, 400],
    ["http://:9100/metrics", undefined, /empty host/, 400],
    ["http://allowed.example.org:0/", "allowed.example.org", /port 0/, 400],
    ["http://allowed.example.org:65536/", undefined, /port 65536/, 400],
    ["http://allowed.example.org:-1/", undefined, /bad port/, 400],
    ["http://allowed.example.org:+80/", undefined, /bad port/, 400],
    ["http://allowed.example.org:80a/", undefined, /bad port/, 400],
    ["http://allowed.example.org:/", "allowed.example.org", /bad port/, 400],
    ["http://allowed.example.org:123456/", undefined, /bad port/, 400],
    ["http://allowed.example.org../", "allowed.example.org..", /not a valid DNS name/, 400],
    ["http://allowed.example.org:9100:22/", undefined, /more than one ":"/, 400],
    ["http://*.example.org/", "*.example.org", /not a valid DNS name/, 400],
    ["http://-bad.example.org/", "-bad.example.org", /not a valid DNS name/, 400],
    ["http://allowed.example.org /", undefined, /spaces, control/, 400],
    ["http://allowed.example.org\t/", "allowed.example.org", /spaces, control/, 400],
    ["http://allówed.example.org/", "xn--allwed-dxa.example.org", /non-ASCII/, 400],
  ];

  it.each(tricks)("%s", (target, whatwgHost, reason, status) => {
    const err = rejection(() => parseAbsoluteTarget(target));
    expect(err.status).toBe(status);
    expect(err.message).toMatch(reason);
    // Documents why the authority is parsed by hand: where WHATWG would have produced a host, that host
    // is what a `new URL()`-based proxy would have compared against its allowlist.
    let host: string | undefined;
    try {
      host = new URL(target).hostname;
    } catch {
      host = undefined;
    }
    expect(host).toBe(whatwgHost);
  });
});

describe("parseAbsoluteTarget: canonical form", () => {
  const cases: Array<[string, string, number, string]> = [
    ["http://node1.example.org:9100/metrics", "node1.example.org", 9100, "/metrics"],
    ["http://Node1.Example.ORG:9100/metrics", "node1.example.org", 9100, "/metrics"],
    [
      "HTTP://node1.example.org.:9100/metrics?collect[]=cpu",
      "node1.example.org",
      9100,
      "/metrics?collect[]=cpu",
    ],
    ["http://node1.example.org/", "node1.example.org", 80, "/"],
    ["http://node1.example.org", "node1.example.org", 80, "/"],
    ["http://node1.example.org:9100?x=1", "node1.example.org", 9100, "/?x=1"],
    ["http://10.0.0.1:09100/a%20b?q=%2F", "10.0.0.1", 9100, "/a%20b?q=%2F"],
    ["http://under_score.example.org:9100/", "under_score.example.org", 9100, "/"],
    ["http://[::1]:9100/metrics", "::1", 9100, "/metrics"],
    ["http://[::FFFF:127.0.0.1]:9100/", "127.0.0.1", 9100, "/"],
    ["http://[::ffff:7f00:1]:9100/", "127.0.0.1", 9100, "/"],
    ["http://[0:0:0:0:0:ffff:a00:1]/", "10.0.0.1", 80, "/"],
    ["http://[0:0:0:0:0:0:0:1]:9100/", "::1", 9100, "/"],
    // RFC 5952 §4: leading zeros dropped, lower case, longest run compressed, first on a tie, no "::" for one group.
    ["http://[2001:0DB8::0001]/", "2001:db8::1", 80, "/"],
    ["http://[2001:db8:0:0:1:0:0:1]/", "2001:db8::1:0:0:1", 80, "/"],
    ["http://[1:0:0:2:0:0:0:3]/", "1:0:0:2::3", 80, "/"],
    ["http://[2001:db8:0:1:1:1:1:1]/", "2001:db8:0:1:1:1:1:1", 80, "/"],
    ["http://[::]:9100/", "::", 9100, "/"],
  ];
  it.each(cases)("%s → %s port %d path %s", (target, host, port, path) => {
    expect(parseAbsoluteTarget(target)).toEqual({ host, port, path, scheme: "http" });
  });

  it("agrees with an independent IPv6 serialiser (WHATWG, RFC 5952 rules) on random addresses", () => {
    const group = fc.integer({ min: 0, max: 0xffff });
    const sparse = fc.oneof(fc.constant(0), fc.constant(0), group);
    fc.assert(
      fc.property(fc.array(sparse, { minLength: 8, maxLength: 8 }), fc.boolean(), (groups, upper) => {
        // IPv4-mapped addresses are ours to turn into IPv4; WHATWG keeps them IPv6.
        fc.pre(!(groups.slice(0, 5).every((g) => g === 0) && groups[5] === 0xffff));
        let text = groups.map((g) => g.toString(16).padStart(4, "0")).join(":");
        if (upper) text = text.toUpperCase();
        const expected = new URL(`http://[${text}]/`).hostname.slice(1, -1);
        expect(parseAbsoluteTarget(`http://[${text}]/`).host).toBe(expected);
      }),
      { numRuns: 500 },
    );
  });
});

describe("request-target length and error shape", () => {
  it(`answers 414 for targets over ${MAX_TARGET_LENGTH} bytes and accepts exactly the limit`, () => {
    const prefix = "http://node1.example.org:9100/";
    const atLimit = prefix + "a".repeat(MAX_TARGET_LENGTH - prefix.length);
    expect(parseAbsoluteTarget(atLimit).path).toHaveLength(MAX_TARGET_LENGTH - prefix.length + 1);
    const err = rejection(() => parseAbsoluteTarget(`${atLimit}a`));
    expect(err.status).toBe(414);
    expect(rejection(() => parseConnectTarget(`${"a".repeat(MAX_TARGET_LENGTH)}:443`)).status).toBe(414);
  });

  it("is a ProxyError with a stable code and a bounded, quoted message", () => {
    const err = rejection(() => parseAbsoluteTarget(`ftp://${"x".repeat(5000)}/`));
    expect(err).toBeInstanceOf(ProxyError);
    expect(err.code).toBe("BAD_REQUEST_TARGET");
    expect(err.phase).toBe("request");
    expect(err.message.length).toBeLessThan(400);
  });
});

describe("parseConnectTarget", () => {
  const ok: Array<[string, string, number]> = [
    ["node1.example.org:443", "node1.example.org", 443],
    ["Node1.Example.ORG.:9100", "node1.example.org", 9100],
    ["10.0.0.1:9100", "10.0.0.1", 9100],
    ["[::1]:443", "::1", 443],
    ["[::ffff:127.0.0.1]:22", "127.0.0.1", 22],
    ["[2001:DB8:0::1]:443", "2001:db8::1", 443],
  ];
  it.each(ok)("%s → %s port %d", (authority, host, port) => {
    expect(parseConnectTarget(authority)).toEqual({ host, port });
  });

  const bad: Array<[string, RegExp, 400 | 403]> = [
    ["node1.example.org", /needs a port/, 400],
    ["[::1]", /needs a port/, 400],
    ["node1.example.org:", /bad port/, 400],
    ["node1.example.org:0", /port 0/, 400],
    ["node1.example.org:99999", /port 99999/, 400],
    ["http://node1.example.org:443", /without scheme or path/, 400],
    ["node1.example.org:443/x", /without scheme or path/, 400],
    ["allowed.example.org:443@evil.example.org:443", /userinfo/, 403],
    ["%6eode1.example.org:443", /percent-encoding/, 403],
    ["127.1:22", /dotted-quad/, 403],
    ["0x7f000001:22", /dotted-quad/, 403],
    ["2130706433:22", /dotted-quad/, 403],
    ["::1:443", /brackets/, 400],
    [":443", /empty host/, 400],
    ["[::1]443", /after "\]"/, 400],
  ];
  it.each(bad)("refuses %s → %i", (authority, reason, status) => {
    const err = rejection(() => parseConnectTarget(authority));
    expect(err.status).toBe(status);
    expect(err.message).toMatch(reason);
  });
});

describe("status of a refused target", () => {
  it("answers disguised hosts 403 like the allowlist, and plain malformed targets 400", () => {
    expect(rejection(() => parseAbsoluteTarget("http://allowed@evil/")).status).toBe(403);
    expect(rejection(() => parseAbsoluteTarget("http://%31%32%37.0.0.1:9100/")).status).toBe(403);
    expect(rejection(() => parseConnectTarget("127.1:22")).status).toBe(403);
    expect(rejection(() => parseAbsoluteTarget("ftp://allowed.example.org/")).status).toBe(400);
    expect(rejection(() => parseAbsoluteTarget("http://allowed.example.org:80a/")).status).toBe(400);
  });
});
