/**
 * Renders a `systemd.services.<name>` value as NixOS does (nixos/lib/systemd-lib.nix: attrsToSection — a list
 * becomes one `Key=value` line per element, booleans `true`/`false`), so systemd's own tools can judge it.
 */
import { spawnSync } from "node:child_process";
import { basename } from "node:path";

export interface ServiceValue {
  description: string;
  wantedBy: string[];
  wants: string[];
  after: string[];
  before?: string[];
  reloadTriggers: string[];
  restartTriggers: string[];
  serviceConfig: Record<string, string | number | boolean | Array<string | number | boolean>>;
}

const value = (v: string | number | boolean) => (typeof v === "boolean" ? (v ? "true" : "false") : String(v));

export function renderUnit(s: ServiceValue): string {
  const unit = [
    "[Unit]",
    `Description=${s.description}`,
    ...s.wants.map((w) => `Wants=${w}`),
    ...s.after.map((a) => `After=${a}`),
    ...(s.before ?? []).map((b) => `Before=${b}`),
    ...(s.reloadTriggers.length ? [`X-Reload-Triggers=${s.reloadTriggers.join(" ")}`] : []),
    ...(s.restartTriggers.length ? [`X-Restart-Triggers=${s.restartTriggers.join(" ")}`] : []),
    "",
    "[Service]",
    ...Object.entries(s.serviceConfig).flatMap(([k, v]) =>
      Array.isArray(v) ? v.map((x) => `${k}=${value(x)}`) : [`${k}=${value(v)}`],
    ),
    "",
    "[Install]",
    ...s.wantedBy.map((w) => `WantedBy=${w}`),
  ];
  return `${unit.join("\n")}\n`;
}

/**
 * `systemd-analyze security --offline=yes FILE`: the unit's overall exposure level (0 = fully locked down,
 * 10 = fully exposed), read from the line systemd prints for it (systemd-analyze(1)).
 */
export function exposureScore(file: string): number {
  const r = spawnSync("systemd-analyze", ["security", "--offline=yes", file], { encoding: "utf8" });
  if (r.error) throw r.error;
  if (r.status !== 0) throw new Error(`systemd-analyze security failed (exit ${r.status}):\n${r.stderr}`);
  const name = basename(file).replaceAll(".", "\\.");
  const score = new RegExp(`Overall exposure level for ${name}: ([\\d.]+)`).exec(r.stdout)?.[1];
  if (score === undefined) throw new Error(`no exposure level in systemd-analyze output:\n${r.stdout}`);
  return Number(score);
}

/** systemd.syntax(7): the argv systemd runs for an Exec*= line of double-quoted words ("%%" is "%", "$$" "$"). */
export function execArgv(line: string): string[] {
  const words = line.match(/"(?:[^"\\]|\\.)*"|\S+/g) ?? [];
  return words.map((w) => {
    if (!w.startsWith('"')) throw new Error(`unquoted word in an Exec line: ${w} (in ${line})`);
    return (JSON.parse(w) as string).replaceAll("%%", "%").replaceAll("$$", "$");
  });
}
