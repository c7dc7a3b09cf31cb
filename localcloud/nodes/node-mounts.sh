#!/bin/sh
# node-mounts.sh NODE_ROOT COMMAND...
#
# Give one node (its containerd and kubelet, which join this mount namespace)
# private copies of the host paths they write outside their own directories,
# then exec COMMAND. Run under `ip netns exec`, which gives a new mount
# namespace; making it private first means nothing mounted here (these binds,
# the pods' volumes) ever reaches the host, and it all goes when the node's
# processes do.
#   /run      containerd 1.6's shim sockets (/run/containerd/s), runc state, xtables lock
#   /var/lib  the kubelet's device-plugin socket (/var/lib/kubelet/device-plugins), CNI results
#   /var/log  pod and container logs (/var/log/pods, /var/log/containers)
# and three host sysctls the kubelet sets on every start (vm.overcommit_memory=1,
# kernel.panic=10, kernel.panic_on_oops=1): files holding those values are bound
# over them, so the kubelet finds them set and the host's stay as they were.
set -eu
root=$1
shift
mount --make-rprivate /
# `ip netns exec` mounted a fresh /sys (the namespace's network devices) and
# so dropped the host's cgroup hierarchies: mount them again, as the host has
# them ($root/cgroup-mounts: "dir options" per line, read from the host's
# /proc/self/mounts), so containers are accounted where the host's are.
if ! mountpoint -q /sys/fs/cgroup; then
  mount -t tmpfs -o mode=755 cgroup_root /sys/fs/cgroup
  while read -r dir opts; do
    mkdir -p "$dir"
    mountpoint -q "$dir" || mount -t cgroup -o "$opts" cgroup "$dir"
  done <"$root/cgroup-mounts"
fi
for d in /run /var/lib /var/log; do
  mkdir -p "$root$d"
  mount --bind "$root$d" "$d"
done
mkdir -p /var/lib/kubelet/device-plugins /var/log/pods /var/log/containers
for s in vm/overcommit_memory=1 kernel/panic=10 kernel/panic_on_oops=1; do
  key=${s%%=*}
  file="$root/sysctl/$(echo "$key" | tr / .)"
  mkdir -p "$root/sysctl"
  echo "${s#*=}" >"$file"
  mount --bind "$file" "/proc/sys/$key"
done
exec "$@"
