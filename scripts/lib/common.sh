# Shared by scripts/test and scripts/demo: install what is missing, build.
# shellcheck shell=bash

VIGIL_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"

# Debian 12 packages the build, the tests and the demo need.
VIGIL_BUILD_PACKAGES=(cmake g++ make pkg-config libcpp-httplib-dev libhiredis-dev nlohmann-json3-dev
  libc-ares-dev libcli11-dev libpq-dev libssl-dev googletest libgtest-dev libgmock-dev)
VIGIL_SERVER_PACKAGES=(redis-server redis-tools redis-sentinel postgresql postgresql-client
  curl procps iproute2 iptables util-linux openssl python3 dnsmasq-base)
# The status page's browser test (tests/browser/run) needs a real browser.
VIGIL_BROWSER_PACKAGES=(chromium)

log() { printf '\033[1m==> %s\033[0m\n' "$*" >&2; }

# apt-get only when something is missing: a fresh machine gets everything,
# a warm one starts at once.
ensure_packages() {
  local missing=()
  local p
  for p in "$@"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
  done
  if [ ${#missing[@]} -gt 0 ]; then
    log "installing: ${missing[*]}"
    if [ "$(id -u)" -ne 0 ]; then
      echo "need root to install packages: ${missing[*]}" >&2
      return 1
    fi
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
  fi
}

# build DIR BUILD_TYPE [extra cmake args]
build_vigil() {
  local dir="$1" type="$2"
  shift 2
  log "building ($type) in $dir"
  cmake -S "$VIGIL_ROOT" -B "$dir" -DCMAKE_BUILD_TYPE="$type" -DVIGIL_WERROR=ON "$@" >/dev/null
  cmake --build "$dir" -j"$(nproc)"
}
