/** Things that generate fine but that the user should know about; printed to stderr, exit status unchanged. */
import type { LoadedConfig } from "../config/index.js";

export function generateWarnings(loaded: LoadedConfig, format = "nix"): string[] {
  const { config, file } = loaded;
  const out: string[] = [];
  if (config.proxy.auth)
    out.push(
      `${file}: proxy.auth: warning: the generated scrape jobs do not send the proxy password (in proxy_url it would be world-readable in the Nix store and in prometheus.yml); add credentials to proxy_url yourself, or keep the proxy on loopback without auth`,
    );
  // Without host keys the proxy has no known_hosts entry and answers 502 to every scrape of that host. NixOS
  // output refuses this (nix/module.nix asserts it); for a proxy run from prometheus/file-sd output the keys may
  // still come from a known_hosts file managed elsewhere, so it is a warning, as loud and with the same fix.
  const elsewhere = `${config.proxy.knownHostsFile} gets them elsewhere`;
  config.targets.forEach((t, i) => {
    if (!t.hostKeys?.length)
      out.push(
        `${file}: targets[${i}].hostKeys: warning: ${t.host} has no host keys, so the proxy has no known_hosts entry for it and answers 502 to every scrape; run \`sshscrape keyscan ${file}\` (ignore this only if ${elsewhere})`,
      );
    if (t.ssh?.jump && !t.ssh.jump.hostKeys?.length)
      out.push(
        `${file}: targets[${i}].ssh.jump.hostKeys: warning: the jump host ${t.ssh.jump.host} has no host keys; run \`sshscrape keyscan ${file}\` (ignore this only if ${elsewhere})`,
      );
  });
  // file_sd target groups carry labels only; tls_config belongs to the job that reads the file.
  if (format === "file-sd")
    config.targets.forEach((t, ti) => {
      t.exporters.forEach((e, ei) => {
        if (e.tls)
          out.push(
            `${file}: targets[${ti}].exporters[${ei}].tls: warning: file_sd target groups cannot carry tls_config; set it in the scrape job that reads this file`,
          );
      });
    });
  return out;
}
