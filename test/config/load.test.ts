import { execFileSync } from "node:child_process";
import { mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { beforeAll, describe, expect, it } from "vitest";
import {
  ConfigSyntaxError,
  ConfigValidationError,
  loadConfig,
  parseConfig,
  parseDuration,
} from "../../src/config/index.js";

let hostKey: string;
beforeAll(() => {
  const dir = mkdtempSync(join(tmpdir(), "sshscrape-cfg-"));
  execFileSync("ssh-keygen", ["-q", "-t", "ed25519", "-N", "", "-C", "", "-f", join(dir, "k")]);
  hostKey = readFileSync(join(dir, "k.pub"), "utf8").trim();
});

const valid = () => `
ssh:
  key: { path: /var/lib/sshscrape/id_ed25519 }
targets:
  - host: db1.example.org
    hostKeys: ["${hostKey}"]
    exporters:
      - { name: node, port: 9100 }
      - { name: postgres, port: 9187, scheme: https, labels: { role: db } }
  - host: "2001:db8::1"
    exporters: [{ name: node, port: 9100 }]
`;

function problemsOf(source: string, file = "list.yaml"): string[] {
  try {
    parseConfig(source, file);
  } catch (err) {
    if (err instanceof ConfigValidationError || err instanceof ConfigSyntaxError)
      return err.message.split("\n");
    throw err;
  }
  throw new Error("expected the list to be rejected");
}

describe("target list", () => {
  it("fills defaults a user would expect", () => {
    const { config } = parseConfig(valid(), "list.yaml");
    expect(config.proxy.listen).toBe("127.0.0.1:8888");
    expect(config.ssh.user).toBe("sshscrape");
    expect(config.ssh.port).toBe(22);
    expect(config.ssh.remoteAddress).toBe("127.0.0.1");
    expect(config.targets[0]?.exporters[0]).toMatchObject({ scheme: "http", metricsPath: "/metrics" });
    expect(config.targets[0]?.exporters[1]?.scheme).toBe("https");
  });

  it("reads JSON the same as YAML", () => {
    const dir = mkdtempSync(join(tmpdir(), "sshscrape-cfg-"));
    // valid() written by hand as JSON (not the loader's own output read back), defaults left out as in YAML.
    const json = {
      ssh: { key: { path: "/var/lib/sshscrape/id_ed25519" } },
      targets: [
        {
          host: "db1.example.org",
          hostKeys: [hostKey],
          exporters: [
            { name: "node", port: 9100 },
            { name: "postgres", port: 9187, scheme: "https", labels: { role: "db" } },
          ],
        },
        { host: "2001:db8::1", exporters: [{ name: "node", port: 9100 }] },
      ],
    };
    writeFileSync(join(dir, "list.json"), JSON.stringify(json, null, 2));
    writeFileSync(join(dir, "list.yaml"), valid());
    const fromJson = loadConfig(join(dir, "list.json")).config;
    expect(fromJson).toEqual(loadConfig(join(dir, "list.yaml")).config);
    expect(fromJson.targets[0]?.exporters[1]).toMatchObject({ name: "postgres", scheme: "https" });
    expect(fromJson.proxy.listen).toBe("127.0.0.1:8888");
  });

  it("reports every problem at once, one line each, naming file and path", () => {
    const lines = problemsOf(
      `ssh:\n  key: { path: relative }\n  prt: 22\ntargets:\n  - host: "bad host"\n    exporters:\n      - { name: node, port: 70000 }\n      - { name: n2, port: 9100, scheme: ftp }\n`,
    );
    expect(lines).toContain("list.yaml: targets[0].exporters[0].port: expected 1–65535 (line 7:29)");
    expect(lines.some((l) => l.startsWith("list.yaml: ssh.key.path: expected an absolute path"))).toBe(true);
    expect(
      lines.some((l) => l.startsWith('list.yaml: ssh.prt: unknown key "prt"; did you mean "port"?')),
    ).toBe(true);
    expect(lines.some((l) => l.startsWith("list.yaml: targets[0].host: expected a DNS name"))).toBe(true);
    expect(
      lines.some((l) =>
        l.startsWith('list.yaml: targets[0].exporters[1].scheme: expected "http" or "https"'),
      ),
    ).toBe(true);
  });

  it("rejects control characters, empty strings, bad keys and duplicate host:port", () => {
    const lines = problemsOf(`
ssh: { key: { path: /k } }
targets:
  - host: "a\\nb"
    hostKeys: ["ssh-ed25519 AAAAbad"]
    labels: { env: "" }
    exporters: [{ name: node, port: 9100 }]
  - host: db1
    exporters: [{ name: node, port: 9100 }, { name: other, port: 9100 }]
`);
    expect(lines.some((l) => l.includes("targets[0].host: must not contain control characters"))).toBe(true);
    expect(lines.some((l) => l.includes("targets[0].hostKeys[0]: not an OpenSSH public key"))).toBe(true);
    expect(lines.some((l) => l.includes("targets[0].labels.env: must not be empty"))).toBe(true);
    expect(
      lines.some((l) =>
        l.includes(
          "targets[1].exporters[1].port: duplicate db1:9100: already used by targets[1].exporters[0]",
        ),
      ),
    ).toBe(true);
  });

  it("gives YAML syntax errors with line:column", () => {
    const lines = problemsOf("ssh:\n  key: { path: /k\ntargets: [", "bad.yaml");
    expect(lines[0]).toMatch(/^bad\.yaml:\d+:\d+: YAML syntax error: /);
  });

  it("names the file when it cannot be read", () => {
    expect(() => loadConfig("/nonexistent/list.yaml")).toThrow(
      /\/nonexistent\/list\.yaml: cannot read target list: ENOENT/,
    );
  });
});

describe("durations", () => {
  it("parses Prometheus durations", () => {
    expect(parseDuration("1m30s")).toBe(90_000);
    expect(parseDuration("500ms")).toBe(500);
    expect(() => parseDuration("10")).toThrow(/not a duration/);
  });
});
