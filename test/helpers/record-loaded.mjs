// Preloaded with `node --import` by tests that ask what a process has loaded by the time it exits: node's own
// modules it compiled (process.moduleLoadList) and every CommonJS file in the require cache (packages such
// as ssh2 and prom-client are CommonJS, which an ESM resolve hook does not see), one per line, appended to the
// file named by $RECORD_LOADED as `PID builtin NAME` and `PID file PATH`. Plain JavaScript so a process can
// load it without tsx.
import { appendFileSync } from "node:fs";
import { createRequire } from "node:module";

const require = createRequire(import.meta.url);
const file = process.env.RECORD_LOADED ?? "/dev/null";
process.on("exit", () => {
  const lines = [
    ...process.moduleLoadList
      .filter((m) => m.startsWith("NativeModule "))
      .map((m) => `builtin ${m.slice(13)}`),
    ...Object.keys(require.cache).map((f) => `file ${f}`),
  ];
  appendFileSync(file, lines.map((l) => `${process.pid} ${l}\n`).join(""));
});
