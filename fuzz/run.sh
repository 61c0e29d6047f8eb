#!/usr/bin/env bash
# Runs Tern's fuzz targets one after the other, each from its kept corpus
# (corpus/TARGET, in git) and from seeds made of the project's fixtures and
# lab configs (seeds/TARGET, made here). Exits non-zero as soon as a target
# finds a crash (libFuzzer leaves the input under artifacts/TARGET/).
#
#   run.sh [SECONDS]            every target for SECONDS (default 10)
#   run.sh --runs N             every target for N executions
#   run.sh --merge              minimise corpus/TARGET with what runs found (new/TARGET):
#                               the fewest inputs that cover every edge the three cover
#   -t TARGET (repeatable)      these targets only
#   --keep-going                after a crash, go on with the next target (exit 1 at the end)
#
# Targets are built with debug assertions and overflow checks (Cargo.toml's
# profile, and -a), without a sanitizer: the code is safe Rust, and the
# sanitizer would halve the executions. Inputs a run finds that add coverage
# go to new/TARGET (not in git) until --merge folds them into the corpus.
# Needs the nightly toolchain and cargo-fuzz (lab/setup.sh installs both).
# docs/fuzzing.md has the targets, the long run and its numbers.
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/.." && pwd)
cd "$here"
command -v cargo-fuzz >/dev/null || { echo "run.sh: cargo-fuzz missing: cargo install --locked cargo-fuzz@0.13.2" >&2; exit 2; }

all=(message open update notification rib_import control_request config cni_netconf)
targets=() mode=time secs=10 runs=0 keep_going=0 failed=()
while [ $# -gt 0 ]; do
  case $1 in
    -t) targets+=("$2"); shift 2 ;;
    --runs) mode=runs; runs=$2; shift 2 ;;
    --merge) mode=merge; shift ;;
    --keep-going) keep_going=1; shift ;;
    [0-9]*) secs=$1; shift ;;
    *) echo "usage: run.sh [SECONDS | --runs N | --merge] [-t TARGET]..." >&2; exit 2 ;;
  esac
done
[ ${#targets[@]} -gt 0 ] || targets=("${all[@]}")

# Longest input per target: a few UPDATEs for the RIB, a config file.
max_len() {
  case $1 in
    rib_import) echo 8192 ;;
    config) echo 2048 ;;
    *) echo 4096 ;;
  esac
}

# --- Seeds -----------------------------------------------------------------
# The BGP fixtures (hex, '#' comments) as raw bytes: whole messages for
# `message`, bodies for the others (a selector octet first for `update`,
# records of selector, length and body for `rib_import`).
hex_of() { grep -v '^#' "$1" | tr -d ' \n' | xxd -r -p | od -An -v -tx1 | tr -d ' \n'; }
seed_bgp() {
  local hexfile=$1 name bin type len
  name=$(basename "$(dirname "$hexfile")")-$(basename "$hexfile" .hex)
  bin=$(hex_of "$hexfile")
  type=${bin:36:2}
  printf '%s' "01$bin" | xxd -r -p > "seeds/message/$name"
  case $type in
    01) printf '%s' "${bin:38}" | xxd -r -p > "seeds/open/$name" ;;
    02)
      printf '%s' "01${bin:38}" | xxd -r -p > "seeds/update/$name-4oct"
      printf '%s' "05${bin:38}" | xxd -r -p > "seeds/update/$name-addpath"
      len=$(printf '%04x' $(( (${#bin} - 38) / 2 )))
      for peer in 00 01 02 03; do
        printf '%s' "$peer$len${bin:38}" | xxd -r -p > "seeds/rib_import/$name-$peer"
      done ;;
    03) printf '%s' "${bin:38}" | xxd -r -p > "seeds/notification/$name" ;;
  esac
}
make_seeds() {
  rm -rf seeds
  local t f i=0
  for t in "${all[@]}"; do mkdir -p "seeds/$t"; done
  for f in "$root"/bgpd/wire/tests/fixtures/{frr,gobgp}/*.hex; do seed_bgp "$f"; done
  # Every ternd config of the lab, as it is.
  for f in $(cd "$root" && git ls-files 'lab/*ternd*.conf' 'lab/topologies/frrlines/node*.conf'); do
    i=$((i + 1)); cp "$root/$f" "seeds/config/lab-$i"
  done
  # Every CNI network configuration of the lab, after an ADD environment.
  i=0
  for f in $(cd "$root" && git ls-files 'lab/*10-tern.conf*'); do
    i=$((i + 1))
    { printf 'CNI_COMMAND=ADD\nCNI_CONTAINERID=c%d\nCNI_IFNAME=eth0\nCNI_NETNS=/run/netns/p%d\n' "$i" "$i"
      printf 'CNI_PATH=/opt/cni/bin\nCNI_ARGS=K8S_POD_NAMESPACE=default;K8S_POD_NAME=p\n\n'
      cat "$root/$f"; } > "seeds/cni_netconf/lab-$i"
  done
}

build() {
  cargo +nightly fuzz build -s none -a >/dev/null 2>logs/build.log \
    || { tail -40 logs/build.log >&2; echo "run.sh: the build failed (logs/build.log)" >&2; exit 1; }
}

mkdir -p logs
make_seeds
build

if [ "$mode" = merge ]; then
  for t in "${targets[@]}"; do
    mkdir -p "corpus/$t" "new/$t"
    rm -rf "merged/$t"; mkdir -p "merged/$t"
    cargo +nightly fuzz run -s none -a "$t" -- -set_cover_merge=1 -use_counters=0 -max_len="$(max_len "$t")" \
      "merged/$t" "corpus/$t" "new/$t" "seeds/$t" > "logs/merge-$t.log" 2>&1 \
      || { tail -20 "logs/merge-$t.log" >&2; exit 1; }
    rm -rf "corpus/$t" "new/$t"; mv "merged/$t" "corpus/$t"
    echo "run.sh: $t: $(find "corpus/$t" -type f | wc -l) inputs, $(du -sk --apparent-size "corpus/$t" | cut -f1) KiB"
  done
  rmdir merged 2>/dev/null || true
  exit 0
fi

total=0
for t in "${targets[@]}"; do
  mkdir -p "corpus/$t" "new/$t"
  dict=()
  [ -f "dict/$t.dict" ] && dict=(-dict="dict/$t.dict")
  if [ "$mode" = runs ]; then limit=(-runs="$runs"); what="$runs executions"
  else limit=(-max_total_time="$secs"); what="${secs}s"; fi
  echo "run.sh: fuzzing $t for $what"
  start=$(date +%s)
  if ! cargo +nightly fuzz run -s none -a "$t" "new/$t" "corpus/$t" "seeds/$t" -- \
      "${limit[@]}" -max_len="$(max_len "$t")" "${dict[@]}" -print_final_stats=1 \
      > "logs/run-$t.log" 2>&1; then
    echo "run.sh: $t FAILED; log in fuzz/logs/run-$t.log, inputs under fuzz/artifacts/$t/" >&2
    tail -40 "logs/run-$t.log" >&2
    [ "$keep_going" = 1 ] || exit 1
    failed+=("$t")
  fi
  n=$(sed -n 's/^stat::number_of_executed_units: *//p' "logs/run-$t.log")
  rate=$(sed -n 's/^stat::average_exec_per_sec: *//p' "logs/run-$t.log")
  total=$((total + ${n:-0}))
  echo "run.sh: $t: ${n:-?} executions in $(( $(date +%s) - start ))s (${rate:-?}/s), corpus $(find "corpus/$t" -type f | wc -l) kept + $(find "new/$t" -type f | wc -l) new"
done
if [ ${#failed[@]} -gt 0 ]; then
  echo "run.sh: $total executions; crashes in: ${failed[*]}" >&2
  exit 1
fi
echo "run.sh: all targets ran without a crash: $total executions"
