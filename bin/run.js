#!/usr/bin/env node
import { setFlagsFromString } from "node:v8";

// `sshscrape proxy` runs for months and turns every scrape into ~100 KB of short-lived Buffers (ssh2
// decrypts each packet into a fresh one). A young generation free to grow (it reaches 16 MB during start-up
// alone) kept ~50 MB of dead Buffers resident and RSS over 150 MB in `npm run bench`; at its initial size
// they are collected sooner (docs/benchmarks.md). The growth factor is read at each growth decision, so
// setting it here works, unlike --max-semi-space-size; it must come before oclif is loaded.
if (process.argv[2] === "proxy" && !/semi[-_]space/.test(`${process.execArgv} ${process.env.NODE_OPTIONS}`))
  setFlagsFromString("--semi-space-growth-factor=1");

const { execute } = await import("@oclif/core");
await execute({ dir: import.meta.url });
