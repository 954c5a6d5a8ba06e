import { describe, expect, it } from "vitest";
import { RewriteError, rewriteHostKeys } from "../../src/keyscan/rewrite.js";

const K1 = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIMV42ru7pAPG4LGIcTr1e3MWaPG3y01Zr/fZgCRXpw2d";
const K2 = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIPRYx40+ssYlAjDLnGj0JggrgXBpnnCT9JlsspNvsIEx";
const path = ["targets", 0, "hostKeys"];

// The text edits behind `keyscan`: each case is a layout people write by hand.
describe("rewriteHostKeys (YAML edited in place)", () => {
  it("appends after a block list whose last item has a trailing comment", () => {
    const src = `targets:\n  - host: a\n    hostKeys:\n      - ${K1}   # old\n    exporters: []\n`;
    expect(rewriteHostKeys(src, "l.yaml", [{ path, keys: [K1, K2] }])).toBe(
      `targets:\n  - host: a\n    hostKeys:\n      - ${K1}   # old\n      - "${K2}"\n    exporters: []\n`,
    );
  });

  it("appends inside a flow list and fills an empty one", () => {
    expect(
      rewriteHostKeys(`targets:\n  - { host: a, hostKeys: ["${K1}"] }\n`, "l.yaml", [
        { path, keys: [K1, K2] },
      ]),
    ).toBe(`targets:\n  - { host: a, hostKeys: ["${K1}", "${K2}"] }\n`);
    expect(
      rewriteHostKeys(`targets:\n  - host: a\n    hostKeys: []  # none yet\n`, "l.yaml", [
        { path, keys: [K2] },
      ]),
    ).toBe(`targets:\n  - host: a\n    hostKeys: ["${K2}"]  # none yet\n`);
  });

  it("replaces a changed key in place, keeping its neighbours' comments", () => {
    const src = `targets:\n  - host: a\n    hostKeys:\n      - '${K1}' # rotated\n      - "${K2}" # keep\n`;
    const K3 = K1.replace("IMV", "IMW");
    expect(rewriteHostKeys(src, "l.yaml", [{ path, keys: [K3, K2] }])).toBe(
      `targets:\n  - host: a\n    hostKeys:\n      - "${K3}" # rotated\n      - "${K2}" # keep\n`,
    );
  });

  it("adds the key after `host` in the jump host's mapping, at its indentation", () => {
    const src = `targets:\n  - host: a\n    ssh:\n      jump:\n        host: bastion # via\n        port: 22\n`;
    expect(
      rewriteHostKeys(src, "l.yaml", [{ path: ["targets", 0, "ssh", "jump", "hostKeys"], keys: [K1] }]),
    ).toBe(
      `targets:\n  - host: a\n    ssh:\n      jump:\n        host: bastion # via\n        hostKeys:\n          - "${K1}"\n        port: 22\n`,
    );
  });

  it("refuses instead of writing when the path is not a list", () => {
    expect(() =>
      rewriteHostKeys(`targets:\n  - host: a\n    hostKeys: nope\n`, "l.yaml", [{ path, keys: [K1] }]),
    ).toThrow(RewriteError);
  });
});
