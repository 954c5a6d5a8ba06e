// Preloaded with `node --import` by tests that ask which packages a process loads: every module specifier it
// resolves is appended, one per line, to the file named by $RECORD_RESOLUTIONS (module.register hooks run on
// their own thread, hence a file). Plain JavaScript so a process can load it without tsx.
import { register } from "node:module";

const hooks = `
import { appendFileSync } from "node:fs";
export async function resolve(specifier, context, next) {
  appendFileSync(${JSON.stringify(process.env.RECORD_RESOLUTIONS ?? "/dev/null")}, specifier + "\\n");
  return next(specifier, context);
}
`;
register(`data:text/javascript,${encodeURIComponent(hooks)}`);
