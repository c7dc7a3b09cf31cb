#!/usr/bin/env bash
# Build a local stand-in for the official base image apache/airflow:3.3.2
# without pulling anything (no image registry is reachable here).
#
#   localcloud/images/build-airflow-base.sh [--force|--relock]
#
#   --force   rebuild the image (docker build --no-cache; the rootfs stays cached)
#   --relock  like --force, but let pip resolve freely and rewrite
#             airflow-base/constraints.txt from the result
#
# Steps, each cached:
#   1. Debian bookworm minbase rootfs with debootstrap, from the Debian mirror
#      this machine is configured with (read from
#      /etc/apt/sources.list.d/debian.sources or /etc/apt/sources.list at run
#      time; override with SPOTFLOW_DEBIAN_MIRROR).  The rootfs tarball is kept
#      in $CACHE/images/ and `docker import`ed as spotflow/debian-bookworm:local.
#   2. airflow-base/Dockerfile on top of it (Airflow 3.3.2 + cncf.kubernetes,
#      postgres and fab providers from PyPI, versions constrained by
#      airflow-base/constraints.txt, the set pip resolved for the image's
#      Python 3.11), tagged apache/airflow:3.3.2 with the labels
#      io.spotflow.stand-in=true and io.spotflow.inputs=<hash>.
#      Without constraints.txt (or with --relock) pip resolves freely and the
#      result is written to airflow-base/constraints.txt: commit it.
#   3. `docker save` of the result (and the base tag) into $CACHE/images/, keyed by the hash of
#      the build inputs, so a fresh docker daemon `docker load`s it in seconds.
# If apache/airflow:3.3.2 already exists with our label and the same input
# hash, nothing is done.  A real (non stand-in) apache/airflow:3.3.2 is never
# touched.
#
# Environment: SPOTFLOW_CACHE (default $HOME/.cache/spotflow),
#              SPOTFLOW_DEBIAN_MIRROR (default: derived from apt's sources).
set -euo pipefail

IMAGE="apache/airflow:3.3.2"
BASE_IMAGE="spotflow/debian-bookworm:local"
SUITE="bookworm"
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
REPO="$(cd "$HERE/../../.." && pwd)"
CTX_SRC="$HERE/airflow-base"
LOCK="$CTX_SRC/constraints.txt"
CACHE="${SPOTFLOW_CACHE:-$HOME/.cache/spotflow}"
IMG_CACHE="$CACHE/images"
export DOCKER_BUILDKIT=0   # legacy builder: no buildx plugin needed

FORCE=0 RELOCK=0
case "${1:-}" in
  --force) FORCE=1 ;;
  --relock) FORCE=1 RELOCK=1 ;;
  "") ;;
  *) echo "usage: $0 [--force|--relock]" >&2; exit 2 ;;
esac
[[ -f "$LOCK" ]] || RELOCK=1

log() { printf '[airflow-base %s] %s\n' "$(date +%H:%M:%S)" "$*" >&2; }
die() { log "ERROR: $*"; exit 1; }
T0=$SECONDS

command -v docker >/dev/null || die "docker CLI not found"
docker info >/dev/null 2>&1 || die "docker daemon not reachable (start it: dockerd >/tmp/dockerd.log 2>&1 &)"

extra_ca_files() {
  # CA certificates added to this host's trust store (e.g. for a TLS-inspecting
  # proxy); the image needs them to reach PyPI the same way the host does.
  local f
  for f in /usr/local/share/ca-certificates/*.crt; do [[ -f "$f" ]] && echo "$f"; done
  return 0
}

base_key() {
  { echo "suite=$SUITE variant=minbase v1"; sed -n '/^# --- rootfs ---/,/^# --- end rootfs ---/p' "${BASH_SOURCE[0]}"; } \
    | sha256sum | cut -c1-16
}
inputs_key() {
  { echo "base=$(base_key)"
    (cd "$CTX_SRC" && find . -type f ! -name constraints.txt | LC_ALL=C sort | xargs sha256sum)
    if [[ $RELOCK == 1 ]]; then echo "unconstrained"; else sha256sum < "$LOCK"; fi
    extra_ca_files | while read -r f; do sha256sum < "$f"; done
  } | sha256sum | cut -c1-16
}

label_of() {  # image label -> value ("" when image or label missing)
  docker image inspect --format "{{ index .Config.Labels \"$2\" }}" "$1" 2>/dev/null || true
}

KEY="$(inputs_key)"
TARBALL="$IMG_CACHE/spotflow-stand-in-3.3.2-$KEY.tar"
mkdir -p "$IMG_CACHE"

save_tarball() {  # --fresh: the image was just built, replace any tarball of the same key
  [[ "${1:-}" == "--fresh" ]] && rm -f "$TARBALL"
  if [[ ! -f "$TARBALL" ]]; then
    log "saving $IMAGE to $TARBALL (for fast docker load on a fresh daemon)"
    # The base tag rides along (its layers are shared): a load restores both.
    local tags=("$IMAGE")
    docker image inspect "$BASE_IMAGE" >/dev/null 2>&1 && tags+=("$BASE_IMAGE")
    docker save -o "$TARBALL.tmp" "${tags[@]}" && mv "$TARBALL.tmp" "$TARBALL"
    find "$IMG_CACHE" -maxdepth 1 -name '*-stand-in-3.3.2-*.tar' ! -name "$(basename "$TARBALL")" -delete
  fi
}

if docker image inspect "$IMAGE" >/dev/null 2>&1; then
  if [[ "$(label_of "$IMAGE" io.spotflow.stand-in)" != "true" ]]; then
    log "$IMAGE exists and is not our stand-in (the real image?): leaving it alone"
    exit 0
  fi
  if [[ $FORCE == 0 && "$(label_of "$IMAGE" io.spotflow.inputs)" == "$KEY" ]]; then
    log "$IMAGE stand-in is up to date (inputs $KEY)"
    save_tarball
    exit 0
  fi
  log "$IMAGE stand-in is stale or --force given: rebuilding"
fi

if [[ $FORCE == 0 && -f "$TARBALL" ]]; then
  log "loading cached $TARBALL"
  docker load -i "$TARBALL" >/dev/null
  if [[ "$(label_of "$IMAGE" io.spotflow.inputs)" == "$KEY" ]]; then
    log "done in $((SECONDS - T0))s: $IMAGE loaded from cache"
    exit 0
  fi
  log "cached tarball did not contain the expected image; rebuilding"
fi

# --- rootfs ---
debian_mirror() {
  if [[ -n "${SPOTFLOW_DEBIAN_MIRROR:-}" ]]; then echo "$SPOTFLOW_DEBIAN_MIRROR"; return; fi
  local f=/etc/apt/sources.list.d/debian.sources
  if [[ -f "$f" ]]; then
    # deb822: first stanza of Types deb whose Suites include the plain suite.
    awk -v suite="$SUITE" '
      function flush() { if (types ~ /(^| )deb( |$)/ && (" " suites " ") ~ (" " suite " ") && uris != "" && !found) { split(uris, u, " "); print u[1]; found=1 } types=""; suites=""; uris="" }
      /^[[:space:]]*$/ { flush(); next }
      /^Types:/  { sub(/^Types:[[:space:]]*/, "");  types=$0 }
      /^Suites:/ { sub(/^Suites:[[:space:]]*/, ""); suites=$0 }
      /^URIs:/   { sub(/^URIs:[[:space:]]*/, "");   uris=$0 }
      END { flush() }' "$f" && return
  fi
  if [[ -f /etc/apt/sources.list ]]; then
    awk -v suite="$SUITE" '$1=="deb" { i=2; if ($2 ~ /^\[/) { while ($i !~ /\]$/) i++; i++ } if ($(i+1)==suite) { print $i; exit } }' /etc/apt/sources.list
  fi
}

make_base() {
  local bkey rootfs_tar work mirror
  bkey="$(base_key)"
  if [[ "$(label_of "$BASE_IMAGE" io.spotflow.base-key)" == "$bkey" ]]; then
    log "base $BASE_IMAGE present"
    return
  fi
  rootfs_tar="$IMG_CACHE/debian-$SUITE-minbase-$bkey.tar"
  if [[ ! -f "$rootfs_tar" ]]; then
    command -v debootstrap >/dev/null || die "debootstrap not installed (apt-get install debootstrap)"
    mirror="$(debian_mirror)"
    [[ -n "$mirror" ]] || die "could not derive a Debian mirror from apt's sources; set SPOTFLOW_DEBIAN_MIRROR"
    work="$(mktemp -d "${TMPDIR:-/tmp}/spotflow-rootfs.XXXXXX")"
    log "debootstrap $SUITE (minbase) from the configured Debian mirror into $work (a few minutes)"
    local start=$SECONDS
    debootstrap --variant=minbase --include=ca-certificates \
      --keyring=/usr/share/keyrings/debian-archive-keyring.gpg \
      "$SUITE" "$work/rootfs" "$mirror" > "$work/debootstrap.log" 2>&1 \
      || { tail -30 "$work/debootstrap.log" >&2; rm -rf "$work"; die "debootstrap failed"; }
    # apt inside the image uses the same sources as this host (deb822 file when present).
    if [[ -f /etc/apt/sources.list.d/debian.sources && -z "${SPOTFLOW_DEBIAN_MIRROR:-}" ]]; then
      rm -f "$work/rootfs/etc/apt/sources.list"
      cp /etc/apt/sources.list.d/debian.sources "$work/rootfs/etc/apt/sources.list.d/debian.sources"
    fi
    rm -rf "$work/rootfs/var/cache/apt/archives/"*.deb "$work/rootfs/var/lib/apt/lists/"* "$work/rootfs/var/log/"*.log
    tar -C "$work/rootfs" --numeric-owner -cf "$rootfs_tar.tmp" . && mv "$rootfs_tar.tmp" "$rootfs_tar"
    rm -rf "$work"
    log "rootfs ready in $((SECONDS - start))s ($(du -h "$rootfs_tar" | cut -f1))"
  else
    log "using cached rootfs $rootfs_tar"
  fi
  docker import \
    --change 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
    --change 'ENV LANG=C.UTF-8' \
    --change "LABEL io.spotflow.base-key=$bkey" \
    --change 'CMD ["/bin/bash"]' \
    "$rootfs_tar" "$BASE_IMAGE" >/dev/null
  log "imported $BASE_IMAGE"
}
# --- end rootfs ---

make_base

CTX="$(mktemp -d "${TMPDIR:-/tmp}/spotflow-airflow-base.XXXXXX")"
trap 'rm -rf "$CTX"' EXIT
cp -r "$CTX_SRC/." "$CTX/"
if [[ $RELOCK == 1 ]]; then
  echo "# unconstrained (--relock)" > "$CTX/constraints.txt"
else
  cp "$LOCK" "$CTX/constraints.txt"
fi
mkdir -p "$CTX/extra-ca"
extra_ca_files | while read -r f; do cp "$f" "$CTX/extra-ca/"; done

log "docker build $IMAGE (pip installs Airflow inside; several minutes on 2 cores)"
start=$SECONDS
no_cache=()
[[ $FORCE == 1 ]] && no_cache=(--no-cache)   # --force/--relock: really rebuild the Airflow layers
docker build --pull=false --force-rm --network host "${no_cache[@]}" \
  --build-arg "BASE_IMAGE=$BASE_IMAGE" \
  --label "io.spotflow.inputs=$KEY" \
  -t "$IMAGE" "$CTX" 2>&1 \
  | grep --line-buffered -vE "^ ?(WARNING: Location 'file:|Requirement already satisfied|  Downloading |Get:[0-9]|Selecting previously|Preparing to unpack|Unpacking |Setting up |Processing triggers)|DEPRECATED|BuildKit|buildx|environment-variable\.|^[[:space:]]*$" \
  | sed -u 's/^/    /' >&2 \
  || die "docker build failed"
log "image built in $((SECONDS - start))s"

[[ "$(docker run --rm -e CONNECTION_CHECK_MAX_COUNT=0 "$IMAGE" version 2>/dev/null | tail -1)" == "3.3.2" ]] || die "'docker run $IMAGE version' did not print 3.3.2"

if [[ $RELOCK == 0 ]]; then
  # Every installed package should be pinned; one that is not floated to PyPI's newest.
  unpinned="$(docker run --rm --entrypoint cat "$IMAGE" /home/airflow/.local/spotflow-stand-in-freeze.txt \
    | grep -vE '^(pip|setuptools|wheel)==' | grep -vxF -f <(grep -v '^#' "$LOCK") || true)"
  [[ -z "$unpinned" ]] || log "WARNING: installed but not pinned in $LOCK: $(echo $unpinned)"
fi

if [[ $RELOCK == 1 ]]; then
  { echo "# pip constraints for the apache/airflow:3.3.2 stand-in (Python 3.11, Debian bookworm)."
    echo "# Written by build-airflow-base.sh --relock on $(date -u +%Y-%m-%d) from the image's pip freeze."
    docker run --rm --entrypoint cat "$IMAGE" /home/airflow/.local/spotflow-stand-in-freeze.txt \
      | grep -vE '^(pip|setuptools|wheel)=='
  } > "$LOCK.tmp" && mv "$LOCK.tmp" "$LOCK"
  log "wrote $LOCK ($(grep -vc '^#' "$LOCK") packages): commit it"
  # The image is exactly what the new constraints describe: relabel it with
  # the key that now includes them, so the next run finds it up to date.
  RELOCK=0
  KEY="$(inputs_key)"
  TARBALL="$IMG_CACHE/spotflow-stand-in-3.3.2-$KEY.tar"
  echo "FROM $IMAGE" | docker build -q --label "io.spotflow.inputs=$KEY" -t "$IMAGE" - >/dev/null 2>&1 || die "relabel failed"
fi
save_tarball --fresh
log "done in $((SECONDS - T0))s: $IMAGE (inputs $KEY)"
