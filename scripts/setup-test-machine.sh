#!/usr/bin/env bash
# Installs what the test suite runs against (real OpenSSH, Prometheus + promtool, node_exporter, Nix,
# systemd-analyze) and the npm dependencies. Shared by `npm run test:ci` (the README's test command) and
# .ci/run, so a fresh Debian machine and CI set up the same way.
# apt-get needs root: run as root, or as a user who may sudo. Packages already installed are not asked for.
set -euo pipefail
cd "$(dirname "$0")/.."

packages=(
  openssh-server openssh-client openssl ca-certificates
  prometheus prometheus-node-exporter nix-bin systemd iproute2 procps curl
)

missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done

as_root() {
  if [ "$(id -u)" -eq 0 ]; then "$@"
  elif command -v sudo >/dev/null; then sudo "$@"
  else
    echo "setup-test-machine: need root to run: $*" >&2
    echo "setup-test-machine: run this script as root, or install: ${missing[*]}" >&2
    exit 1
  fi
}

if [ "${#missing[@]}" -gt 0 ]; then
  export DEBIAN_FRONTEND=noninteractive
  as_root apt-get update -q
  as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "${missing[@]}"
fi
# sshd refuses to start without its privilege-separation directory; the Debian package's service (which
# would create it) may not run here. Tests start their own sshd on high ports.
[ -d /run/sshd ] || as_root mkdir -p /run/sshd

npm ci --no-audit --no-fund
