/** Things that generate fine but that the user should know about; printed to stderr, exit status unchanged. */
import type { LoadedConfig } from "../config/index.js";

export function generateWarnings(loaded: LoadedConfig): string[] {
  const { config, file } = loaded;
  const out: string[] = [];
  if (config.proxy.auth)
    out.push(
      `${file}: proxy.auth: warning: the generated scrape jobs do not send the proxy password (in proxy_url it would be world-readable in the Nix store and in prometheus.yml); add credentials to proxy_url yourself, or keep the proxy on loopback without auth`,
    );
  return out;
}
