/** From a target list (or sshified's flags) to the proxy's runtime: key resolution, overrides, allowlist. */
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { parseConfig } from "../../src/config/index.js";
import { runtimeFromArgs } from "../../src/proxy/cli-args.js";
import { Deadline } from "../../src/proxy/deadline.js";
import { endToEndHeaders } from "../../src/proxy/hop-by-hop.js";
import { routeFor, settingsFromConfig } from "../../src/proxy/settings.js";

const YAML = `
proxy: { timeout: 20s, maxHandshakes: 4, allow: ["*.lab:9100"] }
ssh: { user: prom, port: 2222, key: { sops: { file: s.yaml } } }
targets:
  - host: Web1.Example.org.
    hostKeys: ["ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIMV42ru7pAPG4LGIcTr1e3MWaPG3y01Zr/fZgCRXpw2d"]
    exporters: [{ name: node, port: 9100 }, { name: app, port: 8080 }]
  - host: db1
    ssh:
      user: dbmon
      port: 22
      key: { path: /keys/db }
      remoteAddress: "::1"
      jump: { host: bastion.example.org }
    exporters: [{ name: node, port: 9100 }]
`;

describe("settingsFromConfig", () => {
  const loaded = parseConfig(YAML, "targets.yaml");

  it("resolves keys: $CREDENTIALS_DIRECTORY/ssh-key when present, else the secret's runtime path", () => {
    const plain = settingsFromConfig(loaded, {});
    expect(plain.defaults.keyFile).toBe("/run/secrets/sshscrape-ssh-key");
    const creds = mkdtempSync(join(tmpdir(), "sshscrape-creds-"));
    writeFileSync(join(creds, "ssh-key"), "x");
    const viaCreds = settingsFromConfig(loaded, { CREDENTIALS_DIRECTORY: creds });
    expect(viaCreds.defaults.keyFile).toBe(join(creds, "ssh-key"));
    // An explicit --key-file beats both.
    const explicit = runtimeFromArgs({ config: "targets.yaml", keyFile: "/etc/k" }, () => loaded, {
      CREDENTIALS_DIRECTORY: creds,
    });
    expect(explicit.defaults.keyFile).toBe("/etc/k");
    // …but not a per-target key.
    expect(routeFor(explicit, "db1").ssh.keyFile).toBe("/keys/db");
  });

  it("canonicalises hosts, applies per-target overrides and builds the exact allowlist", () => {
    const rt = settingsFromConfig(loaded, {});
    expect(rt.allow.exact).toEqual([
      { host: "web1.example.org", port: 9100 },
      { host: "web1.example.org", port: 8080 },
      { host: "db1", port: 9100 },
    ]);
    expect(rt.allow.patterns).toEqual(["*.lab:9100"]);
    expect(routeFor(rt, "web1.example.org")).toEqual({
      ssh: {
        user: "prom",
        host: "web1.example.org",
        port: 2222,
        keyFile: rt.defaults.keyFile,
        jump: undefined,
      },
      remoteAddress: "127.0.0.1",
    });
    expect(routeFor(rt, "db1")).toEqual({
      ssh: {
        user: "dbmon",
        host: "db1",
        port: 22,
        keyFile: "/keys/db",
        jump: { user: "dbmon", host: "bastion.example.org", port: 22, keyFile: "/keys/db" },
      },
      remoteAddress: "::1",
    });
    expect(rt.extraKnownHosts).toEqual([
      "[web1.example.org]:2222 ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIMV42ru7pAPG4LGIcTr1e3MWaPG3y01Zr/fZgCRXpw2d",
    ]);
    expect(rt.timeouts.request).toBe(20_000);
    expect(rt.maxHandshakes).toBe(4);
  });

  it("sshified mode: one user/port/key, allowlist = known_hosts, --timeout in seconds or as a duration", () => {
    const rt = runtimeFromArgs(
      { keyFile: "/k", user: "prometheus", port: 2200, timeout: "7", listen: "localhost:8888" },
      () => {
        throw new Error("no config in sshified mode");
      },
      {},
    );
    expect(rt.mode).toBe("sshified");
    expect(rt.allow.anyKnownHost).toBe(true);
    expect(routeFor(rt, "anything").ssh).toMatchObject({ user: "prometheus", port: 2200, keyFile: "/k" });
    expect(rt.timeouts.request).toBe(7000);
    expect(runtimeFromArgs({ keyFile: "/k", timeout: "1m30s" }, () => loaded, {}).timeouts.request).toBe(
      90_000,
    );
    expect(() => runtimeFromArgs({ keyFile: "/k", timeout: "soon" }, () => loaded, {})).toThrow(/--timeout/);
  });
});

describe("deadlines and hop-by-hop headers", () => {
  it("takes min(scrape timeout − margin, maximum)", () => {
    expect(Deadline.forRequest("10", 500, 30_000).budgetMs).toBe(9_500);
    expect(Deadline.forRequest("120", 500, 30_000).budgetMs).toBe(30_000);
    expect(Deadline.forRequest(undefined, 500, 30_000).budgetMs).toBe(30_000);
    expect(Deadline.forRequest("garbage", 500, 30_000).budgetMs).toBe(30_000);
  });

  it("drops RFC 9110 §7.6.1 hop-by-hop headers and those named in Connection, keeping order and case", () => {
    const raw = [
      "Host",
      "a:1",
      "Connection",
      "keep-alive, X-Hop",
      "X-Hop",
      "1",
      "Keep-Alive",
      "timeout=5",
      "TE",
      "trailers",
      "Transfer-Encoding",
      "chunked",
      "Proxy-Authorization",
      "Basic x",
      "Upgrade",
      "h2c",
      "Accept-Encoding",
      "gzip",
    ];
    expect(endToEndHeaders(raw)).toEqual(["Host", "a:1", "Accept-Encoding", "gzip"]);
  });
});
