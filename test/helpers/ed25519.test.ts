import ssh2 from "ssh2";
import { expect, it } from "vitest";
import { ed25519KeyPair } from "./ed25519.js";

it("returns keys that ssh2 parses back, 3 000 times (ssh2's generator alone gives ~5 malformed ones)", () => {
  for (let i = 0; i < 3000; i++)
    expect(ssh2.utils.parseKey(ed25519KeyPair().private)).not.toBeInstanceOf(Error);
});
