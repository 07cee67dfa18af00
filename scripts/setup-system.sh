#!/usr/bin/env bash
# Install the Debian packages sohoa needs (as root, or through sudo): those of the list given
# (default scripts/apt-packages.txt; the tests add scripts/apt-packages-test.txt).
set -euo pipefail
cd "$(dirname "$0")/.."
list=${1:-scripts/apt-packages.txt}
mapfile -t pkgs < <(grep -v '^\s*#' "$list" | sed '/^\s*$/d')
missing=()
for p in "${pkgs[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if ((${#missing[@]})); then
  SUDO=""; [ "$(id -u)" -eq 0 ] || SUDO="sudo"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi
echo "system packages ready: ${#pkgs[@]} checked, ${#missing[@]} installed"
