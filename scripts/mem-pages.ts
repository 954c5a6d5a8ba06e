/**
 * Where a process's resident memory is, finer than smaps: the resident pages of the node binary binned by ELF
 * section and, inside .text and .rodata, by the part of node the symbol at each page belongs to (V8's
 * compilers, ICU's code and data, OpenSSL, libuv, node itself, …); and the anonymous mappings by kind (V8
 * heap spaces are 256 KB-aligned regions, thread stacks sit next to a guard page, the rest is malloc).
 *
 *   npx tsx scripts/mem-pages.ts PID [PID …]          # one column per process
 *   npm run bench:startup -- --smaps --probe "npx tsx scripts/mem-pages.ts" --variant …
 *
 * Reads /proc/PID/maps and /proc/PID/pagemap (the present bit needs no privilege), and the binary's symbols
 * through `nm` (binutils). Linux only; a diagnostic for docs/benchmarks.md "Memory (issue 14, round 5)".
 */
import { execFileSync } from "node:child_process";
import { closeSync, openSync, readFileSync, readSync } from "node:fs";

const PAGE = 4096;
/** MEMPAGES_DETAIL=1: also one row per symbol of .text / .rodata (the page's first symbol). */
const detail = process.env.MEMPAGES_DETAIL === "1";

interface Section {
  name: string;
  addr: number;
  size: number;
}

function sections(path: string): Section[] {
  const out: Section[] = [];
  const text = execFileSync("readelf", ["-SW", path], { encoding: "utf8" });
  for (const line of text.split("\n")) {
    const m = /\]\s+(\S+)\s+\S+\s+([0-9a-f]{16})\s+[0-9a-f]+\s+([0-9a-f]+)/.exec(line);
    if (m && Number.parseInt(m[2] as string, 16) > 0)
      out.push({
        name: m[1] as string,
        addr: Number.parseInt(m[2] as string, 16),
        size: Number.parseInt(m[3] as string, 16),
      });
  }
  return out;
}

/** What a demangled symbol is part of. */
function partOf(sym: string): string {
  if (/^icudt\d+_dat/.test(sym)) return "ICU data";
  if (/^icu_\d+::|^u[a-z]+_\w+_\d+$|^U[A-Z]/.test(sym) || /_7[0-9]$/.test(sym)) return "ICU code";
  if (/v8::internal::compiler::turboshaft/.test(sym)) return "V8 turboshaft";
  if (/v8::internal::compiler::/.test(sym)) return "V8 turbofan";
  if (/v8::internal::maglev::/.test(sym)) return "V8 maglev";
  if (/v8::internal::wasm::|wasm/i.test(sym)) return "V8 wasm";
  if (/v8::internal::interpreter::|Builtins_|v8::internal::Builtin/.test(sym))
    return "V8 interpreter/builtins";
  if (
    /v8::internal::(Heap|.*GC|Mark|Scaveng|Sweep|Minor|Concurrent|Evacuat|Compact|cppgc)|^cppgc::/.test(sym)
  )
    return "V8 heap/GC";
  if (/v8::internal::(Parser|Scanner|Preparse|AstValue|Ast|Scope|.*Compiler|Bytecode)/.test(sym))
    return "V8 parser/bytecode";
  if (/v8::internal::Regexp|v8::internal::RegExp|irregexp/i.test(sym)) return "V8 regexp";
  if (/^v8::|^v8_inspector|^v8_crdtp/.test(sym)) return "V8 other";
  if (/^node::|^napi_|^uvwasi|^node_/.test(sym)) return "node";
  if (/^uv_|^uv__/.test(sym)) return "libuv";
  if (/^(llhttp|llparse)/.test(sym)) return "llhttp";
  if (/^nghttp|^ngtcp|^nghttp3/.test(sym)) return "nghttp2";
  if (/^(brotli|Brotli|deflate|inflate|zlib|crc32|adler|Cr_z_|z_)/i.test(sym)) return "zlib/brotli";
  if (
    /^(ossl_|EVP_|SSL_|OPENSSL|CRYPTO_|ERR_|BN_|EC_|RSA_|X509|ASN1|PEM_|BIO_|OBJ_|tls|ssl|aes|sha|x25519|ecp_|bn_|chacha|poly1305|gcm_|ChaCha|CRYPTO|OSSL|DH_|DSA_|PKCS|evp_|asn1|x509|ec_|rsa_|dh_|dsa_|RAND_|rand_|ossl)/.test(
      sym,
    )
  )
    return "OpenSSL";
  if (/^(ares_|ares__)/.test(sym)) return "c-ares";
  if (/^(simdutf|ada::|simdjson)/.test(sym)) return "simdutf/ada";
  if (/^std::|^__cxx|^operator|^__gnu/.test(sym)) return "libstdc++ inlines";
  return "other";
}

interface Sym {
  addr: number;
  name: string;
}

function symbols(path: string): Sym[] {
  const text = execFileSync("nm", ["-n", "-C", "--defined-only", path], {
    encoding: "utf8",
    maxBuffer: 1 << 28,
  });
  const out: Sym[] = [];
  for (const line of text.split("\n")) {
    const sp = line.indexOf(" ");
    if (sp < 0) continue;
    out.push({ addr: Number.parseInt(line.slice(0, sp), 16), name: line.slice(sp + 3) });
  }
  return out;
}

function symAt(syms: Sym[], addr: number): string {
  let lo = 0;
  let hi = syms.length - 1;
  while (lo < hi) {
    const mid = (lo + hi + 1) >> 1;
    if ((syms[mid] as Sym).addr <= addr) lo = mid;
    else hi = mid - 1;
  }
  return (syms[lo] as Sym).name;
}

interface Mapping {
  start: number;
  end: number;
  perms: string;
  path: string;
}

function mappings(pid: string): Mapping[] {
  return readFileSync(`/proc/${pid}/maps`, "utf8")
    .split("\n")
    .filter(Boolean)
    .map((line) => {
      const m = /^([0-9a-f]+)-([0-9a-f]+) (\S+) \S+ \S+ \S+\s*(.*)$/.exec(line);
      if (!m) throw new Error(`maps: ${line}`);
      return {
        start: Number.parseInt(m[1] as string, 16),
        end: Number.parseInt(m[2] as string, 16),
        perms: m[3] as string,
        path: m[4] as string,
      };
    });
}

/** Addresses of the resident pages of [start, end). */
function present(fd: number, start: number, end: number): number[] {
  const pages = (end - start) / PAGE;
  const buf = Buffer.alloc(pages * 8);
  readSync(fd, buf, 0, buf.length, (start / PAGE) * 8);
  const out: number[] = [];
  for (let i = 0; i < pages; i++) if (buf.readBigUInt64LE(i * 8) >> 63n) out.push(start + i * PAGE);
  return out;
}

function profile(pid: string, syms: Sym[], secs: Section[], exe: string): Map<string, number> {
  const kb = new Map<string, number>();
  const add = (k: string, n = 4) => kb.set(k, (kb.get(k) ?? 0) + n);
  const fd = openSync(`/proc/${pid}/pagemap`, "r");
  const maps = mappings(pid);
  try {
    for (let i = 0; i < maps.length; i++) {
      const m = maps[i] as Mapping;
      if (m.path.startsWith("[vsyscall")) continue;
      const pages = present(fd, m.start, m.end);
      if (m.path === exe) {
        for (const p of pages) {
          const sec = secs.find((s) => p + PAGE > s.addr && p < s.addr + s.size);
          const name = sec?.name ?? "(other)";
          if (name === ".text" || name === ".rodata") {
            const sym = symAt(syms, p);
            add(`node ${name} ${partOf(sym)}`);
            if (detail) add(`sym ${name} ${sym.slice(0, 80)}`);
          } else add(`node ${name}`);
        }
      } else if (m.path === "" || m.path.startsWith("[anon")) {
        const prev = maps[i - 1];
        // A thread stack: private rw mapping right after a ---p guard page.
        const kind =
          prev?.perms.startsWith("---") && prev.end === m.start && m.end - m.start <= 16 << 20
            ? "anon: thread stacks"
            : m.perms.startsWith("---")
              ? "anon: reserved"
              : m.perms.includes("x")
                ? "anon: executable (V8 code space)"
                : (m.end - m.start) % (256 << 10) === 0 && m.start % (256 << 10) === 0
                  ? "anon: 256 KB-aligned (V8 heap pages)"
                  : "anon: other (malloc arenas, V8 malloced)";
        add(kind, pages.length * 4);
      } else add(m.path.startsWith("[") ? m.path : `lib ${m.path.split("/").pop()}`, pages.length * 4);
    }
  } finally {
    closeSync(fd);
  }
  return kb;
}

const pids = process.argv.slice(2);
if (pids.length === 0) throw new Error("usage: mem-pages PID [PID …]");
const exe = execFileSync("readlink", ["-f", `/proc/${pids[0]}/exe`], { encoding: "utf8" }).trim();
const syms = symbols(exe);
const secs = sections(exe);
const profiles = pids.map((p) => profile(p, syms, secs, exe));
const keys = [...new Set(profiles.flatMap((p) => [...p.keys()]))].sort(
  (a, b) => (profiles.at(-1)?.get(b) ?? 0) - (profiles.at(-1)?.get(a) ?? 0),
);
console.log(`| KB resident | ${pids.join(" | ")} |`);
console.log(`|---|${pids.map(() => "---:").join("|")}|`);
for (const k of keys) console.log(`| ${k} | ${profiles.map((p) => p.get(k) ?? 0).join(" | ")} |`);
console.log(`| total | ${profiles.map((p) => [...p.values()].reduce((a, b) => a + b, 0)).join(" | ")} |`);
