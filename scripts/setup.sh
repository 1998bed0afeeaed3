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
)

missing=()
for p in "${packages[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "ok installed"; then
    missing+=("$p")
  fi
done

if [ ${#missing[@]} -eq 0 ]; then
  echo "setup: all ${#packages[@]} packages present"
  exit 0
fi

SUDO=""
if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi
echo "setup: installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
echo "setup: done"
