/**
 * skipHostKeysProof (src/proxy/ssh2-internals.ts) against the installed ssh2 and a real OpenSSH sshd with the
 * three host key types Debian's sshd has: sshd announces its host keys after authentication; with the skip,
 * ssh2 sends no `hostkeys-prove-00@openssh.com` (without it, it does: the control case), emits no 'hostkeys',
 * and still answers sshd's other global requests (`ClientAliveInterval 1` / `ClientAliveCountMax 1`: sshd
 * drops a client that leaves its `keepalive@openssh.com` unanswered for ~2 s).
 */
import type { Client } from "ssh2";
import { afterAll, beforeAll, expect, it } from "vitest";
import { HOSTKEYS_REQUEST, skipHostKeysProof } from "../../src/proxy/ssh2-internals.js";
import { type Exporter, startExporter } from "../helpers/exporter.js";
import { waitFor } from "../helpers/processes.js";
import { connectSsh2, forwardOut } from "../helpers/ssh2-client.js";
import { type Sshd, startSshd } from "../helpers/sshd.js";

let sshd: Sshd;
let exporter: Exporter;

beforeAll(async () => {
  exporter = await startExporter({ body: "up 1\n" });
  sshd = await startSshd({
    permitOpen: [exporter.port],
    stockHostKeys: true,
    extraConfig: ["ClientAliveInterval 1", "ClientAliveCountMax 1"],
  });
}, 60_000);

afterAll(async () => {
  await exporter?.close();
  await sshd?.stop();
});

/** A client logged in to the test sshd with ssh2's debug log; `skip` applies skipHostKeysProof at connect. */
async function login(
  skip: boolean,
): Promise<{ client: Client; log: string[]; events: unknown[]; applied: boolean }> {
  const log: string[] = [];
  const events: unknown[] = [];
  let applied = false;
  const client = await connectSsh2(sshd, { debug: (msg) => log.push(msg) }, (c) => {
    c.on("hostkeys", (keys) => events.push(keys));
    if (skip) applied = skipHostKeysProof(c);
  });
  return { client, log, events, applied };
}

const announced = (log: string[]) => log.some((m) => m.includes(`GLOBAL_REQUEST (${HOSTKEYS_REQUEST})`));
const proofAsked = (log: string[]) => log.some((m) => m.includes("hostkeys-prove-00@openssh.com"));

it("without the skip, ssh2 asks sshd to prove the host keys it announced (the control)", async () => {
  const { client, log, events } = await login(false);
  try {
    await waitFor(
      "the proof and the hostkeys event",
      () => announced(log) && proofAsked(log) && events.length > 0,
    );
    expect((events[0] as unknown[]).length).toBe(3);
  } finally {
    client.end();
  }
});

it("with it, ssh2 asks nothing, emits nothing, and keeps answering sshd's keepalives", async () => {
  const { client, log, events, applied } = await login(true);
  try {
    expect(applied).toBe(true);
    await waitFor("sshd's host key announcement", () => announced(log));
    // sshd would drop a client that left its keepalive unanswered 2 s; this one still forwards afterwards.
    await new Promise((r) => setTimeout(r, 3_000));
    expect(log.filter((m) => m.includes("keepalive@openssh.com")).length).toBeGreaterThan(0);
    const ch = await forwardOut(client, exporter.port);
    ch.end("GET /metrics HTTP/1.0\r\n\r\n");
    const reply = await new Promise<string>((resolve) => {
      let s = "";
      ch.on("data", (d: Buffer) => {
        s += d.toString();
      });
      ch.on("close", () => resolve(s));
    });
    expect(reply).toMatch(/^HTTP\/1\.[01] 200/);
    expect(reply).toContain("up 1");
    expect(proofAsked(log)).toBe(false);
    expect(events).toEqual([]);
  } finally {
    client.end();
  }
}, 20_000);
