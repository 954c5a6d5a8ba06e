/**
 * The serving proxy lowers V8's interrupt budget so its hot path is optimised after fewer scrapes
 * (src/proxy/tiering.ts). The effect is a benchmark's to show (docs/benchmarks.md, "c=1 fixed cost (issue 14,
 * round 5)"); this checks the decision in the process the user runs, without asserting on time. V8 has no API
 * to read the flag back, so the log line is what is checked.
 */
import { execFileSync } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { stringify } from "yaml";
import { FLEET_HOSTS } from "../../src/proxy/heap-growth.js";
import { INTERRUPT_BUDGET, tierUpSooner } from "../../src/proxy/tiering.js";
import { startProxyCli } from "../e2e/proxy-process.js";
import { withReservedPort } from "../helpers/ports.js";

const work = mkdtempSync(join(tmpdir(), "sshscrape-tiering-"));
afterAll(() => rmSync(work, { recursive: true, force: true }));
const keyPath = join(work, "id_ed25519");
execFileSync("ssh-keygen", ["-q", "-t", "ed25519", "-N", "", "-f", keyPath]);
writeFileSync(join(work, "known_hosts"), "");

describe("V8's interrupt budget for the serving proxy", () => {
  it("is left alone in a process bin/run.js did not tune (this test runner)", () => {
    const lines: unknown[] = [];
    expect(tierUpSooner(1, { info: (...args: unknown[]) => lines.push(args) })).toBe(false);
    expect(lines).toEqual([]);
  });

  /** The budgets `sshscrape proxy` logged for a list of `hosts` SSH hosts (not connected: preconnect off). */
  async function budgetsLogged(hosts: number): Promise<number[]> {
    const file = join(work, `targets-${hosts}.yaml`);
    const targets = Array.from({ length: hosts }, (_, i) => ({
      host: `127.2.${i >> 8}.${(i & 255) + 1}`,
      exporters: [{ name: "node", port: 9100 }],
    }));
    const proxy = await withReservedPort((port) => {
      writeFileSync(
        file,
        stringify({
          proxy: {
            listen: `127.0.0.1:${port}`,
            knownHostsFile: join(work, "known_hosts"),
            preconnect: false,
          },
          ssh: { user: "prometheus", key: { path: keyPath } },
          targets,
        }),
      );
      return startProxyCli(file);
    });
    try {
      return proxy
        .output()
        .split("\n")
        .filter((l) => l.includes('"interruptBudget"'))
        .map((l) => (JSON.parse(l) as { interruptBudget: number }).interruptBudget);
    } finally {
      await proxy.stop();
    }
  }

  it("is set once by `sshscrape proxy` at start for a small fleet", async () => {
    expect(await budgetsLogged(1)).toEqual([INTERRUPT_BUDGET]);
  });

  it(`is left alone from FLEET_HOSTS (${FLEET_HOSTS}) hosts on, which warm up within minutes anyway`, async () => {
    expect(await budgetsLogged(FLEET_HOSTS - 1)).toEqual([INTERRUPT_BUDGET]);
    expect(await budgetsLogged(FLEET_HOSTS)).toEqual([]);
  });
});
