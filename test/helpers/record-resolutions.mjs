// Preloaded with `node --import` by tests that ask which packages a process loads: every module specifier it
// resolves is appended to the file named by $RECORD_RESOLUTIONS as a line `PID SPECIFIER` (module.register
// hooks run on their own thread, hence a file; child processes inherit NODE_OPTIONS and share the file).
// Plain JavaScript so a process can load it without tsx.
import { register } from "node:module";

const hooks = `
import { appendFileSync } from "node:fs";
export async function resolve(specifier, context, next) {
  appendFileSync(${JSON.stringify(process.env.RECORD_RESOLUTIONS ?? "/dev/null")}, ${process.pid} + " " + specifier + "\\n");
  return next(specifier, context);
}
`;
register(`data:text/javascript,${encodeURIComponent(hooks)}`);
