#!/usr/bin/env bash
# One idempotent set-up for a fresh Debian machine: system packages when missing, `npm ci` when
# package-lock.json changed, then the TypeScript build. All chatter goes to stderr, so
# `npm start -- analyze ... --format json` keeps stdout clean.
#   --quiet       say only what is being installed
#   --for-tests   also the tools the test suite uses (tshark, tcpdump, scapy, chromium)
set -euo pipefail
cd "$(dirname "$0")/.."
quiet=0; for_tests=0
for a in "$@"; do
  case "$a" in
    --quiet) quiet=1 ;;
    --for-tests) for_tests=1 ;;
    *) echo "setup.sh: unknown option $a" >&2; exit 2 ;;
  esac
done
[ "${CI:-}" = "true" ] && for_tests=1
log() { [ "$quiet" = 1 ] || echo "setup: $*" >&2; }

as_root() {
  if [ "$(id -u)" = 0 ]; then "$@"
  elif command -v sudo >/dev/null 2>&1; then sudo "$@"
  else return 1; fi
}

missing_pkgs=()
need_pkg() { dpkg-query -W -f='${Status}' "$1" 2>/dev/null | grep -q 'install ok installed' || missing_pkgs+=("$1"); }
if command -v dpkg-query >/dev/null 2>&1; then
  # libpcap-dev: headers for the pcap and cap addons, and libpcap.so, which cap dlopens for
  # immediate mode. iproute2: next-hop resolution for the sender.
  for p in libpcap-dev iproute2 python3 make g++; do need_pkg "$p"; done
  if [ "$for_tests" = 1 ]; then
    for p in tshark tcpdump python3-scapy python3-cryptography chromium; do need_pkg "$p"; done
  fi
  if [ ${#missing_pkgs[@]} -gt 0 ]; then
    echo "setup: installing ${missing_pkgs[*]} with apt-get" >&2
    export DEBIAN_FRONTEND=noninteractive
    if ! { as_root apt-get update -qq && as_root apt-get install -y -qq --no-install-recommends "${missing_pkgs[@]}"; } >/tmp/pdmscope-apt.log 2>&1; then
      echo "setup: apt-get install ${missing_pkgs[*]} failed (see /tmp/pdmscope-apt.log); run as root or with sudo" >&2
      # Test tools are optional outside CI; the build needs libpcap-dev.
      if [[ " ${missing_pkgs[*]} " == *" libpcap-dev "* ]] || [ "${CI:-}" = "true" ]; then exit 1; fi
    fi
  fi
else
  log "not a Debian system: install libpcap development files yourself"
fi

# npm ci only when the lock file changed since the last successful install.
lock_hash=$(sha256sum package-lock.json | cut -d' ' -f1)
stamp=node_modules/.pdmscope-lock-sha256
if [ ! -f "$stamp" ] || [ "$(cat "$stamp")" != "$lock_hash" ]; then
  echo "setup: npm ci (a clean install compiles SQLite and the pcap addons: a few minutes)" >&2
  npm ci --no-audit --no-fund >&2
  echo "$lock_hash" > "$stamp"
fi
for addon in pcap/build/Release/pcap_binding.node cap/build/Release/cap.node better-sqlite3/build/Release/better_sqlite3.node; do
  if [ ! -f "node_modules/$addon" ]; then
    echo "setup: native addon node_modules/$addon was not built; check allowScripts in package.json" >&2
    exit 1
  fi
done

log "building"
rm -rf dist
node_modules/.bin/tsc -p tsconfig.json >&2
