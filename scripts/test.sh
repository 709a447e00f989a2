#!/usr/bin/env bash
# The whole test suite on a fresh machine: installs what the tests need, then
# runs formatting, lints and every test (unit, simulator, namespace lab).
# Needs root (the lab tests build network namespaces).
set -euo pipefail
cd "$(dirname "$0")/.."

bash scripts/install-deps.sh

export CARGO_TERM_COLOR=never
step() { printf '\n==> %s\n' "$*"; }

step "cargo fmt --check"
cargo fmt --all -- --check

# `keel lab demo` (the lab feature) is built and tested too; the shipped
# binary leaves it out.
FEATURES=(--features keel/lab)

step "cargo clippy"
cargo clippy --workspace --all-targets --locked "${FEATURES[@]}" -- -D warnings

step "architecture invariants (pure cores, no clock or file reads)"
/usr/bin/python3 scripts/check-invariants.py

step "cargo build"
cargo build --workspace --all-targets --locked "${FEATURES[@]}"

step "IPVS test VM (the host kernel may lack IPVS; keel-ipvs's tests boot it)"
bash scripts/ipvs-vm.sh setup

step "tests"
# Lab tests build their own uniquely named namespaces, so they run in parallel.
status=0
cargo test --workspace --locked --no-fail-fast "${FEATURES[@]}" 2>&1 | tee target/test-output.txt || status=$?
awk '/^test result:/ { p += $4; f += $6; i += $8 } END { printf "%d passed, %d failed, %d skipped\n", p, f, i }' target/test-output.txt
exit "$status"
