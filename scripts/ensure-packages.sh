#!/usr/bin/env bash
# Installs the Debian packages the integration tests and benchmarks start
# (redis-server, slapd, ldap-utils, and chromium for the board's browser
# test) when any of them is missing. Idempotent;
# does nothing when all are present. Needs root (or sudo) only to install.
set -euo pipefail

missing=()
command -v redis-server >/dev/null 2>&1 || missing+=(redis-server)
command -v redis-cli >/dev/null 2>&1 || missing+=(redis-tools)
{ command -v slapd >/dev/null 2>&1 || [ -x /usr/sbin/slapd ]; } || missing+=(slapd)
command -v ldapsearch >/dev/null 2>&1 || missing+=(ldap-utils)
command -v chromium >/dev/null 2>&1 || missing+=(chromium)
[ ${#missing[@]} -eq 0 ] && exit 0

echo "ensure-packages: installing ${missing[*]}" >&2
sudo=()
if [ "$(id -u)" -ne 0 ]; then
  if command -v sudo >/dev/null 2>&1; then sudo=(sudo -n); else
    echo "ensure-packages: ${missing[*]} missing and not root; install them: apt-get install -y ${missing[*]}" >&2
    exit 1
  fi
fi
export DEBIAN_FRONTEND=noninteractive
"${sudo[@]}" apt-get update -qq >/dev/null
"${sudo[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
echo "ensure-packages: installed ${missing[*]}" >&2
