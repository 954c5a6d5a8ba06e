/**
 * How soon V8 optimises the proxy's hot path. V8 counts the bytecode each function runs against an interrupt
 * budget (`--interrupt-budget`, 66 KB in Node 20's V8 11.3) and considers optimising it each time the budget
 * is used up. With the default, a fresh proxy serves ~2 000–3 000 scrapes of 100 KB before its request path
 * is optimised; until then each scrape costs ~1.5–1.9× the CPU and the slow ones are several times slower
 * (docs/benchmarks.md, "c=1 fixed cost (issue 14, round 5)"). A small fleet, the case where one scrape at a
 * time is the norm, takes hours to get there (a scrape per target every 15 s). A quarter of the budget gets
 * there after ~1 000 scrapes, with the same optimised code afterwards (CPU per scrape at 16 concurrent the
 * same within the noise); an eighth was no quicker.
 *
 * Only for fleets below FLEET_HOSTS hosts. A fleet of that size scrapes ≥ 17 times a second at a 15 s
 * interval and is past the warm-up within minutes anyway, and at 2 000 hosts the lower budget cost 4–7 MB of
 * peak RSS (more code optimised: 130.3 and 133 MB against 126.3 without it, back to back, 20:12–20:44 UTC,
 * `npm run bench:scale -- --targets 2000 --duration 90s`) and ~0.15 ms of CPU per handshake.
 *
 * Set once the proxy has read its configuration, so the start-up code (configuration loading, validation),
 * which runs once, is not compiled for nothing. Only in a process whose V8 flags bin/run.js set (as
 * heap-growth.ts: not in tests, not under NODE_OPTIONS experiments).
 */
import { setFlagsFromString } from "node:v8";
import type { Logger } from "pino";
import { FLEET_HOSTS } from "./heap-growth.js";

/** `--interrupt-budget` for the serving proxy: a quarter of V8 11.3's default (67 584). */
export const INTERRUPT_BUDGET = 16_896;

/** Set by bin/run.js when it tuned V8 for `sshscrape proxy` (heap-growth.ts reads the same marker). */
const TUNED = Symbol.for("sshscrape.heapTuning");

/**
 * Applies INTERRUPT_BUDGET for a fleet of fewer than FLEET_HOSTS configured hosts, in a process bin/run.js
 * tuned, logged (`interruptBudget`); returns whether it did.
 */
export function tierUpSooner(hosts: number, logger: Pick<Logger, "info">): boolean {
  if ((globalThis as Record<symbol, unknown>)[TUNED] !== true) return false;
  if (hosts >= FLEET_HOSTS) return false;
  setFlagsFromString(`--interrupt-budget=${INTERRUPT_BUDGET}`);
  logger.info({ interruptBudget: INTERRUPT_BUDGET }, "V8 optimises the hot path sooner");
  return true;
}
