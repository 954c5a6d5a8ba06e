/**
 * Target-list values that could turn into something else where they end up: addresses on command lines,
 * invisible format characters in generated Nix, and YAML that expands without bound.
 */
import { spawnSync } from "node:child_process";
import { mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";
import { ConfigSyntaxError, ConfigValidationError, parseConfig } from "../../src/config/index.js";

const BIN = fileURLToPath(new URL("../../bin/run.js", import.meta.url));

interface ListOptions {
  listen?: string;
  host?: string;
  jump?: string;
  remoteAddress?: string;
  allow?: string;
  label?: string;
  serverName?: string;
}

function list(o: ListOptions = {}): string {
  return JSON.stringify({
    proxy: { listen: o.listen ?? "127.0.0.1:8888", ...(o.allow ? { allow: [o.allow] } : {}) },
    ssh: { key: { path: "/var/lib/sshscrape/id_ed25519" } },
    targets: [
      {
        host: o.host ?? "db1.example.org",
        ssh: {
          ...(o.jump ? { jump: { host: o.jump } } : {}),
          ...(o.remoteAddress ? { remoteAddress: o.remoteAddress } : {}),
        },
        labels: o.label ? { role: o.label } : undefined,
        exporters: [
          o.serverName
            ? { name: "node", port: 9100, scheme: "https", tls: { serverName: o.serverName } }
            : { name: "node", port: 9100 },
        ],
      },
    ],
  });
}

function problems(source: string): string[] {
  try {
    parseConfig(source, "list.json");
    return [];
  } catch (err) {
    if (err instanceof ConfigValidationError || err instanceof ConfigSyntaxError)
      return err.message.split("\n");
    throw err;
  }
}

describe("address-like fields are what they claim to be", () => {
  it("refuses the curl-argument injection through proxy.listen, quoting the host and naming the field", () => {
    const p = problems(list({ listen: "127.0.0.1 -K /tmp/x.curlrc -o /tmp/y:8888" }));
    expect(p).toHaveLength(1);
    expect(p[0]).toMatch(
      /^list\.json: proxy\.listen: "127\.0\.0\.1 -K \/tmp\/x\.curlrc -o \/tmp\/y" is not an IP address or DNS name/,
    );
  });

  it.each([
    ["-oProxyCommand=x:8888", /is not an IP address or DNS name/],
    ["$(id):8888", /is not an IP address or DNS name/],
    ["%41:8888", /is not an IP address or DNS name/],
    ["localhost :8888", /is not an IP address or DNS name/],
    ["[127.0.0.1]:8888", /not an IPv6 address/],
    ["::1:8888", /IPv6 addresses go in brackets/],
    ["127.0.0.1:0", /not 1–65535/],
    ["127.0.0.1:99999", /not 1–65535/],
    ["127.0.0.1", /expected HOST:PORT/],
  ])("refuses proxy.listen %j", (listen, message) => {
    const p = problems(list({ listen }));
    expect(p.join("\n")).toMatch(/proxy\.listen: /);
    expect(p.join("\n")).toMatch(message);
  });

  it.each(["127.0.0.1:8888", "[::1]:8888", "proxy.internal:8888", "0.0.0.0:9999"])(
    "accepts proxy.listen %j",
    (listen) => {
      expect(problems(list({ listen }))).toEqual([]);
    },
  );

  it.each([
    ["host", { host: "-oProxyCommand=x" }, "targets[0].host"],
    ["host", { host: "a b" }, "targets[0].host"],
    ["jump host", { jump: "$(id)" }, "targets[0].ssh.jump.host"],
    ["remote address", { remoteAddress: "127.0.0.1 -p 1" }, "targets[0].ssh.remoteAddress"],
    ["TLS server name", { serverName: "a b" }, "targets[0].exporters[0].tls.serverName"],
    ["allow pattern", { allow: "-x:9100" }, "proxy.allow[0]"],
    ["allow pattern", { allow: "$h*:9100" }, "proxy.allow[0]"],
  ] as const)("refuses a %s that is not an address (%j)", (_what, o, path) => {
    expect(problems(list(o)).join("\n")).toContain(`list.json: ${path}: `);
  });
});

describe("invisible format characters", () => {
  it.each([
    [0x202e, "RIGHT-TO-LEFT OVERRIDE"],
    [0x2066, "LEFT-TO-RIGHT ISOLATE"],
    [0xfeff, "ZERO WIDTH NO-BREAK SPACE (BOM)"],
    [0x200b, "ZERO WIDTH SPACE"],
    [0x00ad, "SOFT HYPHEN"],
    [0x2028, "LINE SEPARATOR"],
    [0xe0001, undefined],
  ])("refuses U+%s in a label value, naming the path and the code point", (cp, name) => {
    const hex = cp.toString(16).toUpperCase().padStart(4, "0");
    const p = problems(list({ label: `db${String.fromCodePoint(cp)}x` }));
    expect(p).toHaveLength(1);
    expect(p[0]).toContain("list.json: targets[0].labels.role: ");
    expect(p[0]).toContain(`U+${hex}${name ? ` (${name})` : ""} at character 3`);
  });

  it("refuses C1 control characters like C0 ones", () => {
    expect(problems(list({ label: "a\u0085b" })).join()).toMatch(/control characters/);
  });

  it("accepts ordinary non-ASCII text", () => {
    expect(problems(list({ label: "Zürich – Rechenzentrum 東京" }))).toEqual([]);
  });
});

describe("YAML resource limits", () => {
  const dir = mkdtempSync(join(tmpdir(), "sshscrape-yaml-"));
  const bomb = join(dir, "bomb.yaml");
  const levels = "abcdefg".split("");
  writeFileSync(
    bomb,
    `${levels
      .map((l, i) =>
        i === 0
          ? `${l}: &${l} [${Array(10).fill('"x"').join(",")}]`
          : `${l}: &${l} [${Array(10)
              .fill(`*${levels[i - 1]}`)
              .join(",")}]`,
      )
      .join("\n")}\ntargets: *g\n`,
  );

  it("reports an alias bomb as a problem of the file, not a crash", () => {
    const p = problems(readFileSync(bomb, "utf8"));
    expect(p[0]).toMatch(/^list\.json: YAML aliases expand to too many nodes/);
  });

  it.each([
    ["generate", [bomb]],
    ["proxy --config", ["--config", bomb]],
  ])("%s exits 2 with one line naming the file", (cmd, args) => {
    const r = spawnSync(process.execPath, [BIN, ...cmd.split(" ").slice(0, 1), ...args], {
      encoding: "utf8",
      timeout: 30_000,
    });
    expect(r.status).toBe(2);
    expect(r.stderr.trim().split("\n")).toHaveLength(1);
    expect(r.stderr).toContain(bomb);
    expect(r.stderr).toMatch(/aliases expand to too many nodes/);
    expect(r.stderr).not.toMatch(/ReferenceError|at .*\.js:\d+/);
  });
});
