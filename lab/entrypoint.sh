#!/bin/sh
# Entrypoint of the tern:latest image (lab/Dockerfile): mounts bpffs when the
# container has none (ternd pins its eBPF objects there), then runs ternd in
# the foreground with the configuration containerlab binds in.
set -eu
if ! grep -qs ' /sys/fs/bpf bpf ' /proc/mounts; then
    mkdir -p /sys/fs/bpf
    mount -t bpf bpf /sys/fs/bpf
fi
exec ternd -f /etc/tern/ternd.conf "$@"
