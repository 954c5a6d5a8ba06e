/**
 * Audit of the raw front (src/proxy/front-parser.ts): a request head must cost the proxy time linear in its
 * length. The header-line pattern once had three overlapping whitespace runs (`[ \t]*`, a lazy value that may
 * hold spaces and tabs, `[ \t]*$`): a line of a few thousand spaces ending in a byte outside the grammar made
 * V8's backtracking engine try every split of the run (cubic: ~2 s for 2 000 spaces, minutes for the 8 KB a
 * head may have), blocking the proxy's one thread for every client, before proxy auth. The proxy runs as its
 * own process here, so a blocked event loop shows as an answer that never comes (the test's timeout), not as a
 * blocked test runner. `npm run build` first (it runs dist/).
 */
import { execFileSync } from "node:child_process";
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { launchProxy, type ProxyProcess } from "../helpers/proxy-cli.js";
import { RawClient } from "../helpers/raw-http.js";

let proxy: ProxyProcess;

beforeAll(async () => {
  const work = mkdtempSync(join(tmpdir(), "front-audit-"));
  const key = join(work, "key");
  execFileSync("ssh-keygen", ["-q", "-t", "ed25519", "-N", "", "-f", key]);
  const knownHosts = join(work, "known_hosts");
  writeFileSync(knownHosts, "");
  proxy = await launchProxy(["--ssh.key-file", key, "--known-hosts-file", knownHosts]);
});

afterAll(async () => {
  await proxy?.proc.stop();
});

const port = () => Number(new URL(proxy.url).port);

/** The largest whitespace run that keeps the head within the front's 8 KB, then `tail` and CRLF CRLF. */
function head(prefix: string, tail: string): string {
  const start = `GET http://127.0.0.1:9100/metrics HTTP/1.1\r\nHost: 127.0.0.1:9100\r\n${prefix}`;
  const room = 8 * 1024 - start.length - tail.length - 4;
  return `${start}${" \t".repeat(room / 2)}${tail}\r\n\r\n`;
}

describe("a head that fails the header grammar after a long whitespace run", () => {
  // The first two took minutes before the fix (cubic); the third was quadratic (~0.1 s at 8 KB) and pins down
  // that a value before the run does not bring the backtracking back.
  // Each is handed to node:http, which answers at once: 400 for the control bytes; obs-text it accepts, and
  // the allowlist (empty here) refuses the target.
  it.each([
    ["leading whitespace, then a control byte", head("X-Pad:", "\x01"), 400],
    ["leading whitespace, then a bare LF", head("X-Pad:", "\n"), 400],
    ["a value, whitespace, then obs-text", head("X-Pad: a", "\xff"), 403],
  ])(
    "%s: answered, and the proxy stays responsive",
    async (_name, bytes, status) => {
      const c = await RawClient.open(port());
      try {
        await c.write(Buffer.from(bytes, "latin1"));
        const r = await c.response();
        expect(r.status).toBe(status);
      } finally {
        c.destroy();
      }
      const health = await fetch(`${proxy.url}/healthz`);
      expect(health.status).toBe(200);
    },
    15_000,
  );
});
