/** Things that generate fine but that the user should know about; printed to stderr, exit status unchanged. */
import type { LoadedConfig } from "../config/index.js";

export function generateWarnings(loaded: LoadedConfig, format = "nix"): string[] {
  const { config, file } = loaded;
  const out: string[] = [];
  if (config.proxy.auth)
    out.push(
      `${file}: proxy.auth: warning: the generated scrape jobs do not send the proxy password (in proxy_url it would be world-readable in the Nix store and in prometheus.yml); add credentials to proxy_url yourself, or keep the proxy on loopback without auth`,
    );
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
