/**
 * proxy.noDelaySession against real OpenSSH: with it, the proxy opens one session on each SSH connection
 * right after login (sshd sets TCP_NODELAY on a connection when it starts a session's command, and the tail of
 * every response then leaves sshd without waiting for this side's ACK: docs/benchmarks.md, "Latency at c=1");
 * without it, no session is ever opened. The sshd here has the generator's restricted key line and a
 * ForceCommand, as the NixOS target module sets up (there `…/bin/false`; here a command that leaves a mark,
 * so the test can see that a session ran). What this cannot show is TCP_NODELAY itself (no socket option is
 * visible from outside sshd): strace and the latency it saves are in docs/benchmarks.md.
 */
import { existsSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { type RunningProxy, startProxy } from "../../src/proxy/index.js";
import { type Exporter, startExporter } from "../helpers/exporter.js";
import { waitFor } from "../helpers/processes.js";
import { memoryLogger, runtimeFor, viaProxy } from "../helpers/proxy.js";
import { type Sshd, startSshd } from "../helpers/sshd.js";

let sshd: Sshd | undefined;
let exporter: Exporter | undefined;
let proxy: RunningProxy | undefined;
let markDir: string | undefined;

afterEach(async () => {
  await proxy?.close(100);
  await exporter?.close();
  await sshd?.stop();
  if (markDir) rmSync(markDir, { recursive: true, force: true });
  proxy = undefined;
  exporter = undefined;
  sshd = undefined;
});

async function setUp(noDelaySession: boolean | undefined) {
  exporter = await startExporter();
  const ex = exporter;
  markDir = mkdtempSync(join(tmpdir(), "sshscrape-nodelay-"));
  const mark = join(markDir, "session-ran");
  sshd = await startSshd({ permitOpen: [ex.port], extraConfig: [`ForceCommand touch ${mark}`] });
  const log = memoryLogger("info");
  proxy = await startProxy(
    runtimeFor(sshd, { exact: [{ host: "127.0.0.1", port: ex.port }], overrides: { noDelaySession } }),
    { logger: log.logger },
  );
  const scrape = await viaProxy(proxy.url, ex.url);
  return { mark, scrape, log };
}

describe("proxy.noDelaySession", () => {
  it("opens a session on the SSH connection, which runs the target's ForceCommand, and scrapes as before", async () => {
    const { mark, scrape, log } = await setUp(true);
    expect(scrape.status).toBe(200);
    expect(scrape.body.toString()).toBe(exporter?.body.toString());
    await waitFor("the session's command to run on the target", () => existsSync(mark));
    expect(log.records.filter((r) => String(r.msg).includes("no session for TCP_NODELAY"))).toEqual([]);
  });

  it("opens no session by default", async () => {
    const { mark, scrape } = await setUp(undefined);
    expect(scrape.status).toBe(200);
    // A second scrape over the same connection: anything the login started has long been answered by then.
    expect((await viaProxy(proxy?.url as string, exporter?.url as string)).status).toBe(200);
    expect(existsSync(mark)).toBe(false);
  });
});
