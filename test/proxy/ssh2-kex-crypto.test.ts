/**
 * src/proxy/ssh2-kex-crypto.ts: the key exchange's raw-key functions against node:crypto's own (same results,
 * same errors, every other call passed through), the ssh2 that the proxy loads using them, and logins to a
 * real OpenSSH sshd with each host key type Debian's sshd has and both kex families, counting which path ran,
 * and a connection through sshd's re-keys (each a new exchange with a fresh pair).
 * Not covered:
 * - a node that refuses the raw-key path (the production flake's node may be newer than this machine's 20): each
 *   call then falls back to node:crypto's own, counted in `fallbacks`, which the logins here require to stay 0;
 *   the fallback itself is not exercised;
 * - other ssh2 versions: one that takes these functions from node:crypto differently gets node:crypto's own
 *   (the substitution lasts only while ssh2-lib.ts loads ssh2); the counts here show it for the installed one.
 */
import { execFileSync, spawnSync } from "node:child_process";
import * as crypto from "node:crypto";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { skipHostKeysProof } from "../../src/proxy/ssh2-internals.js";
import { ed25519FromPem, kexCrypto, kexCryptoUse, x25519Pair } from "../../src/proxy/ssh2-kex-crypto.js";
import { Client, kexCryptoApplied, parseKey } from "../../src/proxy/ssh2-lib.js";

type Algorithms = NonNullable<import("ssh2").ConnectConfig["algorithms"]>;

import { type Exporter, metricsBody, startExporter } from "../helpers/exporter.js";
import { type Sshd, startSshd } from "../helpers/sshd.js";

const spkiDer = (k: crypto.KeyObject) => k.export({ type: "spki", format: "der" });
const jwk = (k: crypto.KeyObject) => k.export({ format: "jwk" });
/** What a call threw (its code and message), or "returned" — to compare two functions' failures. */
const failure = (f: () => unknown) => {
  try {
    f();
    return "returned";
  } catch (err) {
    const e = err as { code?: string; message?: string };
    return `${e.code}: ${e.message}`;
  }
};

describe("x25519Pair", () => {
  it("makes a pair whose public key is the one OpenSSL derives from the private key, and which agrees with node's own pairs", () => {
    const ours = x25519Pair();
    const der = ours.publicKey.export({ type: "spki", format: "der" }) as Buffer;
    expect(der.equals(spkiDer(crypto.createPublicKey(ours.privateKey)))).toBe(true);
    const theirs = crypto.generateKeyPairSync("x25519");
    const a = crypto.diffieHellman({ privateKey: ours.privateKey, publicKey: theirs.publicKey });
    const b = crypto.diffieHellman({
      privateKey: theirs.privateKey,
      publicKey: crypto.createPublicKey({ key: der, type: "spki", format: "der" }),
    });
    expect(a.length).toBe(32);
    expect(a.equals(b)).toBe(true);
    // Other export forms come from node:crypto.
    expect(ours.publicKey.export({ format: "jwk" })).toEqual(jwk(crypto.createPublicKey(ours.privateKey)));
  });

  it("makes a different key every time", () => {
    const keys = new Set(
      Array.from({ length: 50 }, () =>
        (x25519Pair().publicKey.export({ type: "spki", format: "der" }) as Buffer).toString("hex"),
      ),
    );
    expect(keys.size).toBe(50);
  });
});

describe("kexCrypto.generateKeyPairSync", () => {
  it("takes the raw path only for ssh2's call, generateKeyPairSync('x25519')", () => {
    const before = kexCryptoUse.x25519Pairs;
    kexCrypto.generateKeyPairSync("x25519");
    expect(kexCryptoUse.x25519Pairs).toBe(before + 1);
    const ed = kexCrypto.generateKeyPairSync("ed25519");
    expect(ed.publicKey.asymmetricKeyType).toBe("ed25519");
    const pem = kexCrypto.generateKeyPairSync("x25519", {
      publicKeyEncoding: { type: "spki", format: "pem" },
      privateKeyEncoding: { type: "pkcs8", format: "pem" },
    });
    expect(pem.publicKey).toMatch(/^-----BEGIN PUBLIC KEY-----/);
    expect(kexCryptoUse.x25519Pairs).toBe(before + 1);
    expect(failure(() => kexCrypto.generateKeyPairSync("nope" as "x25519"))).toBe(
      failure(() => crypto.generateKeyPairSync("nope" as "x25519")),
    );
  });
});

describe("kexCrypto.createPublicKey", () => {
  const x = crypto.generateKeyPairSync("x25519").publicKey;
  const ed = crypto.generateKeyPairSync("ed25519").publicKey;

  it("reads an X25519 SubjectPublicKeyInfo from its raw bytes, to the same key", () => {
    const before = kexCryptoUse.x25519PeerKeys;
    const got = kexCrypto.createPublicKey({ key: spkiDer(x), type: "spki", format: "der" });
    expect(kexCryptoUse.x25519PeerKeys).toBe(before + 1);
    expect(got.asymmetricKeyType).toBe("x25519");
    expect(jwk(got)).toEqual(jwk(x));
  });

  it("passes every other key and form to node:crypto, failures included", () => {
    const before = kexCryptoUse.x25519PeerKeys;
    for (const input of [
      { key: spkiDer(ed), type: "spki" as const, format: "der" as const },
      { key: x.export({ type: "spki", format: "pem" }) as string },
      x.export({ type: "spki", format: "pem" }) as string,
    ])
      expect(jwk(kexCrypto.createPublicKey(input))).toEqual(jwk(crypto.createPublicKey(input)));
    const truncated = { key: spkiDer(x).subarray(0, 40), type: "spki" as const, format: "der" as const };
    expect(failure(() => kexCrypto.createPublicKey(truncated))).not.toBe("returned");
    expect(failure(() => kexCrypto.createPublicKey(truncated))).toBe(
      failure(() => crypto.createPublicKey(truncated)),
    );
    expect(kexCryptoUse.x25519PeerKeys).toBe(before);
  });
});

describe("kexCrypto.verify", () => {
  const data = crypto.randomBytes(64);
  const tampered = Buffer.from(data);
  tampered[0] = (tampered[0] as number) ^ 1;

  it("checks an Ed25519 signature against a PEM public key from its raw bytes: true, and false when the data differs", () => {
    const { publicKey, privateKey } = crypto.generateKeyPairSync("ed25519");
    const pem = publicKey.export({ type: "spki", format: "pem" }) as string;
    const sig = crypto.sign(null, data, privateKey);
    const before = kexCryptoUse.ed25519Verifies;
    expect(kexCrypto.verify(null, data, pem, sig)).toBe(true);
    expect(kexCrypto.verify(null, tampered, pem, sig)).toBe(false);
    expect(kexCrypto.verify(null, data, pem, Buffer.alloc(64))).toBe(false);
    expect(kexCryptoUse.ed25519Verifies).toBe(before + 3);
    expect(failure(() => kexCrypto.verify(null, data, pem, Buffer.alloc(3)))).toBe(
      failure(() => crypto.verify(null, data, pem, Buffer.alloc(3))),
    );
  });

  it("checks the PEM ssh2 itself makes of an OpenSSH host key", () => {
    const dir = mkdtempSync(join(tmpdir(), "sshscrape-kexcrypto-"));
    try {
      execFileSync("ssh-keygen", ["-q", "-t", "ed25519", "-N", "", "-f", join(dir, "k")]);
      const pub = parseKey(readFileSync(join(dir, "k.pub")));
      const priv = parseKey(readFileSync(join(dir, "k")));
      if (pub instanceof Error || priv instanceof Error) throw new Error("ssh-keygen's key did not parse");
      const pem = pub.getPublicPEM();
      expect(ed25519FromPem(pem)?.length).toBe(32);
      const sig = crypto.sign(null, data, priv.getPrivatePEM());
      // Through ssh2's own ParsedKey.verify, which calls the verify its module was loaded with.
      const before = kexCryptoUse.ed25519Verifies;
      expect(pub.verify(data, sig)).toBe(true);
      expect(pub.verify(tampered, sig)).toBe(false);
      expect(kexCryptoUse.ed25519Verifies).toBe(before + 2);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it("passes other key types, private keys (ssh2's feature probe) and hash names to node:crypto", () => {
    const before = kexCryptoUse.ed25519Verifies;
    const cases: Array<[string | null, crypto.KeyPairKeyObjectResult]> = [
      ["sha256", crypto.generateKeyPairSync("rsa", { modulusLength: 2048 })],
      ["sha256", crypto.generateKeyPairSync("ec", { namedCurve: "P-256" })],
    ];
    for (const [hash, { publicKey, privateKey }] of cases) {
      const pem = publicKey.export({ type: "spki", format: "pem" }) as string;
      const sig = crypto.sign(hash, data, privateKey);
      expect(kexCrypto.verify(hash, data, pem, sig)).toBe(true);
      expect(kexCrypto.verify(hash, tampered, pem, sig)).toBe(crypto.verify(hash, tampered, pem, sig));
    }
    const ed = crypto.generateKeyPairSync("ed25519");
    const privPem = ed.privateKey.export({ type: "pkcs8", format: "pem" }) as string;
    expect(kexCrypto.verify(null, data, privPem, crypto.sign(null, data, ed.privateKey))).toBe(true);
    expect(kexCryptoUse.ed25519Verifies).toBe(before);
    expect(failure(() => kexCrypto.verify(null, data, "not a key", Buffer.alloc(64)))).toBe(
      failure(() => crypto.verify(null, data, "not a key", Buffer.alloc(64))),
    );
  });
});

describe("ed25519FromPem", () => {
  const ed = crypto.generateKeyPairSync("ed25519");
  const edPem = ed.publicKey.export({ type: "spki", format: "pem" }) as string;

  it("returns the 32 key bytes of an Ed25519 public key PEM", () => {
    expect(ed25519FromPem(edPem)?.equals(spkiDer(ed.publicKey).subarray(12))).toBe(true);
  });

  it("returns null for other keys and for text around the block", () => {
    const x = crypto
      .generateKeyPairSync("x25519")
      .publicKey.export({ type: "spki", format: "pem" }) as string;
    expect(ed25519FromPem(x)).toBeNull();
    expect(ed25519FromPem(ed.privateKey.export({ type: "pkcs8", format: "pem" }) as string)).toBeNull();
    expect(ed25519FromPem(`junk\n${edPem}`)).toBeNull();
    expect(ed25519FromPem(`${edPem}junk`)).toBeNull();
    expect(ed25519FromPem("")).toBeNull();
  });
});

/** Runs a module in a fresh node (with tsx, for the sources) and returns its stdout; fails on any other exit. */
function runNode(code: string, nodeArgs: string[] = [], timeoutMs = 60_000): string {
  const r = spawnSync(process.execPath, [...nodeArgs, "--import", "tsx", "--input-type=module", "-e", code], {
    cwd: join(import.meta.dirname, "../.."),
    encoding: "utf8",
    timeout: timeoutMs,
  });
  if (r.error) throw r.error;
  if (r.status !== 0) throw new Error(`node exited ${r.status} (${r.signal}): ${r.stderr}`);
  return r.stdout;
}

describe("loading ssh2 through ssh2-lib.ts", () => {
  it("hands the raw-key functions to ssh2 and puts node:crypto's own back", () => {
    expect(kexCryptoApplied).toBe(true);
    const out = runNode(`
      import { createRequire } from "node:module";
      const c = createRequire(import.meta.url)("node:crypto");
      const before = [c.generateKeyPairSync, c.createPublicKey, c.verify];
      const lib = await import("./src/proxy/ssh2-lib.ts");
      const after = [c.generateKeyPairSync, c.createPublicKey, c.verify];
      console.log(JSON.stringify({ applied: lib.kexCryptoApplied, restored: before.every((f, i) => f === after[i]) }));
    `);
    expect(JSON.parse(out)).toEqual({ applied: true, restored: true });
  });

  it("reports that it could not when ssh2 had been loaded before", () => {
    const out = runNode(`
      import "ssh2";
      const lib = await import("./src/proxy/ssh2-lib.ts");
      console.log(JSON.stringify({ applied: lib.kexCryptoApplied }));
    `);
    expect(JSON.parse(out)).toEqual({ applied: false });
  });

  it("makes and uses 20 000 pairs under GC pressure without stalling (node 20 deadlocked exporting keys as JWK)", () => {
    const out = runNode(
      `
      import { diffieHellman, generateKeyPairSync } from "node:crypto";
      const { kexCrypto } = await import("./src/proxy/ssh2-kex-crypto.ts");
      const peer = generateKeyPairSync("x25519");
      const peerDer = peer.publicKey.export({ type: "spki", format: "der" });
      let junk = [];
      for (let i = 0; i < 20000; i++) {
        const pair = kexCrypto.generateKeyPairSync("x25519");
        const pub = pair.publicKey.export({ type: "spki", format: "der" }).subarray(-32);
        const secret = diffieHellman({ privateKey: pair.privateKey, publicKey: kexCrypto.createPublicKey({ key: peerDer, type: "spki", format: "der" }) });
        junk.push(new Array(100).fill(pub), secret);
        if (junk.length > 200) junk = [];
      }
      console.log("done");
    `,
      ["--max-semi-space-size=1"],
      90_000,
    );
    expect(out.trim()).toBe("done");
  }, 120_000);
});

/**
 * A client of the proxy's ssh2 (ssh2-lib.ts) logged in to `sshd`, accepting only the host key `expectedPub`
 * (`type base64`), and, as the proxy does, not proving the host keys sshd announces after login (their
 * Ed25519 checks would add to the counts at a time of their own).
 */
async function connect(sshd: Sshd, expectedPub: string, algorithms?: Algorithms): Promise<Client> {
  const expected = expectedPub.split(" ")[1];
  const client = new Client();
  await new Promise<void>((resolve, reject) => {
    client.once("ready", resolve).once("error", reject);
    client.connect({
      host: "127.0.0.1",
      port: sshd.port,
      username: sshd.user,
      privateKey: readFileSync(sshd.clientKeyPath),
      ...(algorithms ? { algorithms } : {}),
      hostVerifier: (key: Buffer) => key.toString("base64") === expected,
    });
    expect(skipHostKeysProof(client)).toBe(true);
  });
  return client;
}

/** GET /metrics from 127.0.0.1:port on sshd's side over a direct-tcpip channel: the raw HTTP/1.0 response. */
function getOverChannel(client: Client, port: number): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    client.forwardOut("127.0.0.1", 0, "127.0.0.1", port, (err, ch) => {
      if (err) return reject(err);
      const chunks: Buffer[] = [];
      ch.on("data", (c: Buffer) => chunks.push(c)).on("close", () => resolve(Buffer.concat(chunks)));
      ch.end("GET /metrics HTTP/1.0\r\nHost: x\r\n\r\n");
    });
  });
}

describe("logins to OpenSSH's sshd", () => {
  let sshd: Sshd;
  let exporter: Exporter;
  beforeAll(async () => {
    exporter = await startExporter({ body: "up 1\n" });
    sshd = await startSshd({ permitOpen: [exporter.port], stockHostKeys: true });
  }, 60_000);

  afterAll(async () => {
    await exporter?.close();
    await sshd?.stop();
  });

  /** Logs in with one kex and host key algorithm, checks the host key is the expected one, reads the exporter. */
  async function login(kex: string, serverHostKey: string, expectedPub: string): Promise<string> {
    const client = await connect(sshd, expectedPub, {
      kex: [kex as "curve25519-sha256"],
      serverHostKey: [serverHostKey as "ssh-ed25519"],
    });
    try {
      return (await getOverChannel(client, exporter.port)).toString();
    } finally {
      client.end();
    }
  }

  const cases: Array<[string, string, () => string, Partial<typeof kexCryptoUse>]> = [
    [
      "curve25519-sha256",
      "ssh-ed25519",
      () => sshd.hostKeyPub,
      { x25519Pairs: 1, x25519PeerKeys: 1, ed25519Verifies: 1, fallbacks: 0 },
    ],
    [
      "curve25519-sha256",
      "rsa-sha2-512",
      () => sshd.stockHostKeyPubs?.rsa ?? "",
      { x25519Pairs: 1, x25519PeerKeys: 1, ed25519Verifies: 0, fallbacks: 0 },
    ],
    [
      "curve25519-sha256",
      "ecdsa-sha2-nistp256",
      () => sshd.stockHostKeyPubs?.ecdsa ?? "",
      { x25519Pairs: 1, ed25519Verifies: 0, fallbacks: 0 },
    ],
    [
      "ecdh-sha2-nistp256",
      "ssh-ed25519",
      () => sshd.hostKeyPub,
      { x25519Pairs: 0, x25519PeerKeys: 0, ed25519Verifies: 1, fallbacks: 0 },
    ],
  ];
  for (const [kex, hostKey, pub, used] of cases)
    it(`${kex} with an ${hostKey} host key: logs in, reaches the exporter, raw paths taken ${JSON.stringify(used)}`, async () => {
      const before = { ...kexCryptoUse };
      const got = await login(kex, hostKey, pub());
      expect(got).toMatch(/^HTTP\/1\.[01] 200/);
      expect(got.endsWith("up 1\n")).toBe(true);
      for (const [k, n] of Object.entries(used))
        expect(kexCryptoUse[k as keyof typeof kexCryptoUse] - before[k as keyof typeof kexCryptoUse], k).toBe(
          n,
        );
    });

  it("refuses a host whose key is not the expected one (the check above can fail)", async () => {
    await expect(
      login("curve25519-sha256", "ssh-ed25519", sshd.stockHostKeyPubs?.rsa ?? ""),
    ).rejects.toThrow();
  });
});

describe("re-keying with the raw-key exchange", () => {
  let sshd: Sshd;
  let exporter: Exporter;
  const body = metricsBody(50_000);

  beforeAll(async () => {
    exporter = await startExporter({ body });
    // sshd re-keys after every kilobyte: one 50 KB response takes several key exchanges.
    sshd = await startSshd({ permitOpen: [exporter.port], extraConfig: ["RekeyLimit 1K"] });
  }, 60_000);

  afterAll(async () => {
    await exporter?.close();
    await sshd?.stop();
  });

  it("keeps a connection working through sshd's re-keys, each with a fresh raw-key pair", async () => {
    const client = await connect(sshd, sshd.hostKeyPub);
    try {
      const before = { ...kexCryptoUse };
      const got = await getOverChannel(client, exporter.port);
      expect(got.subarray(got.length - body.length).equals(body)).toBe(true);
      const rekeys = kexCryptoUse.x25519Pairs - before.x25519Pairs;
      expect(rekeys).toBeGreaterThan(2);
      expect(kexCryptoUse.x25519PeerKeys - before.x25519PeerKeys).toBe(rekeys);
      expect(kexCryptoUse.ed25519Verifies - before.ed25519Verifies).toBe(rekeys);
      expect(kexCryptoUse.fallbacks).toBe(before.fallbacks);
    } finally {
      client.end();
    }
  });
});
