#!/usr/bin/env bash
# Idempotent setup for lblab, run by `make demo`, `make test`, .ci/run and the Vagrant provisioner:
#   1. Debian packages (daemons the lab runs in namespaces, and tools),
#   2. packaged services stopped and disabled in the root namespace (the lab runs its own),
#   3. CoreDNS built from its pinned Go module (tools/coredns) into build/bin/coredns,
#   4. the Python venv (.venv) with pinned dependencies and lblab itself.
# Each step is skipped when what it makes is already there and current.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"

say() { printf '\033[1m[setup]\033[0m %s\n' "$*"; }

DEB_PACKAGES=(
  mininet bridge-utils net-tools iproute2 iputils-ping procps socat nftables
  bird2 keepalived redis-server etcd-server etcd-client prometheus
  haproxy nginx-light wrk iperf3 curl ca-certificates git
  python3 python3-venv
  chromium chromium-driver
)
# Services these packages may enable and start in the root namespace on a normal machine.
PACKAGED_SERVICES=(bird keepalived redis-server etcd prometheus prometheus-node-exporter haproxy nginx iperf3)

COREDNS_MIN_GO="1.23"

if [[ $EUID -ne 0 ]]; then
  echo "setup: must run as root (it installs Debian packages and the lab needs network namespaces)" >&2
  exit 1
fi

install_debian_packages() {
  local missing=()
  for pkg in "${DEB_PACKAGES[@]}"; do
    dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || missing+=("$pkg")
  done
  if ((${#missing[@]} == 0)); then
    say "Debian packages: all present"
    return
  fi
  say "Debian packages: installing ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -q
  apt-get install -y -q --no-install-recommends "${missing[@]}"
}

stop_packaged_services() {
  local svc
  if [[ -d /run/systemd/system ]]; then
    for svc in "${PACKAGED_SERVICES[@]}"; do
      if systemctl list-unit-files "$svc.service" >/dev/null 2>&1 &&
         systemctl list-unit-files "$svc.service" | grep -q "^$svc.service"; then
        if systemctl is-active --quiet "$svc" || systemctl is-enabled --quiet "$svc" 2>/dev/null; then
          say "stopping and disabling packaged service $svc (the lab runs its own instances)"
          systemctl disable --now "$svc" >/dev/null 2>&1 || true
        fi
      fi
    done
  else
    # No systemd: a packaged service can only be running if its init script started it, in which
    # case its own pid file names it. Never match daemons by name: the lab's instances share it.
    local pidfile pid
    for svc in "${PACKAGED_SERVICES[@]}"; do
      for pidfile in "/run/$svc.pid" "/run/$svc/$svc.pid"; do
        [[ -f $pidfile ]] || continue
        pid="$(cat "$pidfile" 2>/dev/null || true)"
        if [[ $pid =~ ^[0-9]+$ ]] && kill -0 "$pid" 2>/dev/null; then
          say "stopping packaged service $svc (pid $pid; the lab runs its own instances)"
          service "$svc" stop >/dev/null 2>&1 || true
        fi
      done
      update-rc.d "$svc" disable >/dev/null 2>&1 || true
    done
  fi
}

version_ge() { [[ "$(printf '%s\n%s\n' "$2" "$1" | sort -V | head -n1)" == "$2" ]]; }

find_go() {
  local candidate ver
  for candidate in "$(command -v go 2>/dev/null || true)" /usr/local/go/bin/go /usr/lib/go-1.23/bin/go; do
    [[ -n "$candidate" && -x "$candidate" ]] || continue
    ver="$("$candidate" env GOVERSION 2>/dev/null | sed 's/^go//')"
    if [[ -n "$ver" ]] && version_ge "$ver" "$COREDNS_MIN_GO"; then
      echo "$candidate"
      return 0
    fi
  done
  return 1
}

ensure_go() {
  if GO="$(find_go)"; then
    return
  fi
  say "Go >= $COREDNS_MIN_GO not found: installing golang-1.23 from bookworm-backports"
  if ! grep -rqs "bookworm-backports" /etc/apt/sources.list /etc/apt/sources.list.d/; then
    echo "deb http://deb.debian.org/debian bookworm-backports main" > /etc/apt/sources.list.d/lblab-backports.list
  fi
  apt-get update -q
  DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends -t bookworm-backports golang-1.23-go
  GO="$(find_go)" || { echo "setup: could not install a Go toolchain >= $COREDNS_MIN_GO" >&2; exit 1; }
}

build_coredns() {
  local out="$ROOT/build/bin/coredns"
  local stamp="$ROOT/build/coredns.stamp"
  local want
  want="$(cat tools/coredns/go.mod tools/coredns/go.sum tools/coredns/main.go | sha256sum | cut -d' ' -f1)"
  if [[ -x "$out" && -f "$stamp" && "$(cat "$stamp")" == "$want" ]]; then
    say "CoreDNS: build/bin/coredns is current"
    return
  fi
  ensure_go
  say "CoreDNS: building pinned module with $("$GO" version | cut -d' ' -f3) (about a minute)"
  mkdir -p "$ROOT/build/bin"
  (cd tools/coredns && GOTOOLCHAIN=local GOFLAGS=-mod=readonly CGO_ENABLED=0 \
     "$GO" build -buildvcs=false -trimpath -o "$out.tmp" .)
  mv "$out.tmp" "$out"
  echo "$want" > "$stamp"
  say "CoreDNS: $("$out" -version | head -n1)"
}

ensure_venv() {
  local stamp=".venv/lblab.stamp"
  local want
  want="$(cat requirements.txt constraints.txt pyproject.toml | sha256sum | cut -d' ' -f1)"
  if [[ -x .venv/bin/python && -f "$stamp" && "$(cat "$stamp")" == "$want" ]]; then
    say "venv: .venv is current"
    return
  fi
  local py
  py="$(command -v python3.11 || command -v python3)"
  if ! "$py" -c 'import sys; sys.exit(sys.version_info[:2] != (3, 11))'; then
    echo "setup: Python 3.11 is required (found $("$py" --version))" >&2
    exit 1
  fi
  say "venv: creating .venv with pinned dependencies"
  [[ -x .venv/bin/python ]] || "$py" -m venv .venv
  .venv/bin/pip install -q --disable-pip-version-check -r requirements.txt -c constraints.txt
  .venv/bin/pip install -q --disable-pip-version-check --no-deps --no-build-isolation -e . 2>/dev/null ||
    .venv/bin/pip install -q --disable-pip-version-check --no-deps -e .
  echo "$want" > "$stamp"
}

install_debian_packages
stop_packaged_services
build_coredns
ensure_venv
say "ready"
