/**
 * A seeded generator of malformed HTTP/1.1 requests (RFC 9112 framing, RFC 3986 targets), as raw bytes.
 * Every request is wrong on purpose; a request whose syntax the parser might still accept names an unlisted
 * target, so the only correct answers are 4xx or a closed connection. Same seed → same bytes, so a failure
 * reproduces with `FAULTS_SEED=<seed>` and the index it is reported with.
 */

/** mulberry32: tiny, fast, good enough to pick fuzz cases reproducibly. */
export function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

export interface FuzzTargets {
  /** host:port the proxy allows (only used where the framing itself is invalid). */
  allowed: string;
  /** host:port the proxy must refuse (a canary listener that counts connections). */
  unlisted: string;
}

export interface Fuzzed {
  category: string;
  bytes: Buffer;
}

type Gen = (r: Rand, t: FuzzTargets) => Buffer | string;

class Rand {
  constructor(readonly next: () => number) {}
  int(n: number): number {
    return Math.floor(this.next() * n);
  }
  pick<T>(list: readonly T[]): T {
    return list[this.int(list.length)] as T;
  }
  bytes(n: number): Buffer {
    const b = Buffer.alloc(n);
    for (let i = 0; i < n; i++) b[i] = this.int(256);
    return b;
  }
  ascii(n: number): string {
    let s = "";
    for (let i = 0; i < n; i++) s += String.fromCharCode(33 + this.int(94));
    return s;
  }
}

const CRLF = "\r\n";

function request(line: string, headers: string[], body: Buffer | string = ""): Buffer {
  return Buffer.concat([
    Buffer.from(`${line}${CRLF}${headers.map((h) => `${h}${CRLF}`).join("")}${CRLF}`, "latin1"),
    Buffer.isBuffer(body) ? body : Buffer.from(body, "latin1"),
  ]);
}

const badMethods = [
  "G\x00ET",
  "GE T",
  "",
  "GET\t",
  "\u00c7ET",
  "GET/",
  "get",
  "FOO",
  "G",
  "GET\x7f",
  "@GET",
  "PRI",
  "*",
];
const badVersions = [
  "HTTP/1.1 ",
  "HTTP/2.0",
  "HTTP/1.10",
  "http/1.1",
  "HTTP/1",
  "HTTP/x.y",
  "",
  "HTTP/1.1\x00",
  "HTTP/1.1 extra",
  "HTTP/11",
  "HTTP /1.1",
  "HTTP/0.9",
  "HTTP/9.9",
];

function badUri(r: Rand, t: FuzzTargets): string {
  const [uhost, uport] = t.unlisted.split(":");
  const forms = [
    () => `http://${r.ascii(1 + r.int(40))}`,
    () => `http://${uhost}:${uport}/%zz`,
    () => `http://%zz${uhost}:${uport}/`,
    () => `http://${uhost}:${uport}/${"a".repeat(9000 + r.int(20_000))}`,
    () => `http://[::1:${uport}/`,
    () => `http://:${uport}/`,
    () => `http://a b:${uport}/`,
    () => `http://${uhost}:${99_999 + r.int(1_000_000)}/`,
    () => `http://${uhost}:-${uport}/`,
    () => `http://${uhost}:0x${Number(uport).toString(16)}/`,
    () => "*",
    () => `//${t.unlisted}/`,
    () => `http:/${t.unlisted}/`,
    () => `ftp://${t.unlisted}/`,
    () => `http://\x7f${uhost}:${uport}/`,
    () => `http://h\u00e9st:${uport}/`,
    () => `http://${t.unlisted}/\x01\x02`,
    () => `http://${t.unlisted}#frag`,
    () => `http://${uhost}:${uport}:${uport}/`,
    () => `http://${uhost}:/`,
    () => "",
    () => `http://${t.unlisted}\\@${t.allowed}/`,
    () => `http://${"x".repeat(300)}.example:${uport}/`,
    () => `http://${t.unlisted}/${r.bytes(1 + r.int(30)).toString("latin1")}`,
  ];
  return r.pick(forms)();
}

/** Header blocks a strict HTTP/1.1 parser must reject; used with the allowed target too. */
function brokenFraming(r: Rand): string[] {
  const variants: string[][] = [
    ["Content-Length: 5", "Transfer-Encoding: chunked"],
    ["Transfer-Encoding: chunked", "Content-Length: 0"],
    ["Content-Length: 5", "Content-Length: 6"],
    ["Content-Length: abc"],
    ["Content-Length: -1"],
    ["Content-Length: +5"],
    ["Content-Length: 5 5"],
    ["Content-Length: 0x10"],
    ["X-Bad\x00: v"],
    ["X-Bad: v\x00w"],
    ["X-Bad : v"],
    ["X Bad: v"],
    ["X-Bad(): v"],
    ["NoColonHere"],
    [": empty-name"],
    ["X-Bad: v\rw"],
    ["Transfer-Encoding: chunked, gzip"],
    ["Transfer-Encoding: gzip"],
    ["Transfer-Encoding: chunked", "Transfer-Encoding: identity"],
    ["X-Fold: a", " folded"],
    [`X-Big: ${"b".repeat(70_000 + r.int(30_000))}`],
    Array.from({ length: 2100 }, (_v, i) => `X-H${i}: ${i}`),
  ];
  return r.pick(variants);
}

function brokenBody(r: Rand): { headers: string[]; body: string } {
  const variants = [
    { headers: ["Transfer-Encoding: chunked"], body: "zz\r\nhello\r\n0\r\n\r\n" },
    { headers: ["Transfer-Encoding: chunked"], body: "5\r\nabc\r\n0\r\n\r\n" },
    { headers: ["Transfer-Encoding: chunked"], body: "5\r\nhello" },
    { headers: ["Transfer-Encoding: chunked"], body: "ffffffffffffffffffff\r\nx\r\n" },
    { headers: ["Transfer-Encoding: chunked"], body: "5;\x01ext\r\nhello\r\n0\r\n\r\n" },
    { headers: ["Transfer-Encoding: chunked"], body: "5\nhello\n0\n\n" },
    { headers: ["Transfer-Encoding: chunked"], body: "-5\r\nhello\r\n0\r\n\r\n" },
    { headers: ["Content-Length: 100"], body: "short" },
    { headers: ["Content-Encoding: gzip", "Content-Length: 4"], body: "\x1f\x8b\x08\x00" },
  ];
  return r.pick(variants);
}

function mutate(r: Rand, b: Buffer): Buffer {
  let out = Buffer.from(b);
  const n = 1 + r.int(6);
  for (let k = 0; k < n; k++) {
    const at = r.int(out.length);
    const op = r.int(4);
    if (op === 0) out[at] = r.int(256);
    else if (op === 1) out = Buffer.concat([out.subarray(0, at), r.bytes(1 + r.int(8)), out.subarray(at)]);
    else if (op === 2) out = Buffer.concat([out.subarray(0, at), out.subarray(at + 1 + r.int(8))]);
    else {
      const len = 1 + r.int(16);
      out = Buffer.concat([out.subarray(0, at), out.subarray(at, at + len), out.subarray(at)]);
    }
  }
  return out;
}

const generators: Record<string, Gen> = {
  garbage: (r) => Buffer.concat([r.bytes(1 + r.int(300)), Buffer.from("\r\n\r\n")]),
  "request-line": (r, t) => {
    const which = r.int(3);
    const method = which === 0 ? r.pick(badMethods) : "GET";
    const version = which === 1 ? r.pick(badVersions) : "HTTP/1.1";
    const sep = which === 2 ? r.pick(["  ", "\t", "\r", "\x00", "\x0b"]) : " ";
    return request(`${method}${sep}http://${t.unlisted}/metrics${sep}${version}`, [`Host: ${t.unlisted}`]);
  },
  uri: (r, t) =>
    request(`${r.pick(["GET", "CONNECT", "HEAD"])} ${badUri(r, t)} HTTP/1.1`, [`Host: ${t.unlisted}`]),
  "headers-unlisted": (r, t) =>
    request(`GET http://${t.unlisted}/metrics HTTP/1.1`, [
      `Host: ${t.unlisted}`,
      ...(r.int(10) === 0 ? [`Host: ${t.allowed}`] : brokenFraming(r)),
    ]),
  "headers-allowed": (r, t) =>
    request(`GET http://${t.allowed}/metrics HTTP/1.1`, [`Host: ${t.allowed}`, ...brokenFraming(r)]),
  "body-encoding": (r, t) => {
    const { headers, body } = brokenBody(r);
    return request(`POST http://${t.unlisted}/metrics HTTP/1.1`, [`Host: ${t.unlisted}`, ...headers], body);
  },
  "line-endings": (r, t) => {
    const eol = r.pick(["\n", "\r", "\n\r", "\r\r\n"]);
    return `GET http://${t.unlisted}/metrics HTTP/1.1${eol}Host: ${t.unlisted}${eol}X-A: b${eol}${eol}`;
  },
  "obs-text": (r, t) =>
    Buffer.concat([
      Buffer.from(`GET http://${t.unlisted}/metrics HTTP/1.1\r\nHost: ${t.unlisted}\r\nX-Enc: `),
      r.pick([
        Buffer.from([0xff, 0xfe, 0x00, 0x41]),
        Buffer.from([0xc0, 0xaf]),
        Buffer.from([0xed, 0xa0, 0x80]),
        r.bytes(20),
      ]),
      Buffer.from("\r\n\r\n"),
    ]),
  "connect-forms": (r, t) => {
    const [uhost, uport] = t.unlisted.split(":");
    const authority = r.pick([
      t.unlisted,
      `${uhost}`,
      `${uhost}:`,
      `:${uport}`,
      `[${uhost}]:${uport}`,
      `${uhost}:${uport}/path`,
      `http://${t.unlisted}`,
      `${uhost}:${uport}@${t.allowed}`,
      `${t.allowed}@${t.unlisted}`,
      `${uhost}%2e:${uport}`,
    ]);
    return request(`CONNECT ${authority} HTTP/1.1`, [`Host: ${authority}`]);
  },
  mutation: (r, t) =>
    mutate(
      r,
      request(`GET http://${t.unlisted}/metrics?x=1 HTTP/1.1`, [
        `Host: ${t.unlisted}`,
        "User-Agent: Prometheus/2.42.0",
        "Accept: application/openmetrics-text;version=1.0.0,text/plain;version=0.0.4;q=0.5,*/*;q=0.1",
        "Accept-Encoding: gzip",
        "X-Prometheus-Scrape-Timeout-Seconds: 10",
      ]),
    ),
};

export const categories = Object.keys(generators);

/** The `index`-th malformed request for `seed` (independent of how many were generated before). */
export function fuzzed(seed: number, index: number, targets: FuzzTargets): Fuzzed {
  const r = new Rand(rng(seed * 1_000_003 + index));
  const category = r.pick(categories);
  const gen = generators[category] as Gen;
  const out = gen(r, targets);
  return { category, bytes: Buffer.isBuffer(out) ? out : Buffer.from(out, "latin1") };
}
