/**
 * The unit's wait for /readyz (ExecStartPost) lasts as long as the proxy may take to declare itself ready
 * for that many targets (src/proxy/readiness.ts readyLimitMs), and systemd's start timeout covers the wait:
 * otherwise a large fleet's Prometheus starts into a queue of handshakes (docs/benchmarks-scale.md), or
 * systemd kills a proxy that is still connecting. nix/module.nix is evaluated under the NixOS-typed stubs as
 * in module.test.ts; systemd's own reading of TimeoutStartSec is checked there by `systemd-analyze verify`.
 */
import { chmodSync, mkdirSync, mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { beforeAll, expect, it } from "vitest";
import { readyLimitMs } from "../../src/proxy/readiness.js";
import { nixEvalJson, nixString, nixValue, repoRoot } from "./nix.js";
import { execArgv, type ServiceValue } from "./unit.js";

let pkgDir: string;
beforeAll(() => {
  pkgDir = join(mkdtempSync(join(tmpdir(), "sshscrape-ready-wait-")), "pkg");
  mkdirSync(join(pkgDir, "bin"), { recursive: true });
  writeFileSync(join(pkgDir, "bin/sshscrape"), `#!/bin/sh\nexec node ${repoRoot}/bin/run.js "$@"\n`);
  chmodSync(join(pkgDir, "bin/sshscrape"), 0o755);
});

function unitFor(targets: number): ServiceValue {
  const sshscrape = {
    enable: true,
    checkConfig: false,
    ssh: { keyFile: "/run/secrets/sshscrape-ssh-key" },
  };
  // Made in Nix: 2 000 targets spelled out would not fit on nix-instantiate's command line.
  const targetsModule = `{ services.sshscrape.targets = builtins.listToAttrs (builtins.genList (i: {
    name = "host\${toString i}.example.org"; value.exporters.node.port = 9100; }) ${targets}); }`;
  const modules = [
    `{ services.sshscrape.package = { type = "derivation"; name = "sshscrape"; outPath = ${nixString(pkgDir)}; meta.mainProgram = "sshscrape"; }; }`,
    `{ services.sshscrape = ${nixValue(sshscrape)}; }`,
    targetsModule,
  ];
  const ev = nixEvalJson<{ services: Record<string, ServiceValue> }>(
    `import ${repoRoot}/test/nix/eval-nixos.nix { sshscrapeModules = true; modules = [ ${modules.join("\n")} ]; }`,
  );
  return ev.services.sshscrape as ServiceValue;
}

function seconds(value: string): number {
  const m = /^(\d+)s$/.exec(value);
  if (!m) throw new Error(`TimeoutStartSec: expected N s, got ${value}`);
  return Number(m[1]);
}

it.each([1, 400, 2000])(
  "waits for /readyz as long as the proxy may take with %i targets, within TimeoutStartSec",
  (n) => {
    const unit = unitFor(n);
    const argv = execArgv(String(unit.serviceConfig.ExecStartPost).replace(/^-/, ""));
    const opt = (name: string) => Number(argv[argv.indexOf(name) + 1]);
    const limitS = readyLimitMs(n) / 1000;
    // curl keeps asking (once a second) until the proxy's own limit has passed…
    expect(opt("--retry-max-time")).toBeGreaterThan(limitS);
    expect(opt("--retry") * opt("--retry-delay")).toBeGreaterThan(limitS);
    // …and its last attempt (--max-time) ends before systemd's start timeout.
    const timeout = seconds(String(unit.serviceConfig.TimeoutStartSec));
    expect(opt("--retry-max-time") + opt("--max-time")).toBeLessThan(timeout);
  },
);
