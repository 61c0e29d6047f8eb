#!/usr/bin/env bash
# Every test of Tern, from a bare machine: set-up, format and lint gates, the
# build, unit / eBPF (BPF_PROG_TEST_RUN) / netns / lab tests, and a short fuzz
# run of the BGP decoders. Needs root. Exits non-zero on any failure.
#   bash tests/run.sh
set -euo pipefail
cd "$(dirname "$0")/.."
step() { printf '\n[tests] %s\n' "$*"; }

step "set-up (lab/setup.sh)"
bash lab/setup.sh

step "cargo fmt --check"
cargo fmt --all -- --check

step "cargo clippy --all-targets -- -D warnings"
cargo clippy --all-targets --quiet -- -D warnings

step "cargo build --bins"
cargo build --bins --quiet

step "cargo test"
cargo test --no-fail-fast

if [ -x bgpd/wire/fuzz/run.sh ]; then
  step "fuzzing the BGP decoders (10 s per target)"
  bash bgpd/wire/fuzz/run.sh 10
fi
step "all tests passed"
