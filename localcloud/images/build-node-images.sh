#!/usr/bin/env bash
# Build the small images the local cloud's kubelets need, offline, and push
# them into the local registry (no outside image registry is reachable here).
#
#   SPOTFLOW_REGISTRY=127.0.0.1:15002 localcloud/images/build-node-images.sh [--force]
#
#   --force   rebuild the rootfs tarballs and re-import / re-push the images
#
# Images (both single-layer, FROM scratch):
#   localcloud/pause:3.2   pause/pause.go built as a static Go binary
#                          (CGO_ENABLED=0, -trimpath), alone as /pause;
#                          ENTRYPOINT ["/pause"], USER 65535:65535.  The pod
#                          sandbox image, and the stand-in for every image
#                          that cannot be had offline (/cluster-autoscaler
#                          leads to the same binary).  The pod
#                          sandbox image (kubelet/containerd sandbox_image).
#   localcloud/toolbox:1   Debian's busybox-static: /bin/busybox plus a symlink
#                          for every applet (sh, sleep, cat, wget, nc,
#                          nslookup, ip, ...), minimal /etc/passwd and
#                          /etc/group, /tmp; CMD ["sh"].  For tests.
#
# Steps, each cached and skipped when already done:
#   1. rootfs tarballs in $CACHE/node-images/ (reproducible: sorted entries,
#      mtime 0, uid/gid 0); a stamp file next to each holds the key of its
#      inputs (the Go source + Go version, or the busybox-static package
#      version, + a recipe number): rebuilt only when the key changes.
#   2. docker (when `docker info` works): `docker import` with --change for
#      ENTRYPOINT/CMD/USER/ENV and LABEL io.spotflow.inputs=<key>, tagged
#      localcloud/NAME:TAG and $SPOTFLOW_REGISTRY/localcloud/NAME:TAG, then
#      `docker push` unless the registry already serves that image (same
#      config digest = docker image ID).  A daemon without the image but a
#      registry with the right one gets it back by `docker pull`.
#      Without docker: umoci (OCI layout $CACHE/node-images/oci, fixed
#      timestamps) + `skopeo copy --dest-tls-verify=false`, skipped when the
#      registry's image already carries the same io.spotflow.inputs label.
#   Without SPOTFLOW_REGISTRY nothing is pushed.
#
# Environment: SPOTFLOW_REGISTRY (host:port, plain http), SPOTFLOW_CACHE
# (default $HOME/.cache/spotflow), SPOTFLOW_NODE_IMAGES_BACKEND=auto|docker|oci
# (default auto: docker if `docker info` works, else oci).
# Needs: go, tar, sha256sum, curl, jq (or python3); busybox-static is
# installed with apt-get when missing; umoci + skopeo for the oci backend.
set -euo pipefail
umask 022
export LC_ALL=C

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
CACHE="${SPOTFLOW_CACHE:-$HOME/.cache/spotflow}"
OUT="$CACHE/node-images"
PAUSE_BUILD="$CACHE/pause-build"
PAUSE_SRC="$HERE/pause/pause.go"
REG="${SPOTFLOW_REGISTRY:-}"
BACKEND="${SPOTFLOW_NODE_IMAGES_BACKEND:-auto}"
LABEL_KEY="io.spotflow.inputs"
# Bump to force a rebuild when the recipe below changes (not for comments).
PAUSE_RECIPE=3
TOOLBOX_RECIPE=1
EPOCH_ISO="1970-01-01T00:00:00Z"

FORCE=0
case "${1:-}" in
  --force) FORCE=1 ;;
  "") ;;
  *) echo "usage: $0 [--force]" >&2; exit 2 ;;
esac

log() { printf '[node-images %s] %s\n' "$(date +%H:%M:%S)" "$*" >&2; }
die() { log "ERROR: $*"; exit 1; }
now_ms() { local t=${EPOCHREALTIME/[.,]/}; echo $((t / 1000)); }
since() {  # since START_MS -> "1.234s"
  local d=$(( $(now_ms) - $1 ))
  printf '%d.%03ds' $((d / 1000)) $((d % 1000))
}
T_ALL=$(now_ms)

json() {  # json FILTER < doc  (jq filter; python3 fallback for the few used here)
  if command -v jq >/dev/null; then jq -r "$1" 2>/dev/null || true; return; fi
  python3 -c '
import json, sys
f = sys.argv[1]
try:
    d = json.load(sys.stdin)
except Exception:
    sys.exit(0)
if f == ".config.digest // empty":
    print((d.get("config") or {}).get("digest", ""))
elif f.startswith(".config.Labels["):
    k = f.split("\"")[1]
    print(((d.get("config") or {}).get("Labels") or {}).get(k, ""))
elif f == ".tags[]?":
    print("\n".join(d.get("tags") or []))
' "$1"
}

mkdir -p "$OUT"
exec 9>"$OUT/.lock"
flock 9 2>/dev/null || true   # one run at a time per cache dir

# Reproducible tarball of a directory tree.
make_tar() {  # make_tar DIR OUT.tar
  tar -C "$1" --sort=name --mtime=@0 --owner=0 --group=0 --numeric-owner \
      --format=gnu -cf "$2.tmp" . && mv "$2.tmp" "$2"
}

# --------------------------------------------------------------------------
# 1a. pause rootfs
go_version() { go env GOVERSION 2>/dev/null || go version | awk '{print $3}'; }

pause_key() {
  { echo "pause recipe=$PAUSE_RECIPE go=$(go_version) goarch=$(go env GOARCH)"
    sha256sum < "$PAUSE_SRC"
  } | sha256sum | cut -c1-16
}

build_pause() {
  local t0 key tar stamp bin rootfs
  t0=$(now_ms)
  command -v go >/dev/null || die "go not found (apt-get install golang-go)"
  [[ -f "$PAUSE_SRC" ]] || die "$PAUSE_SRC missing"
  key="$(pause_key)"
  tar="$OUT/pause-rootfs.tar" stamp="$OUT/pause-rootfs.stamp"
  PAUSE_KEY="$key" PAUSE_TAR="$tar"
  if [[ $FORCE == 0 && -f "$tar" && "$(cat "$stamp" 2>/dev/null)" == "$key" ]]; then
    log "pause rootfs up to date (key $key) [$(since "$t0")]"
    return
  fi
  mkdir -p "$PAUSE_BUILD"/{home,gocache,gopath,src,out}
  cp "$PAUSE_SRC" "$PAUSE_BUILD/src/pause.go"
  bin="$PAUSE_BUILD/out/pause"
  rm -f "$bin"
  log "go build pause ($(go_version), static) ..."
  ( cd "$PAUSE_BUILD/src" &&
    env HOME="$PAUSE_BUILD/home" GOCACHE="$PAUSE_BUILD/gocache" GOPATH="$PAUSE_BUILD/gopath" \
        GOMODCACHE="$PAUSE_BUILD/gopath/pkg/mod" GOENV=off GOPROXY=off GOFLAGS="-trimpath -buildvcs=false" \
        CGO_ENABLED=0 GOOS=linux \
        go build -ldflags "-s -w -buildid=" -o "$bin" pause.go
  ) >&2 || die "go build of pause failed"
  if LC_ALL=C grep -aq -e '/lib64/ld-linux' -e '/lib/ld-linux' "$bin"; then
    die "pause binary is not static"
  fi
  rootfs="$PAUSE_BUILD/rootfs"
  rm -rf "$rootfs" && mkdir -p "$rootfs"
  install -m 0755 "$bin" "$rootfs/pause"
  # the same binary is the stand-in for images that cannot be had offline
  # (localcloud/images/standin.py serves this image under their names): the
  # commands their pod specs run lead to it too
  ln -s pause "$rootfs/cluster-autoscaler"
  make_tar "$rootfs" "$tar"
  rm -rf "$rootfs"
  echo "$key" > "$stamp"
  log "pause rootfs built: $(stat -c %s "$bin") byte binary, sha256 $(sha256sum < "$bin" | cut -c1-12) (key $key) [$(since "$t0")]"
}

# --------------------------------------------------------------------------
# 1b. toolbox rootfs
busybox_version() { dpkg-query -W -f='${Version}' busybox-static 2>/dev/null || true; }

ensure_busybox() {
  local t0
  if [[ -n "$(busybox_version)" ]] && dpkg-query -W -f='${Status}' busybox-static 2>/dev/null | grep -q 'ok installed' \
     && [[ -x /bin/busybox ]]; then
    return
  fi
  t0=$(now_ms)
  log "installing Debian's busybox-static with apt-get ..."
  local sudo=()
  [[ $(id -u) == 0 ]] || sudo=(sudo -n)
  "${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y -q busybox-static >/dev/null 2>"$OUT/apt.log" \
    || { cat "$OUT/apt.log" >&2; die "apt-get install busybox-static failed"; }
  rm -f "$OUT/apt.log"
  [[ -x /bin/busybox ]] || die "/bin/busybox missing after installing busybox-static"
  log "busybox-static $(busybox_version) installed [$(since "$t0")]"
}

build_toolbox() {
  local t0 key tar stamp rootfs p missing=() a
  t0=$(now_ms)
  ensure_busybox
  key="$( { echo "toolbox recipe=$TOOLBOX_RECIPE busybox-static=$(busybox_version) arch=$(dpkg --print-architecture)"; } \
          | sha256sum | cut -c1-16)"
  tar="$OUT/toolbox-rootfs.tar" stamp="$OUT/toolbox-rootfs.stamp"
  TOOLBOX_KEY="$key" TOOLBOX_TAR="$tar"
  if [[ $FORCE == 0 && -f "$tar" && "$(cat "$stamp" 2>/dev/null)" == "$key" ]]; then
    log "toolbox rootfs up to date (busybox-static $(busybox_version), key $key) [$(since "$t0")]"
    return
  fi
  rootfs="$OUT/toolbox-rootfs.d"
  rm -rf "$rootfs" && mkdir -p "$rootfs"/{bin,sbin,usr/bin,usr/sbin,etc,tmp,root}
  chmod 1777 "$rootfs/tmp"; chmod 0700 "$rootfs/root"
  install -m 0755 /bin/busybox "$rootfs/bin/busybox"
  # One symlink per applet at busybox's own idea of its path (bin/sh,
  # usr/bin/wget, sbin/ip, ...); "linuxrc" (no directory) is skipped.
  while read -r p; do
    [[ "$p" == */* && "$p" != bin/busybox ]] || continue
    mkdir -p "$rootfs/$(dirname "$p")"
    ln -sfn /bin/busybox "$rootfs/$p"
  done < <(/bin/busybox --list-full)
  for a in sh sleep cat echo wget nc nslookup ls env hostname ip; do
    [[ -L "$rootfs/bin/$a" || -L "$rootfs/sbin/$a" || -L "$rootfs/usr/bin/$a" || -L "$rootfs/usr/sbin/$a" ]] || missing+=("$a")
  done
  ((${#missing[@]} == 0)) || log "WARNING: busybox lacks applets: ${missing[*]}"
  printf '%s\n' 'root:x:0:0:root:/root:/bin/sh' 'nobody:x:65534:65534:nobody:/nonexistent:/bin/false' > "$rootfs/etc/passwd"
  printf '%s\n' 'root:x:0:' 'nogroup:x:65534:' > "$rootfs/etc/group"
  chmod 0644 "$rootfs/etc/passwd" "$rootfs/etc/group"
  make_tar "$rootfs" "$tar"
  rm -rf "$rootfs"
  echo "$key" > "$stamp"
  log "toolbox rootfs built: busybox-static $(busybox_version), $(/bin/busybox --list-full | grep -c /) applets, $(stat -c %s "$tar") byte tar (key $key) [$(since "$t0")]"
}

# --------------------------------------------------------------------------
# Registry queries (plain http)
reg_has_tag() {  # reg_has_tag REPO TAG
  curl -s --max-time 10 "http://$REG/v2/$1/tags/list" | json '.tags[]?' | grep -qxF "$2"
}
reg_config_digest() {  # reg_config_digest REPO TAG -> sha256:... or ""
  curl -sf --max-time 10 \
    -H 'Accept: application/vnd.docker.distribution.manifest.v2+json' \
    -H 'Accept: application/vnd.oci.image.manifest.v1+json' \
    "http://$REG/v2/$1/manifests/$2" | json '.config.digest // empty'
}
reg_label() {  # reg_label REPO TAG -> value of our inputs label or ""
  local d
  reg_has_tag "$1" "$2" || return 0
  d="$(reg_config_digest "$1" "$2")"
  [[ -n "$d" ]] || return 0
  curl -sfL --max-time 10 "http://$REG/v2/$1/blobs/$d" | json ".config.Labels[\"$LABEL_KEY\"] // empty"
}
check_registry() {
  [[ -n "$REG" ]] || return 0
  curl -sf --max-time 5 -o /dev/null "http://$REG/v2/" \
    || die "registry http://$REG/v2/ not answering (SPOTFLOW_REGISTRY=$REG)"
}

# --------------------------------------------------------------------------
# 2. docker backend
label_of() {  # image label -> value ("" when image or label missing)
  docker image inspect --format "{{ index .Config.Labels \"$2\" }}" "$1" 2>/dev/null || true
}
image_id() { docker image inspect --format '{{.Id}}' "$1" 2>/dev/null || true; }

publish_docker() {  # publish_docker NAME TAG KEY TAR --change ... (import changes)
  local name=$1 tag=$2 key=$3 tar=$4; shift 4
  local repo="localcloud/$name" img="localcloud/$name:$tag" rimg="" t0 old id rid
  [[ -n "$REG" ]] && rimg="$REG/localcloud/$name:$tag"
  t0=$(now_ms)
  old="$(image_id "$img")"
  if [[ $FORCE == 0 && "$(label_of "$img" "$LABEL_KEY")" == "$key" ]]; then
    log "$img present locally (key $key) [$(since "$t0")]"
  else
    if [[ $FORCE == 0 && -n "$REG" && "$(reg_label "$repo" "$tag")" == "$key" ]] \
       && docker pull -q "$rimg" >/dev/null 2>&1 && [[ "$(label_of "$rimg" "$LABEL_KEY")" == "$key" ]]; then
      docker tag "$rimg" "$img"
      log "$img pulled back from the registry (key $key) [$(since "$t0")]"
    else
      docker import "$@" --change "LABEL $LABEL_KEY=$key" "$tar" "$img" >/dev/null \
        || die "docker import of $img failed"
      log "$img imported from $(basename "$tar") (key $key) [$(since "$t0")]"
    fi
  fi
  id="$(image_id "$img")"
  log "$img: $(docker image inspect -f '{{.Size}}' "$img") bytes, id ${id#sha256:}"
  if [[ -z "$REG" ]]; then
    log "SPOTFLOW_REGISTRY not set: not pushing $img"
    return
  fi
  docker tag "$img" "$rimg"
  # The previous build, now untagged: drop it (only when nothing else uses it).
  if [[ -n "$old" && "$old" != "$id" && -z "$(docker image inspect -f '{{join .RepoTags ""}}' "$old" 2>/dev/null)" ]]; then
    docker image rm "$old" >/dev/null 2>&1 || true
  fi
  t0=$(now_ms)
  if reg_has_tag "$repo" "$tag" && [[ "$(reg_config_digest "$repo" "$tag")" == "$id" ]]; then
    log "$rimg already in the registry with the same digest: not pushing [$(since "$t0")]"
    docker image rm "$rimg" >/dev/null 2>&1 || true  # the registry's tag is not docker's to keep
    return
  fi
  docker push -q "$rimg" >/dev/null 2>"$OUT/push.log" || { cat "$OUT/push.log" >&2; die "docker push $rimg failed"; }
  rm -f "$OUT/push.log"
  docker image rm "$rimg" >/dev/null 2>&1 || true  # the registry's tag is not docker's to keep
  rid="$(reg_config_digest "$repo" "$tag")"
  [[ "$rid" == "$id" ]] || die "after push the registry serves config $rid for $rimg, expected $id"
  log "pushed $rimg [$(since "$t0")]"
}

# --------------------------------------------------------------------------
# 2'. oci backend (umoci + skopeo), for machines without a docker daemon
publish_oci() {  # publish_oci NAME TAG KEY TAR umoci-config-args...
  local name=$1 tag=$2 key=$3 tar=$4; shift 4
  local layout="$OUT/oci" ref t0 t old
  command -v umoci >/dev/null || die "no docker daemon and no umoci (apt-get install umoci skopeo)"
  ref="$layout:$name-$tag-$key"
  t0=$(now_ms)
  [[ -d "$layout" ]] || umoci init --layout "$layout"
  if [[ $FORCE == 1 ]]; then umoci rm --image "$ref" 2>/dev/null || true; fi
  if umoci stat --image "$ref" >/dev/null 2>&1; then
    log "OCI image $ref present (key $key) [$(since "$t0")]"
  else
    umoci new --image "$ref"
    umoci raw add-layer --image "$ref" --history.created "$EPOCH_ISO" \
      --history.created_by "build-node-images.sh: $(basename "$tar")" "$tar"
    umoci config --image "$ref" --created "$EPOCH_ISO" --history.created "$EPOCH_ISO" \
      --history.created_by "build-node-images.sh: config" \
      --os linux --architecture "$(go env GOARCH 2>/dev/null || dpkg --print-architecture)" \
      --config.label "$LABEL_KEY=$key" "$@"
    # Older builds of the same image: drop their tags and blobs.
    while read -r t; do
      if [[ "$t" == "$name-$tag-"* && "$t" != "$name-$tag-$key" ]]; then umoci rm --image "$layout:$t"; fi
    done < <(umoci ls --layout "$layout")
    umoci gc --layout "$layout"
    log "OCI image $ref built [$(since "$t0")]"
  fi
  if [[ -z "$REG" ]]; then
    log "SPOTFLOW_REGISTRY not set: not pushing $name:$tag"
    return
  fi
  t0=$(now_ms)
  if [[ $FORCE == 0 && "$(reg_label "localcloud/$name" "$tag")" == "$key" ]]; then
    log "$REG/localcloud/$name:$tag already in the registry (key $key): not pushing [$(since "$t0")]"
    return
  fi
  command -v skopeo >/dev/null || die "skopeo not installed (apt-get install skopeo)"
  skopeo copy -q --dest-tls-verify=false --format v2s2 \
    "oci:$ref" "docker://$REG/localcloud/$name:$tag" >&2 || die "skopeo copy $name:$tag failed"
  [[ "$(reg_label "localcloud/$name" "$tag")" == "$key" ]] || die "after push the registry lacks $name:$tag with key $key"
  log "pushed $REG/localcloud/$name:$tag [$(since "$t0")]"
}

# --------------------------------------------------------------------------
check_registry
build_pause
build_toolbox

if [[ "$BACKEND" == auto ]]; then
  if command -v docker >/dev/null && docker info >/dev/null 2>&1; then BACKEND=docker; else BACKEND=oci; fi
fi
log "backend: $BACKEND${REG:+, registry http://$REG}"
case "$BACKEND" in
  docker)
    publish_docker pause 3.2 "$PAUSE_KEY" "$PAUSE_TAR" \
      --change 'ENTRYPOINT ["/pause"]' --change 'USER 65535:65535'
    publish_docker toolbox 1 "$TOOLBOX_KEY" "$TOOLBOX_TAR" \
      --change 'ENV PATH=/usr/sbin:/usr/bin:/sbin:/bin' --change 'CMD ["sh"]'
    ;;
  oci)
    publish_oci pause 3.2 "$PAUSE_KEY" "$PAUSE_TAR" \
      --config.entrypoint /pause --config.user 65535:65535
    publish_oci toolbox 1 "$TOOLBOX_KEY" "$TOOLBOX_TAR" \
      --config.env PATH=/usr/sbin:/usr/bin:/sbin:/bin --config.cmd sh
    ;;
  *) die "SPOTFLOW_NODE_IMAGES_BACKEND must be auto, docker or oci (got $BACKEND)" ;;
esac
log "done [$(since "$T_ALL")]"
