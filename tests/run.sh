#!/usr/bin/env bash
# Every test of Tern, from a bare machine: set-up, format and lint gates, the
# build, unit / eBPF (BPF_PROG_TEST_RUN) / netns / lab tests, and a short fuzz
# run of every fuzz target (BGP decoders, RIB import, config, control
# requests, CNI configuration). Needs root. Exits non-zero on any failure.
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

step "fuzzing every target from its kept corpus (10 s each; a crash fails)"
bash fuzz/run.sh 10
step "all tests passed"
