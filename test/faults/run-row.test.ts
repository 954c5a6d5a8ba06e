/** The fault matrix runner (scripts/faults.ts): a row that overruns its budget is stopped before the next. */
import { describe, expect, it } from "vitest";
import { inLab } from "../../scripts/faults/lab.js";
import { runRow } from "../../scripts/faults/run-row.js";
import type { Exporter } from "../helpers/exporter.js";
import { probe } from "../helpers/ports.js";

const alive = (pid: number) => {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
};

describe("fault matrix runner", () => {
  it("fails an overrunning row and stops everything it started before returning", async () => {
    let sshdPid = 0;
    const exporters: Exporter[] = [];
    let bodyError = "";
    const result = await runRow({
      id: 99,
      fault: "a row that never ends",
      expected: "stopped at its budget",
      budgetMs: 1500,
      run: () =>
        inLab(async (lab) => {
          const sshd = await lab.sshd();
          sshdPid = sshd.pid() ?? 0;
          // Keeps starting things, as a stuck retry loop would, until the lab refuses.
          try {
            for (;;) {
              exporters.push(await lab.exporter());
              await new Promise((r) => setTimeout(r, 100));
            }
          } catch (err) {
            bodyError = (err as Error).message;
            throw err;
          }
        }),
    });
    expect(result.pass).toBe(false);
    expect(result.observed).toMatch(/^row did not finish within 1\.5 s; stopped it \(1 lab\(s\) closed\)$/);
    expect(result.ms).toBeLessThan(1500 + 10_000);
    // Stopped, not merely reported: the sshd and every exporter are gone, and the row's code has ended.
    expect(sshdPid).toBeGreaterThan(0);
    expect(alive(sshdPid)).toBe(false);
    expect(exporters.length).toBeGreaterThan(0);
    for (const e of exporters) expect(await probe(e.host, e.port)).toBe("refused");
    expect(bodyError).toMatch(/lab was closed/);
  });

  it("passes a row's own result through when it finishes in time", async () => {
    const result = await runRow({
      id: 98,
      fault: "quick",
      expected: "pass",
      budgetMs: 5000,
      run: async () => ({ pass: true, observed: "fine" }),
    });
    expect(result).toMatchObject({ pass: true, observed: "fine" });
  });
});
