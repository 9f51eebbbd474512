#!/usr/bin/env bash
# Installs the Debian packages the tests need, when it can.
# Usage: scripts/deps.sh [package ...]   (default: the list below)
# With root or passwordless sudo it runs apt-get; otherwise it stops with a
# message naming what is missing. It exits 0 when everything is present.
# Packages named in DEPS_OPTIONAL (Perl's clients by default) are tried
# after the others; if they cannot be installed the script says so and
# still succeeds: the tests that need them skip.
set -euo pipefail

pkgs=("$@")
if [ ${#pkgs[@]} -eq 0 ]; then
  # libevent: the reference memcached 1.6.45 and memtier_benchmark that
  # the comparisons use when they are found beside the checkout.
  pkgs=(memcached libmemcached-tools nutcracker python3-pymemcache libcache-memcached-perl libcache-memcached-fast-perl libevent-2.1-7 libevent-openssl-2.1-7)
fi
optional=" ${DEPS_OPTIONAL-libcache-memcached-perl libcache-memcached-fast-perl} "

missing=()
missing_opt=()
for p in "${pkgs[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed'; then
    if [[ "$optional" == *" $p "* ]]; then
      missing_opt+=("$p")
    else
      missing+=("$p")
    fi
  fi
done
[ ${#missing[@]} -eq 0 ] && [ ${#missing_opt[@]} -eq 0 ] && exit 0
can_install=true
if ! command -v apt-get >/dev/null 2>&1; then
  can_install=false
elif [ "$(id -u)" -ne 0 ] && ! { command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; }; then
  can_install=false
fi
if [ ${#missing[@]} -eq 0 ] && ! $can_install; then
  echo "deps: optional packages missing: ${missing_opt[*]}; the tests that use them will skip" >&2
  exit 0
fi

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
export DEBIAN_FRONTEND=noninteractive
"${sudo[@]}" apt-get update -q >/dev/null
if [ ${#missing[@]} -gt 0 ]; then
  echo "deps: installing ${missing[*]}" >&2
  "${sudo[@]}" apt-get install -y -q --no-install-recommends "${missing[@]}" >/dev/null
fi
if [ ${#missing_opt[@]} -gt 0 ]; then
  echo "deps: installing ${missing_opt[*]} (optional)" >&2
  if ! "${sudo[@]}" apt-get install -y -q --no-install-recommends "${missing_opt[@]}" >/dev/null; then
    echo "deps: could not install ${missing_opt[*]}; the tests that use them will skip" >&2
  fi
fi
