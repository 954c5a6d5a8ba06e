/**
 * batchPacketPadding (src/proxy/ssh2-internals.ts) against the installed ssh2 and a real OpenSSH sshd: for
 * each kind of cipher ssh2 has (AES-GCM, ChaCha20-Poly1305, CTR with an encrypt-then-MAC or a plain MAC) it
 * recognises ssh2's packet layout, builds the same packets (lengths, padding length, MAC room) with random
 * padding, and the connection keeps working through sshd's re-keys (RekeyLimit 1K: several per response), each
 * new cipher getting the same treatment. If ssh2 changes the cipher's shape, the "applied" checks fail.
 */
import type { Client } from "ssh2";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { batchPacketPadding, fillRandom } from "../../src/proxy/ssh2-internals.js";
import { type Exporter, metricsBody, startExporter } from "../helpers/exporter.js";
import { connectSsh2, forwardOut } from "../helpers/ssh2-client.js";
import { type Sshd, startSshd } from "../helpers/sshd.js";

interface Cipher {
  allocPacket: (n: number) => Buffer;
}
const cipherOf = (client: Client) =>
  (client as unknown as { _protocol: { _cipher: Cipher } })._protocol._cipher;

let sshd: Sshd;
let exporter: Exporter;
const body = metricsBody(50_000);

beforeAll(async () => {
  exporter = await startExporter({ body });
  sshd = await startSshd({ permitOpen: [exporter.port], extraConfig: ["RekeyLimit 1K"] });
});

afterAll(async () => {
  await exporter?.close();
  await sshd?.stop();
});

async function scrape(client: Client): Promise<Buffer> {
  const ch = await forwardOut(client, exporter.port);
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    ch.on("data", (c: Buffer) => chunks.push(c))
      .on("error", reject)
      .on("close", () => resolve(Buffer.concat(chunks)));
    ch.end("GET /metrics HTTP/1.0\r\nHost: x\r\n\r\n");
  });
}

/** The cipher names, and the class of ssh2's (with its native binding, as `npm ci` builds it) each gets. */
const CIPHERS: Array<[string, { cipher: string[]; hmac?: string[] }, RegExp]> = [
  ["aes128-gcm", { cipher: ["aes128-gcm@openssh.com"] }, /^AESGCMCipher/],
  ["chacha20-poly1305", { cipher: ["chacha20-poly1305@openssh.com"] }, /^ChaChaPolyCipher/],
  [
    "aes128-ctr + hmac-sha2-256-etm",
    { cipher: ["aes128-ctr"], hmac: ["hmac-sha2-256-etm@openssh.com"] },
    /^GenericCipher/,
  ],
  ["aes256-ctr + hmac-sha2-512", { cipher: ["aes256-ctr"], hmac: ["hmac-sha2-512"] }, /^GenericCipher/],
];

describe.each(CIPHERS)("%s", (_name, algorithms, cipherClass) => {
  it("builds ssh2's packets with random padding, and keeps doing so across re-keys", async () => {
    const client = await connectSsh2(sshd, {
      algorithms: algorithms as NonNullable<Parameters<Client["connect"]>[0]["algorithms"]>,
    });
    try {
      const cipher = cipherOf(client);
      expect(cipher.constructor.name).toMatch(cipherClass);
      const theirs = Object.getPrototypeOf(cipher).allocPacket as Cipher["allocPacket"];
      expect(batchPacketPadding(client)).toBe(true);
      expect(Object.hasOwn(cipher, "allocPacket")).toBe(true);
      // Same layout as ssh2's own for every payload size a channel sends (up to its 32 KB packets).
      const sizes = [...Array.from({ length: 300 }, (_, i) => i), 1000, 4095, 32_768 + 9];
      for (const n of sizes) {
        const ref = theirs.call(cipher, n);
        const ours = cipher.allocPacket(n);
        expect([ours.length, ours.readUInt32BE(0), ours[4]]).toEqual([
          ref.length,
          ref.readUInt32BE(0),
          ref[4],
        ]);
        expect(ours[4]).toBeGreaterThanOrEqual(4);
      }
      // Random padding: over many packets, the padding bytes cover all byte values about evenly and two
      // packets' paddings are never the same bytes.
      const counts = new Array<number>(256).fill(0);
      const seen = new Set<string>();
      let total = 0;
      for (let i = 0; i < 4000; i++) {
        const n = i % 40;
        const p = cipher.allocPacket(n);
        const pad = p.subarray(5 + n, 5 + n + (p[4] as number));
        seen.add(pad.toString("hex"));
        for (const b of pad) counts[b] = (counts[b] as number) + 1;
        total += pad.length;
      }
      expect(seen.size).toBe(4000);
      const expected = total / 256;
      const chi2 = counts.reduce((a, c) => a + (c - expected) ** 2 / expected, 0);
      // 255 degrees of freedom: mean 255, this bound is ~10 standard deviations out.
      expect(chi2).toBeLessThan(255 + 10 * Math.sqrt(2 * 255));

      // The connection works with these packets (sshd checks every MAC), through several re-keys.
      for (let i = 0; i < 3; i++)
        expect((await scrape(client)).subarray(-body.length).equals(body)).toBe(true);
      const after = cipherOf(client);
      expect(after).not.toBe(cipher);
      expect(Object.hasOwn(after, "allocPacket")).toBe(true);
      expect(batchPacketPadding(client)).toBe(false);
    } finally {
      client.end();
    }
  });
});

it("fillRandom never hands out the same bytes twice, across refills of its block", () => {
  const out = Buffer.alloc(64 * 1024);
  for (let off = 0; off < out.length; off += 19) fillRandom(out, off, Math.min(19, out.length - off));
  const chunks = new Set<string>();
  for (let off = 0; off + 16 <= out.length; off += 16)
    chunks.add(out.subarray(off, off + 16).toString("hex"));
  expect(chunks.size).toBe(out.length / 16);
});
