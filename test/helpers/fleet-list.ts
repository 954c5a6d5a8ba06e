/**
 * A target list of N loopback hosts that are never connected (`preconnect: false`, nothing scraped), for
 * tests of what the proxy decides from the size of its fleet (heap-growth, young-generation). The key and an
 * empty known_hosts live in a temporary directory removed after the file's tests.
 */
import { execFileSync } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll } from "vitest";
import { stringify } from "yaml";

export interface FleetLists {
  /** The temporary directory (removed after the file's tests). */
  work: string;
  /** Writes `file`: a proxy listening on 127.0.0.1:`port` for `hosts` hosts, each with one exporter. */
  write(file: string, port: number, hosts: number): string;
}

/** Call at module level: registers the directory's removal with afterAll. */
export function fleetLists(prefix: string): FleetLists {
  const work = mkdtempSync(join(tmpdir(), `sshscrape-${prefix}-`));
  afterAll(() => rmSync(work, { recursive: true, force: true }));
  const keyPath = join(work, "id_ed25519");
  execFileSync("ssh-keygen", ["-q", "-t", "ed25519", "-N", "", "-f", keyPath]);
  writeFileSync(join(work, "known_hosts"), "");
  const write = (file: string, port: number, hosts: number): string => {
    writeFileSync(
      file,
      stringify({
        proxy: { listen: `127.0.0.1:${port}`, knownHostsFile: join(work, "known_hosts"), preconnect: false },
        ssh: { user: "prometheus", key: { path: keyPath } },
        targets: Array.from({ length: hosts }, (_, i) => ({
          host: `127.2.${Math.floor(i / 250)}.${(i % 250) + 1}`,
          exporters: [{ name: "node", port: 9100 }],
        })),
      }),
    );
    return file;
  };
  return { work, write };
}
