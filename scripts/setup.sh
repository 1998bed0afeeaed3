#!/usr/bin/env bash
# Installs every Debian 12 package xgw needs to build, test, demo and benchmark.
# Idempotent: packages already present are not reinstalled, and apt is only
# consulted when something is missing. Must run as root (or with sudo).
set -euo pipefail

packages=(
  build-essential cmake pkg-config git ca-certificates
  libsodium-dev libssl-dev openssl
  libboost1.81-dev
  libcurl4-openssl-dev curl
  nlohmann-json3-dev catch2 libexpected-dev
  libsqlite3-dev sqlite3
  libsystemd-dev
  libzip-dev libpugixml-dev zlib1g-dev
  python3 python3-openpyxl python3-yaml
  python3-cryptography
  age
  time
  tzdata
  chromium
)
# Node.js and npm build the web app (web/, pinned in web/package-lock.json).
# Debian's own when the machine has none; a machine that ships Node.js keeps it.
if ! command -v node >/dev/null || ! command -v npm >/dev/null; then packages+=(nodejs npm); fi

missing=()
for p in "${packages[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "ok installed"; then
    missing+=("$p")
  fi
done

if [ ${#missing[@]} -eq 0 ]; then
  echo "setup: all ${#packages[@]} packages present"
else
  SUDO=""
  if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi
  echo "setup: installing ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  $SUDO apt-get update -qq
  $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
  echo "setup: packages done"
fi

# The web app's packages from the npm registry, exactly as the lockfile pins
# them; again only when the lockfile changed since the last install.
web="$(dirname "$0")/../web"
stamp="$web/node_modules/.xgw-lock.sha256"
want=$(sha256sum "$web/package-lock.json" | cut -d' ' -f1)
if [ "$(cat "$stamp" 2>/dev/null)" != "$want" ]; then
  echo "setup: installing the web app's npm packages (web/package-lock.json)"
  (cd "$web" && npm ci --no-audit --no-fund --loglevel=error)
  echo "$want" > "$stamp"
fi
echo "setup: done"
