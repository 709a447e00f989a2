#!/usr/bin/env bash
# Runs every cargo-fuzz target in fuzz/ for a bounded time each.
#
#   scripts/fuzz.sh [SECONDS_PER_TARGET] [extra libFuzzer args...]
#
# Installs cargo-fuzz (cargo install --locked) when it is missing. Only a
# stable toolchain is assumed:
# RUSTC_BOOTSTRAP=1 lets it accept the nightly-only sanitizer flags that
# cargo-fuzz passes. Targets are discovered from fuzz/Cargo.toml, so adding a
# [[bin]] there is all a new target needs (optional seed inputs go in
# fuzz/seeds/<target>/). Crashes land in fuzz/artifacts/<target>/.
set -euo pipefail

secs="${1:-60}"
shift || true
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root/fuzz"

if ! cargo fuzz --version >/dev/null 2>&1; then
    echo "== installing cargo-fuzz"
    cargo install cargo-fuzz --locked
fi

export RUSTC_BOOTSTRAP=1
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$root/fuzz/target}"

mapfile -t targets < <(cargo fuzz list)
# FUZZ_TARGETS="a b" runs only those.
if [ -n "${FUZZ_TARGETS:-}" ]; then read -r -a targets <<<"$FUZZ_TARGETS"; fi
if [ "${#targets[@]}" -eq 0 ]; then
    echo "no fuzz targets found in fuzz/Cargo.toml" >&2
    exit 2
fi

# One build for every target first, so the time limits below are fuzzing time.
cargo fuzz build

status=0
for t in "${targets[@]}"; do
    mkdir -p "corpus/$t"
    dirs=("corpus/$t")
    if [ -d "seeds/$t" ]; then dirs+=("seeds/$t"); fi
    echo "== fuzzing $t for ${secs}s"
    # -rss_limit_mb makes a runaway allocation a reported failure, not an OOM kill.
    if ! cargo fuzz run "$t" "${dirs[@]}" -- -max_total_time="$secs" -rss_limit_mb=2048 "$@"; then
        echo "!! $t found a failure (see fuzz/artifacts/$t/)" >&2
        status=1
    fi
done
exit "$status"
