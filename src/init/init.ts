/** `sshscrape init`: a commented starter target list, validated before it is written. */
import { existsSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import Handlebars from "handlebars";
import { parseConfig } from "../config/index.js";
import { SshscrapeError } from "../errors.js";
import { packageRoot } from "../version.js";

export interface InitAnswers {
  hosts: string[];
  /** `name:port` pairs, the same for every host. */
  exporters: Array<{ name: string; port: number }>;
  keyKind: "sops" | "agenix" | "path";
  /** The encrypted file (sops, agenix) or the plain key path. */
  keyFile: string;
  sopsKey: string;
  publicKey?: string;
  sshUser: string;
  sshPort: number;
  listen: string;
  proxyUser: string;
}

export const DEFAULT_ANSWERS: InitAnswers = {
  hosts: ["server1.example.org"],
  exporters: [{ name: "node", port: 9100 }],
  keyKind: "sops",
  keyFile: "./secrets/monitoring.yaml",
  sopsKey: "sshscrape_ssh_key",
  sshUser: "sshscrape",
  sshPort: 22,
  listen: "127.0.0.1:8888",
  proxyUser: "sshscrape",
};

/** Default key file for each kind, when the user picks a kind but no file. */
export const DEFAULT_KEY_FILE = {
  sops: "./secrets/monitoring.yaml",
  agenix: "./secrets/sshscrape.age",
  path: "/var/lib/sshscrape/id_ed25519",
} as const;

/** The target file exists and --force was not given. */
export class InitExistsError extends SshscrapeError {
  readonly code = "INIT_EXISTS";
  override readonly exitCode = 2;
}

/** `name:port` → exporter, or an error naming the flag value. */
export function parseExporter(text: string): { name: string; port: number } {
  const m = /^([^:]+):(\d{1,5})$/.exec(text.trim());
  if (!m) throw new InitInputError(`--exporter ${text}: expected NAME:PORT, e.g. node:9100`);
  return { name: m[1] as string, port: Number(m[2]) };
}

export class InitInputError extends SshscrapeError {
  readonly code = "INIT_INPUT";
  override readonly exitCode = 2;
}

export function renderStarter(file: string, answers: InitAnswers): string {
  const hb = Handlebars.create();
  // JSON strings are valid YAML double-quoted scalars (YAML 1.2 §7.3.1), so this is the one escape needed.
  hb.registerHelper("yaml", (v: unknown) => JSON.stringify(String(v)));
  hb.registerHelper("eq", (a: unknown, b: unknown) => a === b);
  const source = readFileSync(join(packageRoot(), "templates/init/sshscrape.yaml.hbs"), "utf8");
  const template = hb.compile(source, { noEscape: true, strict: true });
  return template({
    ...answers,
    file,
    targets: answers.hosts.map((host) => ({ host, exporters: answers.exporters })),
  });
}

export interface InitResult {
  file: string;
  targets: number;
  overwritten: boolean;
}

/** Renders, validates with the same loader `generate` uses, and writes (never over a file without force). */
export function writeStarter(file: string, answers: InitAnswers, force: boolean): InitResult {
  const exists = existsSync(file);
  if (exists && !force)
    throw new InitExistsError(`${file}: already exists; pass --force to replace it, or choose another FILE`);
  const text = renderStarter(file, answers);
  // Flag values a user typed become validation problems naming the field, before anything is written.
  parseConfig(text, file);
  writeFileSync(file, text, { mode: 0o644 });
  return { file, targets: answers.hosts.length, overwritten: exists };
}
