/** An exporter's extraMethods (docs/security.md, "Request framing") reaches the generated module values. */
import { execFileSync } from "node:child_process";
import { mkdtempSync, readFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { beforeAll, describe, expect, it } from "vitest";
import { parseConfig } from "../../src/config/index.js";
import { monitoringValues } from "../../src/generate/nixos.js";

let hostKey: string;
beforeAll(() => {
  const dir = mkdtempSync(join(tmpdir(), "sshscrape-methods-"));
  execFileSync("ssh-keygen", ["-q", "-t", "ed25519", "-N", "", "-C", "", "-f", join(dir, "k")]);
  hostKey = readFileSync(join(dir, "k.pub"), "utf8").trim();
});

const list = (extra: object) =>
  JSON.stringify({
    ssh: { key: { path: "/var/lib/sshscrape/id_ed25519" } },
    targets: [
      {
        host: "push.example.org",
        hostKeys: [hostKey],
        exporters: [
          { name: "node", port: 9100 },
          { name: "push", port: 9091, ...extra },
        ],
      },
    ],
  });

function exporters(extra: object): Record<string, Record<string, unknown>> {
  const values = monitoringValues(parseConfig(list(extra), "list.json"), {
    source: "list.json",
    version: "test",
    base: "/tmp",
    ownPackage: false,
  });
  const targets = values.sshscrape.targets as Record<
    string,
    { exporters: Record<string, Record<string, unknown>> }
  >;
  return (Object.values(targets)[0] as { exporters: Record<string, Record<string, unknown>> }).exporters;
}

describe("generate: extraMethods", () => {
  it("passes the list's extraMethods to services.sshscrape.targets.<name>.exporters.<name>", () => {
    expect(exporters({ extraMethods: ["POST"] }).push?.extraMethods).toEqual(["POST"]);
  });

  it("writes nothing when the exporter has none (GET and HEAD only)", () => {
    const e = exporters({});
    expect(e.push).not.toHaveProperty("extraMethods");
    expect(e.node).not.toHaveProperty("extraMethods");
  });
});
