#!/usr/bin/env bash
# Installs the Debian packages the tests need, when it can.
# Usage: scripts/deps.sh [package ...]   (default: the list below)
# With root or passwordless sudo it runs apt-get; otherwise it stops with a
# message naming what is missing. It exits 0 when everything is present.
set -euo pipefail

pkgs=("$@")
if [ ${#pkgs[@]} -eq 0 ]; then
  # libevent: the reference memcached 1.6.45 and memtier_benchmark that
  # the comparisons use when they are found beside the checkout.
  pkgs=(memcached libmemcached-tools nutcracker python3-pymemcache libcache-memcached-perl libcache-memcached-fast-perl libevent-2.1-7 libevent-openssl-2.1-7)
fi

missing=()
for p in "${pkgs[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed'; then
    missing+=("$p")
  fi
done
[ ${#missing[@]} -eq 0 ] && exit 0

if ! command -v apt-get >/dev/null 2>&1; then
  echo "deps: missing Debian packages: ${missing[*]} (no apt-get here; install them by hand)" >&2
  exit 1
fi
if [ "$(id -u)" -eq 0 ]; then
  sudo=()
elif command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then
  sudo=(sudo -n)
else
  echo "deps: missing Debian packages: ${missing[*]}" >&2
  echo "deps: run as root, or: sudo apt-get update && sudo apt-get install -y ${missing[*]}" >&2
  exit 1
fi
echo "deps: installing ${missing[*]}" >&2
export DEBIAN_FRONTEND=noninteractive
"${sudo[@]}" apt-get update -q >/dev/null
"${sudo[@]}" apt-get install -y -q --no-install-recommends "${missing[@]}" >/dev/null
