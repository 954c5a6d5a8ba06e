import { execFile } from "node:child_process";
import { chmodSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { waitFor } from "./processes.js";
import { type Sshd, startSshd } from "./sshd.js";

// The test sshd claims StrictModes yes (as on a NixOS target) when run as root: show that sshd really checks,
// so tests passing against it prove our files would pass the real check too.
describe.skipIf(process.getuid?.() !== 0)("test sshd runs with StrictModes yes", () => {
  let sshd: Sshd;
  let kh: string;
  beforeAll(async () => {
    sshd = await startSshd();
    kh = join(sshd.dir, "known_hosts_strict");
    writeFileSync(kh, `${sshd.knownHostsLine()}\n`);
  });
  afterAll(async () => sshd?.stop());

  /** Exit status of an OpenSSH client login (async, so sshd's log keeps being read meanwhile). */
  const login = () =>
    new Promise<number>((resolve) => {
      const c = execFile("ssh", [
        "-i",
        sshd.clientKeyPath,
        "-p",
        String(sshd.port),
        "-o",
        `UserKnownHostsFile=${kh}`,
        "-o",
        "StrictHostKeyChecking=yes",
        "-o",
        "BatchMode=yes",
        `${sshd.user}@127.0.0.1`,
        "true",
      ]);
      c.once("exit", (code) => resolve(code ?? -1));
    });

  it("refuses a group/world-writable authorized_keys, and accepts it again at 0644", async () => {
    expect(sshd.strictModes).toBe(true);
    const file = join(sshd.dir, "authorized_keys");
    chmodSync(file, 0o666);
    expect(await login()).not.toBe(0);
    await waitFor("sshd's StrictModes complaint", () =>
      /bad ownership or modes for file/.test(sshd.output()),
    );
    chmodSync(file, 0o644);
    expect(await login()).toBe(0);
  });
});
