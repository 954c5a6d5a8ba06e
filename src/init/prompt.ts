/** Interactive questions for `sshscrape init` on a terminal; each shows its default in brackets. */
import { createInterface } from "node:readline/promises";
import { DEFAULT_KEY_FILE, type InitAnswers, parseExporter } from "./init.js";

/** Asks only for what `known` (from flags) leaves open. */
export async function promptAnswers(
  known: Partial<InitAnswers>,
  defaults: InitAnswers,
): Promise<InitAnswers> {
  const rl = createInterface({ input: process.stdin, output: process.stderr });
  const ask = async (question: string, fallback: string) =>
    (await rl.question(`${question} [${fallback}]: `)).trim() || fallback;
  try {
    const hosts =
      known.hosts ??
      (await ask("Hosts to scrape (comma-separated)", defaults.hosts.join(",")))
        .split(",")
        .map((h) => h.trim())
        .filter(Boolean);
    const exporters =
      known.exporters ??
      (await ask("Exporters on each host (NAME:PORT, comma-separated)", "node:9100"))
        .split(",")
        .map((e) => parseExporter(e));
    let keyKind = known.keyKind;
    while (!keyKind) {
      const k = await ask("Where is the SSH private key: sops, agenix or path", defaults.keyKind);
      if (k === "sops" || k === "agenix" || k === "path") keyKind = k;
    }
    const keyFile =
      known.keyFile ??
      (await ask(
        keyKind === "path" ? "Key file on the monitoring host" : `${keyKind} file`,
        DEFAULT_KEY_FILE[keyKind],
      ));
    const publicKey =
      known.publicKey ??
      ((await rl.question("Public key line or .pub file (optional, for --remote): ")).trim() || undefined);
    return { ...defaults, ...known, hosts, exporters, keyKind, keyFile, ...(publicKey ? { publicKey } : {}) };
  } finally {
    rl.close();
  }
}
