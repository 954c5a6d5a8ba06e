import { execFileSync } from "node:child_process";
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type Sshd, startSshd } from "./sshd.js";

// The helpers every integration test builds on: if these break, say so here first.
describe("test sshd helper", () => {
  let sshd: Sshd;
  beforeAll(async () => {
    sshd = await startSshd({ addresses: ["127.0.0.1", "127.0.0.2"] });
  });
  afterAll(async () => sshd?.stop());

  it("accepts the client key on a second loopback address (checked with OpenSSH's own client)", async () => {
    const kh = join(sshd.dir, "known_hosts");
    writeFileSync(kh, `${sshd.knownHostsLine()}\n`);
    const out = execFileSync("ssh", [
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
      `${sshd.user}@127.0.0.2`,
      "echo",
      "ok",
    ]).toString();
    expect(out.trim()).toBe("ok");
  });
});
