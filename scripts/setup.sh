#!/usr/bin/env bash
# Everything a fresh Debian machine needs for the demo and the tests: the system
# packages (as root) and the project's npm dependencies.
set -euo pipefail
cd "$(dirname "$0")/.."

# libsecret-1-dev: keytar builds from source; dbus + gnome-keyring: a secret service
# for it at run time; chromium: renderer tests; squid: proxy tests; msitools: MSI checks.
packages=(libsecret-1-dev dbus gnome-keyring chromium squid msitools)
missing=()
for pkg in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q 'install ok installed' || missing+=("$pkg")
done
if ((${#missing[@]} > 0)); then
  if [[ $(id -u) -ne 0 ]]; then
    echo "setup: missing Debian packages: ${missing[*]} (run as root, or: sudo apt-get install ${missing[*]})" >&2
    exit 1
  fi
  echo "setup: installing ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

# No Electron binary can be downloaded here; nothing but the packaged app needs one.
if [[ ! -d node_modules || package-lock.json -nt node_modules/.package-lock.json ]]; then
  ELECTRON_SKIP_BINARY_DOWNLOAD=1 npm ci --no-audit --no-fund
fi
