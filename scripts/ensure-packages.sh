#!/usr/bin/env bash
# Installs the Debian packages the integration tests and benchmarks start
# (redis-server, slapd, ldap-utils, a Samba Active Directory domain
# controller, and chromium for the board's browser test) when any of them
# is missing. Idempotent; does nothing when all are present. Needs root
# (or sudo) only to install.
#
# Samba (Debian bookworm, 4.17): samba-ad-dc brings the DC (and pulls in
# samba, winbind and the directory modules), samba-ad-provision the data
# `samba-tool domain provision` needs, ldb-tools ldbadd/ldbsearch (used to
# load large test directories offline). krb5-user and smbclient are not
# needed: the tests speak LDAP only. Measured here: 35 s to install the
# four on a machine without Samba.
set -euo pipefail

have() { command -v "$1" >/dev/null 2>&1 || [ -x "/usr/sbin/$1" ] || [ -x "/sbin/$1" ]; }
missing=()
have redis-server || missing+=(redis-server)
have redis-cli || missing+=(redis-tools)
have slapd || missing+=(slapd)
have ldapsearch || missing+=(ldap-utils)
have chromium || missing+=(chromium)
have samba || missing+=(samba samba-ad-dc)
have samba-tool || missing+=(samba)
[ -d /usr/share/samba/setup ] || missing+=(samba-ad-provision)
have ldbadd || missing+=(ldb-tools)
[ ${#missing[@]} -eq 0 ] && exit 0
mapfile -t missing < <(printf '%s\n' "${missing[@]}" | sort -u)

echo "ensure-packages: installing ${missing[*]}" >&2
sudo=()
if [ "$(id -u)" -ne 0 ]; then
  if command -v sudo >/dev/null 2>&1; then sudo=(sudo -n); else
    echo "ensure-packages: ${missing[*]} missing and not root; install them: apt-get install -y ${missing[*]}" >&2
    exit 1
  fi
fi
# Packaged daemons (smbd, nmbd, samba, winbind, slapd, redis-server) must
# not be started by the install: tests start their own, on loopback, and
# stop them by PID. Container images usually have a policy-rc.d that says
# so; when this one has none, one is put in place for the install only.
policy=/usr/sbin/policy-rc.d
if [ ! -e "$policy" ]; then
  printf '#!/bin/sh\nexit 101\n' | "${sudo[@]}" tee "$policy" >/dev/null
  "${sudo[@]}" chmod 755 "$policy"
  trap '"${sudo[@]}" rm -f "$policy"' EXIT
fi
export DEBIAN_FRONTEND=noninteractive
start=$(date +%s)
apt=("${sudo[@]}" apt-get -o DPkg::Lock::Timeout=600 -o Dpkg::Options::=--force-confdef -o Dpkg::Options::=--force-confold)
"${apt[@]}" update -qq >/dev/null
"${apt[@]}" install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
echo "ensure-packages: installed ${missing[*]} in $(($(date +%s) - start)) s" >&2
