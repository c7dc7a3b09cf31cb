#!/usr/bin/env bash
# One idempotent set-up for both README commands (and CI):
#   Debian packages, a Python 3.12 venv with pinned tools, the pinned
#   third-party collections, and the Kubernetes control plane build (cached).
# Re-running with nothing changed takes seconds: every step is keyed by a stamp
# holding the hash of its inputs.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
VENV="$ROOT/.venv"
CACHE="${SPOTFLOW_CACHE:-$HOME/.cache/spotflow}"
STAMPS="$VENV/.spotflow-stamps"
ANSIBLE_BUNDLE_VERSION="14.5.0"   # the `ansible` PyPI package that carries our pinned collections

say() { printf '\033[1m[bootstrap]\033[0m %s\n' "$*"; }
stamp_ok() { [[ -f "$STAMPS/$1" && "$(cat "$STAMPS/$1")" == "$2" ]]; }
stamp_set() { mkdir -p "$STAMPS"; printf '%s' "$2" >"$STAMPS/$1"; }
hash_of() { cat "$@" 2>/dev/null | sha256sum | cut -c1-16; }

# --- Debian packages ---------------------------------------------------------
DEB_PKGS=(golang-go rsync make etcd-server golang-github-modern-go-reflect2-dev
          docker.io docker-registry debootstrap ca-certificates
          containerd runc containernetworking-plugins iptables iproute2 conntrack dnsmasq-base skopeo umoci
          busybox-static jq
          postgresql-15)   # RDS DB instances are real PostgreSQL servers (localcloud/aws/rds_postgres.py)
missing=()
for p in "${DEB_PKGS[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if ((${#missing[@]})); then
  SUDO=""; [[ $(id -u) == 0 ]] || SUDO="sudo"
  say "installing Debian packages: ${missing[*]}"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
else
  say "Debian packages: present"
fi
# Debian's postgresql-15 makes a cluster 15/main and may start it: the local cloud runs its own servers
# (as the package's `postgres` user), so that one is stopped and never started at boot.
if command -v pg_lsclusters >/dev/null 2>&1; then
  SUDO=""; [[ $(id -u) == 0 ]] || SUDO="sudo"
  pg_lsclusters --no-header 2>/dev/null | while read -r ver name _port status _rest; do
    if [[ "$status" == online* ]]; then
      say "stopping Debian's PostgreSQL cluster $ver/$name (not the local cloud's)"
      $SUDO pg_ctlcluster "$ver" "$name" stop || true
    fi
    conf="/etc/postgresql/$ver/$name/start.conf"
    if [[ -f "$conf" ]] && grep -qx 'auto' "$conf"; then echo manual | $SUDO tee "$conf" >/dev/null; fi
  done || true
fi

# --- Python venv ---------------------------------------------------------------
find_python() {
  for c in python3.12 "$HOME/.pyenv/versions/3.12"*/bin/python3.12 /usr/bin/python3.12 /usr/local/bin/python3.12; do
    if command -v "$c" >/dev/null 2>&1 && "$c" -c 'import sys; assert sys.version_info[:2] == (3, 12)' 2>/dev/null; then
      command -v "$c"; return 0
    fi
  done
  return 1
}
if [[ ! -x "$VENV/bin/python" ]]; then
  PY=$(find_python) || { echo "Python 3.12 is required (not found)" >&2; exit 1; }
  say "creating virtual environment with $PY"
  "$PY" -m venv "$VENV"
fi
h=$(hash_of requirements-dev.txt)
if ! stamp_ok pip "$h"; then
  say "installing pinned Python packages (requirements-dev.txt)"
  "$VENV/bin/pip" install -q --disable-pip-version-check --upgrade pip 2>&1 | grep -v '^WARNING: Location' || true
  "$VENV/bin/pip" install --disable-pip-version-check --progress-bar on -r requirements-dev.txt 2>&1 \
    | grep -Ev '^(WARNING: Location|Requirement already satisfied)' || true
  "$VENV/bin/python" -c 'import ansible, boto3, kubernetes, moto, molecule' # fail loudly if the install broke
  stamp_set pip "$h"
else
  say "Python packages: up to date"
fi

# --- Collections -------------------------------------------------------------
h=$(hash_of requirements.yml)
COLL="$ROOT/collections/ansible_collections"
if ! stamp_ok collections "$h" || [[ ! -d "$COLL/amazon/aws" ]]; then
  say "installing collections from requirements.yml"
  if timeout 20 "$VENV/bin/ansible-galaxy" collection install -r requirements.yml -p "$ROOT/collections" >/tmp/spotflow-galaxy.log 2>&1; then
    say "  from Galaxy"
  else
    say "  Galaxy unreachable: taking the same versions from the ansible==$ANSIBLE_BUNDLE_VERSION PyPI package"
    mkdir -p "$CACHE/wheels"
    whl=$(ls "$CACHE/wheels"/ansible-"$ANSIBLE_BUNDLE_VERSION"-*.whl 2>/dev/null | head -n1 || true)
    if [[ -z "$whl" ]]; then
      "$VENV/bin/pip" download -q --no-deps --disable-pip-version-check -d "$CACHE/wheels" "ansible==$ANSIBLE_BUNDLE_VERSION" 2>&1 | grep -v '^WARNING: Location' || true
      whl=$(ls "$CACHE/wheels"/ansible-"$ANSIBLE_BUNDLE_VERSION"-*.whl | head -n1)
    fi
    "$VENV/bin/python" "$ROOT/scripts/collections_from_wheel.py" "$whl" requirements.yml "$COLL"
  fi
  stamp_set collections "$h"
else
  say "collections: up to date"
fi

# --- Kubernetes control plane (built once, cached outside the repo) -----------
bash "$ROOT/localcloud/scripts/build-kubernetes.sh" "$CACHE"
say "ready: $VENV"
