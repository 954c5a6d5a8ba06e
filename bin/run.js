#!/usr/bin/env node
import { setFlagsFromString } from "node:v8";

// `sshscrape proxy` runs for months and makes garbage in two shapes, and V8's defaults keep too much of both
// resident (docs/benchmarks.md, docs/benchmarks-scale.md):
// - Every scrape turns into ~100 KB of short-lived Buffers (ssh2 decrypts each packet into a fresh one). A
//   young generation free to grow (it reaches 16 MB during start-up alone) kept ~50 MB of dead Buffers
//   resident and RSS over 150 MB in `npm run bench`; at its initial size they are collected sooner.
// - With 1 000 targets, per-request objects that live until the same connection's next scrape (15 s) are
//   promoted and die in the old generation, which V8 lets grow to ~4× the live heap before a full GC:
//   RSS peaked at 215–248 MB over a live heap of ~45 MB. A growing factor of 2 caps the heap near 2× live
//   (RSS 144 MB at the same scale, proxy CPU unchanged; 1.5 cost ~10 points of CPU in one run). The proxy
//   sets 1.5 for large fleets (1.25 from 1 000 hosts) and 2.5 for small ones once it has read the target
//   list (heap-growth.ts, SMALL_FLEET_PERCENT: with a small live heap, a factor of 2 left too little room
//   for the ArrayBuffers between two scavenges and started a mark-compact every 0.5–1 s); it starts with 2.5.
// Both flags are read at each sizing decision, so setting them here works, unlike --max-semi-space-size;
// they must come before oclif is loaded. NODE_OPTIONS with a semi-space flag turns both off (experiments).
const proxy = process.argv[2] === "proxy";
// Once it has read the target list the proxy sets the growing factor for its fleet (2.5 below 250 hosts, 1.5
// from 250, 1.25 from 1 000: src/proxy/heap-growth.ts): the marker below tells it these flags are its to change.
if (proxy && !/semi[-_]space/.test(`${process.execArgv} ${process.env.NODE_OPTIONS}`)) {
  setFlagsFromString("--semi-space-growth-factor=1 --heap-growing-percent=150");
  globalThis[Symbol.for("sshscrape.heapTuning")] = true;
}

// `sshscrape proxy` with a plain, valid command line starts without oclif: ~5 MB less resident and ~90 ms
// less CPU at every start (docs/benchmarks.md, "Start-up memory"). The flags are the oclif command's
// (src/proxy/cli-args.ts); help, and any command line it would refuse, still go through oclif below.
if (!proxy || !(await (await import("../dist/src/proxy/main.js")).runProxyCli(process.argv.slice(3)))) {
  const { execute } = await import("@oclif/core");
  await execute({ dir: import.meta.url });
}
