#!/usr/bin/env bash
# Tern's one set-up script: installs every system package, toolchain piece and
# kernel mount the project and its tests use. Idempotent: a second run only
# checks and returns in seconds. Stops with a message naming what is missing.
set -euo pipefail

say()  { printf '[setup] %s\n' "$*"; }
fail() { printf '[setup] FAILED: %s\n' "$*" >&2; exit 1; }

[ "$(id -u)" -eq 0 ] || fail "must run as root (netns, bpf and apt need it)"

# Debian packages: the real peers (frr, gobgpd, bird2, exabgp), traffic and
# capture tools (bpftool: the soak counts map entries), what the lab runner
# itself calls, and the container runtime
# that tests tern-cni as users run it (podman with runc, Debian's CNI
# plugins, busybox-static for the containers' root filesystem).
APT_PACKAGES=(
  frr gobgpd bird2 exabgp iperf3 iputils-ping tcpdump tshark jq
  iproute2 procps psmisc nftables iptables ethtool
  containernetworking-plugins tmux xxd bpftool
  podman runc busybox-static
)

missing=()
for p in "${APT_PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ "${#missing[@]}" -gt 0 ]; then
  say "installing Debian packages: ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  # Do not let package scripts start system-wide daemons (frr, bird, gobgpd):
  # the lab starts its own copies inside namespaces.
  policy=/usr/sbin/policy-rc.d
  had_policy=0; [ -e "$policy" ] && had_policy=1
  if [ "$had_policy" -eq 0 ]; then printf '#!/bin/sh\nexit 101\n' > "$policy"; chmod +x "$policy"; fi
  trap '[ "$had_policy" -eq 0 ] && rm -f "$policy"' EXIT
  apt-get update -qq || fail "apt-get update failed (is the Debian mirror reachable?)"
  echo "wireshark-common wireshark-common/install-setuid boolean false" | debconf-set-selections
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null \
    || fail "apt-get install failed for: ${missing[*]}"
  for p in "${missing[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" \
      || fail "Debian package $p did not install"
  done
fi
for b in vtysh /usr/lib/frr/zebra /usr/lib/frr/bgpd gobgpd gobgp bird birdc tshark ping iperf3 jq ip \
  podman runc /bin/busybox /usr/lib/cni/portmap /usr/lib/cni/bandwidth; do
  command -v "$b" >/dev/null 2>&1 || [ -x "$b" ] || fail "tool $b is missing after install"
done

# Rust: stable for userspace, nightly + rust-src for the eBPF crate.
command -v cargo >/dev/null || fail "cargo not found (rustup's stable toolchain is expected)"
command -v rustup >/dev/null || fail "rustup not found"
rustup toolchain list | grep -q '^nightly' || rustup toolchain install nightly --profile minimal \
  || fail "rustup could not install the nightly toolchain"
if ! rustup component list --toolchain nightly --installed 2>/dev/null | grep -q '^rust-src'; then
  say "adding rust-src to nightly"
  rustup component add rust-src --toolchain nightly || fail "rust-src for nightly did not install"
fi

# bpf-linker, linked against the nightly toolchain's own libLLVM (exact match,
# no apt LLVM needed). See shared/TOOLCHAIN.md for why the version is pinned.
if ! bpf-linker --version >/dev/null 2>&1; then
  say "building bpf-linker 0.13.0 against nightly's LLVM (about a minute)"
  sysroot=$(rustc +nightly --print sysroot) || fail "nightly rustc not runnable"
  # The real shared object (not the small linker script beside it).
  llvm_so=""
  for f in "$sysroot"/lib/libLLVM*.so*; do
    if head -c 4 "$f" | grep -q 'ELF'; then llvm_so=$f; break; fi
  done
  [ -n "$llvm_so" ] || fail "nightly's libLLVM shared object not found under $sysroot/lib"
  full_ver=$(rustc +nightly -vV | sed -n 's/^LLVM version: //p')
  [ -n "$full_ver" ] || fail "cannot read nightly's LLVM version"
  # A lasting prefix: bpf-linker keeps it as its rpath.
  prefix="${CARGO_HOME:-$HOME/.cargo}/tern-llvm-prefix"
  mkdir -p "$prefix/bin" "$prefix/lib"
  printf '#!/bin/sh\necho %s\n' "$full_ver" > "$prefix/bin/llvm-config"
  chmod +x "$prefix/bin/llvm-config"
  ln -sf "$llvm_so" "$prefix/lib/libLLVM.so"
  ln -sf "$llvm_so" "$prefix/lib/$(basename "$llvm_so")"
  LLVM_PREFIX="$prefix" \
    cargo install --locked bpf-linker@0.13.0 --no-default-features --features llvm-22 \
    || fail "bpf-linker build failed (LLVM $full_ver from $llvm_so)"
  bpf-linker --version >/dev/null || fail "bpf-linker installed but does not run"
fi

# bpffs: not mounted at boot on these machines.
if ! mount | grep -q ' /sys/fs/bpf type bpf'; then
  mkdir -p /sys/fs/bpf
  mount -t bpf bpf /sys/fs/bpf || fail "cannot mount bpffs on /sys/fs/bpf"
fi

# Kernel features the tests rely on.
[ -r /sys/kernel/btf/vmlinux ] || fail "kernel BTF (/sys/kernel/btf/vmlinux) is missing"
ip netns list >/dev/null 2>&1 || fail "ip netns does not work"

# Name Tern's route protocol id (tern-netlink's TERN_PROTO) for `ip route`.
mkdir -p /etc/iproute2/rt_protos.d
[ -f /etc/iproute2/rt_protos.d/tern.conf ] || printf '202\ttern\n' > /etc/iproute2/rt_protos.d/tern.conf

# cargo-fuzz runs the fuzz targets (fuzz/run.sh).
if ! cargo fuzz --version >/dev/null 2>&1; then
  say "installing cargo-fuzz (about two minutes)"
  cargo install --locked cargo-fuzz@0.13.2 || fail "cargo-fuzz did not install"
fi

# The 'tern' group may use ternd's control socket (as 'frrvty' for vtysh).
getent group tern >/dev/null || groupadd --system tern || fail "cannot create group tern"

say "ok"
