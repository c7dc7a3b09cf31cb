#!/usr/bin/env bash
# Build the control plane (kube-apiserver, kube-controller-manager,
# kube-scheduler) and the node binaries (kubelet, kube-proxy) from Debian
# bookworm's `kubernetes` source package (the complete upstream tree with
# vendor/), once, in one `make` that shares the compile, into a cache keyed by
# version.
#
# Usage: build-kubernetes.sh [CACHE_DIR]
# Prints progress on stderr; exits 0 at once when the cache is complete.
set -euo pipefail

K8S_VERSION="${SPOTFLOW_K8S_VERSION:-1.20.2}"
DEB_VERSION="${SPOTFLOW_K8S_DEB_VERSION:-1.20.5+really1.20.2-1.1+deb12u1}"
CACHE_ROOT="${1:-${SPOTFLOW_CACHE:-$HOME/.cache/spotflow}}"
OUT="$CACHE_ROOT/k8s-v$K8S_VERSION"
BINS=(kube-apiserver kube-controller-manager kube-scheduler kubelet kube-proxy)

log() { printf '[kubernetes] %s\n' "$*" >&2; }

complete=1
for b in "${BINS[@]}"; do [[ -x "$OUT/$b" ]] || complete=0; done
if [[ $complete == 1 ]]; then
  log "cached: $OUT"
  exit 0
fi

APT_SRC_DIR="$CACHE_ROOT/apt-src"
WORK="$CACHE_ROOT/build-k8s-$K8S_VERSION"
mkdir -p "$APT_SRC_DIR/lists/partial" "$WORK"

# deb-src list derived from the machine's own apt sources (never a host name
# written in the repo); private list dirs keep the system config untouched.
src_file=/etc/apt/sources.list.d/debian.sources
if [[ -f $src_file ]]; then
  sed 's/^Types:.*/Types: deb-src/' "$src_file" >"$APT_SRC_DIR/sources.list.d.debian-src.sources"
  mkdir -p "$APT_SRC_DIR/sourceparts"
  cp "$APT_SRC_DIR/sources.list.d.debian-src.sources" "$APT_SRC_DIR/sourceparts/debian-src.sources"
  APT_OPTS=(-o "Dir::Etc::SourceList=/dev/null" -o "Dir::Etc::SourceParts=$APT_SRC_DIR/sourceparts"
            -o "Dir::State::Lists=$APT_SRC_DIR/lists")
else
  sed -n 's/^deb /deb-src /p' /etc/apt/sources.list >"$APT_SRC_DIR/sources.list"
  APT_OPTS=(-o "Dir::Etc::SourceList=$APT_SRC_DIR/sources.list" -o "Dir::Etc::SourceParts=/dev/null"
            -o "Dir::State::Lists=$APT_SRC_DIR/lists")
fi

cd "$WORK"
tree="kubernetes-$K8S_VERSION"
if [[ ! -d $tree ]]; then
  if ! ls kubernetes_*.dsc >/dev/null 2>&1; then
    log "fetching source index (deb-src)"
    apt-get "${APT_OPTS[@]}" update -qq
    log "downloading source package kubernetes=$DEB_VERSION"
    apt-get "${APT_OPTS[@]}" source --download-only "kubernetes=$DEB_VERSION"
  fi
  log "unpacking upstream tarball"
  tar xf kubernetes_*.orig.tar.* 
  [[ -d $tree ]] || mv kubernetes-* "$tree" 2>/dev/null || true
fi

cd "$tree"
# Go >= 1.18 with vendored reflect2 1.0.1 crashes the apiserver on its first
# write; use Debian's reflect2 1.0.2 instead.
r2=/usr/share/gocode/src/github.com/modern-go/reflect2
if [[ ! -f .spotflow-reflect2-patched ]]; then
  log "patching vendored reflect2 with Debian's $r2"
  cp "$r2"/*.go vendor/github.com/modern-go/reflect2/
  rm -f vendor/github.com/modern-go/reflect2/{go_above_17.go,go_below_17.go,go_below_19.go}
  touch .spotflow-reflect2-patched
fi

mkdir -p .go/src/k8s.io && ln -sfn ../../.. .go/src/k8s.io/kubernetes
log "building ${BINS[*]} (about 9 minutes on 2 cores)"
start=$(date +%s)
GOPATH=$PWD/.go CGO_ENABLED=0 HOME="$WORK/home" GOCACHE="$WORK/gocache" GOFLAGS= \
  make WHAT="${BINS[*]/#/cmd/}" >"$WORK/build.log" 2>&1 &
pid=$!
while kill -0 "$pid" 2>/dev/null; do
  sleep 30
  log "  still building... $(( $(date +%s) - start ))s ($(tail -n1 "$WORK/build.log" | cut -c1-80))"
done
if ! wait "$pid"; then
  tail -n 40 "$WORK/build.log" >&2
  log "build failed; full log: $WORK/build.log"
  exit 1
fi
mkdir -p "$OUT.tmp"
for b in "${BINS[@]}"; do cp "_output/bin/$b" "$OUT.tmp/$b"; done
rm -rf "$OUT" && mv "$OUT.tmp" "$OUT"
log "built in $(( $(date +%s) - start ))s -> $OUT"
# The source tree and Go caches are large; keep only the binaries.
cd "$CACHE_ROOT" && rm -rf "$WORK"
