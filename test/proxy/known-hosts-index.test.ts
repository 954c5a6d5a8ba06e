/**
 * KnownHosts looks literal names up in an index and scans only wildcard, negated and hashed lines
 * (src/proxy/known-hosts.ts): the verdicts and their messages stay those of a scan of every line in file
 * order, which test/proxy/known-hosts.test.ts holds to OpenSSH's own matcher. Here: the mixes where the index
 * and the scan meet, and the remembered lookups.
 */
import { execFileSync } from "node:child_process";
import { createHmac, randomBytes } from "node:crypto";
import { mkdtempSync, readFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { beforeAll, expect, it } from "vitest";
import { fingerprint, KnownHosts } from "../../src/proxy/known-hosts.js";

const dir = mkdtempSync(join(tmpdir(), "sshscrape-kh-index-"));
const keys: Array<{ line: string; blob: Buffer }> = [];
beforeAll(() => {
  for (const name of ["a", "b", "c"]) {
    execFileSync("ssh-keygen", ["-q", "-t", "ed25519", "-N", "", "-f", join(dir, name)]);
    const [type, b64] = readFileSync(join(dir, `${name}.pub`), "utf8")
      .trim()
      .split(" ") as [string, string];
    keys.push({ line: `${type} ${b64}`, blob: Buffer.from(b64, "base64") });
  }
});
const key = (i: number) => keys[i] as { line: string; blob: Buffer };
const hashed = (name: string) => {
  const salt = randomBytes(20);
  return `|1|${salt.toString("base64")}|${createHmac("sha1", salt).update(name).digest("base64")}`;
};

it("lists every line for the host in file order, whether looked up by name or found by a scan", () => {
  const kh = KnownHosts.parse(
    [
      `*.example.org ${key(0).line}`,
      `web1.example.org,web2.example.org ${key(1).line}`,
      `${hashed("web1.example.org")} ${key(0).line}`,
    ].join("\n"),
    "kh",
  );
  const v = kh.verify("web1.example.org", 22, key(2).blob);
  const message = v.ok ? "" : v.message;
  const listed = [...message.matchAll(/SHA256:[A-Za-z0-9+/]+ \(kh:(\d)\)/g)].map((m) => m[1]);
  expect(listed).toEqual(["1", "2", "3"]);
  expect(message).toContain(fingerprint(key(1).blob));
  // Each of the three lines accepts its own key.
  expect(kh.verify("web1.example.org", 22, key(0).blob)).toEqual({ ok: true });
  expect(kh.verify("web1.example.org", 22, key(1).blob)).toEqual({ ok: true });
  expect(kh.verify("web2.example.org", 22, key(0).blob)).toEqual({ ok: true });
  expect(kh.verify("web3.example.org", 22, key(1).blob)).toMatchObject({ ok: false, reason: "mismatch" });
});

it("lets a negation on a line of literal names veto it, as a scan does", () => {
  const kh = KnownHosts.parse(`web1.example.org,!web1.example.org ${key(0).line}`);
  expect(kh.verify("web1.example.org", 22, key(0).blob)).toMatchObject({ ok: false, reason: "unknown" });
});

it("gives the same verdict for a host asked again, and refuses a @revoked key even when remembered", () => {
  const kh = KnownHosts.combine(`[db.example.org]:2222 ${key(0).line}`, "kh", [
    { line: `@revoked * ${key(1).line}`, origin: "targets[0].hostKeys[0] in list.yaml" },
    { line: `[db.example.org]:2222 ${key(1).line}`, origin: "targets[0].hostKeys[1] in list.yaml" },
  ]);
  for (let i = 0; i < 3; i++) {
    expect(kh.verify("DB.example.org", 2222, key(0).blob)).toEqual({ ok: true });
    expect(kh.verify("db.example.org", 2222, key(1).blob)).toMatchObject({ ok: false, reason: "revoked" });
    expect(kh.verify("db.example.org", 22, key(0).blob)).toMatchObject({ ok: false, reason: "unknown" });
  }
  expect(kh.hasHost("db.example.org", 2222)).toBe(true);
  expect(kh.hasHost("db.example.org", 22)).toBe(false);
});
