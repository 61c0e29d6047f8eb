#!/usr/bin/env bash
# Runs every fuzz target of tern-bgp-wire for N seconds each (default 10),
# seeding the corpora with the captured fixtures. Exits non-zero as soon as a
# target finds a crash (libFuzzer leaves the input under artifacts/TARGET/).
# Needs the nightly toolchain and cargo-fuzz (`cargo install cargo-fuzz --locked`).
set -euo pipefail

secs=${1:-10}
here=$(cd "$(dirname "$0")" && pwd)
cd "$here"
command -v cargo-fuzz >/dev/null || { echo "run.sh: cargo-fuzz missing: cargo install cargo-fuzz --locked" >&2; exit 2; }

targets=(message open update notification)

# Seed corpora from the fixtures (hex, '#' comments) as raw bytes: whole
# messages for `message`, bodies for the others (with a selector octet for
# `update`).
seed() {
  local target=$1 hexfile=$2 name
  name=$(basename "$(dirname "$hexfile")")-$(basename "$hexfile" .hex)
  local bin
  bin=$(grep -v '^#' "$hexfile" | tr -d ' \n' | xxd -r -p | od -An -v -tx1 | tr -d ' \n')
  local type=${bin:36:2}
  mkdir -p "corpus/$target"
  case $target in
    message) printf '%s' "01$bin" | xxd -r -p > "corpus/$target/$name" ;;
    open) [ "$type" = 01 ] && printf '%s' "${bin:38}" | xxd -r -p > "corpus/$target/$name" ;;
    update)
      if [ "$type" = 02 ]; then
        printf '%s' "01${bin:38}" | xxd -r -p > "corpus/$target/$name-4oct"
        printf '%s' "05${bin:38}" | xxd -r -p > "corpus/$target/$name-addpath"
      fi ;;
    notification) [ "$type" = 03 ] && printf '%s' "${bin:38}" | xxd -r -p > "corpus/$target/$name" ;;
  esac
  return 0
}
for t in "${targets[@]}"; do
  for f in ../tests/fixtures/frr/*.hex ../tests/fixtures/gobgp/*.hex; do seed "$t" "$f"; done
done

for t in "${targets[@]}"; do
  echo "run.sh: fuzzing $t for ${secs}s"
  if ! cargo +nightly fuzz run "$t" "corpus/$t" -- -max_total_time="$secs" -print_final_stats=1 \
      > "run-$t.log" 2>&1; then
    echo "run.sh: $t FAILED; log in fuzz/run-$t.log, inputs under fuzz/artifacts/$t/" >&2
    tail -40 "run-$t.log" >&2
    exit 1
  fi
  grep -E '^(stat::number_of_executed_units|Done)' "run-$t.log" || true
done
echo "run.sh: all targets ran ${secs}s without a crash"
