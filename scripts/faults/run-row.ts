/**
 * Runs one fault row within its budget. A row that overruns is failed and stopped: its lab is closed (every
 * process it started killed, by PID) and the runner waits for that before returning, so the next row never
 * runs beside the remains of the previous one.
 */
import type { Row, RowResult } from "./harness.js";
import { stopOpenLabs } from "./lab.js";

/** How long an overrun row's body gets to notice its lab is gone and settle, after the lab was closed. */
const SETTLE_MS = 10_000;

export async function runRow(row: Row): Promise<RowResult & { ms: number }> {
  const t0 = performance.now();
  let timer: NodeJS.Timeout | undefined;
  const overrun = new Promise<"overrun">((resolve) => {
    timer = setTimeout(() => resolve("overrun"), row.budgetMs);
  });
  const running = row.run();
  try {
    const result = await Promise.race([running, overrun]);
    if (result !== "overrun") return { ...result, ms: performance.now() - t0 };
    const labs = await stopOpenLabs();
    // With its processes gone the row's awaits fail quickly; wait for that (bounded) so nothing of it runs on.
    const settled = await Promise.race([
      running.then(
        () => true,
        () => true,
      ),
      new Promise<false>((r) => setTimeout(() => r(false), SETTLE_MS).unref()),
    ]);
    return {
      pass: false,
      observed:
        `row did not finish within ${row.budgetMs / 1000} s; stopped it (${labs} lab(s) closed` +
        `${settled ? "" : `, its code still running ${SETTLE_MS / 1000} s later`})`,
      ms: performance.now() - t0,
    };
  } catch (err) {
    await stopOpenLabs();
    const message = err instanceof Error ? err.message : String(err);
    return { pass: false, observed: `harness error: ${message}`, ms: performance.now() - t0 };
  } finally {
    clearTimeout(timer);
  }
}
