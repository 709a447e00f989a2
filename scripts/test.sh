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

step "size limits (files <= 800 lines, functions <= 120)"
/usr/bin/python3 scripts/check-size.py

step "cargo build"
cargo build --workspace --all-targets --locked "${FEATURES[@]}"

step "Debian package: build, install into a throw-away root, run keel, render man keel"
# The debug build is packaged (cargo deb --profile dev --no-build), with fast
# compression: a release build of the whole tree takes minutes more on CI's
# two cores, and what this step checks (the package's contents and metadata,
# and that they work) depends on neither. scripts/package-deb.sh builds keel
# without the `lab` feature.
deb=$(bash scripts/package-deb.sh --profile dev --fast | tail -n 1)
debroot=$(mktemp -d)
# The root has its own dpkg database, so the host's keepalived (the interop
# tests' peer) is no conflict, and only a shell for the maintainer scripts,
# which dpkg runs chrooted into it: deb-systemd-helper is missing there, so
# the postinst enables nothing, on the host least of all. --force-depends:
# no libc6 is registered in that database.
mkdir -p "$debroot/var/lib/dpkg/info" "$debroot/var/lib/dpkg/updates" "$debroot/bin"
touch "$debroot/var/lib/dpkg/status" "$debroot/var/lib/dpkg/available"
cp /usr/bin/dash "$debroot/bin/sh"
for lib in $(ldd /usr/bin/dash | grep -o '/[^ ]*'); do
  mkdir -p "$debroot$(dirname "$lib")" && cp "$lib" "$debroot$lib"
done
dpkg --root "$debroot" --force-depends -i "$deb" >"$debroot/dpkg.log" 2>&1 || { cat "$debroot/dpkg.log"; exit 1; }
[ "$(dpkg-query --root "$debroot" -W -f '${Status}' keel)" = "install ok installed" ]
[ "$(dpkg-deb -f "$deb" Conflicts)" = keepalived ]
"$debroot/usr/sbin/keel" --version
if "$debroot/usr/sbin/keel" lab demo --help >/dev/null 2>&1; then
  echo "the packaged keel carries the lab" >&2; exit 1
fi
MANWIDTH=80 man -l "$debroot/usr/share/man/man8/keel.8.gz" >"$debroot/keel.8.txt"
grep -q "keepalived-compatible VRRP" "$debroot/keel.8.txt"
echo "installed $(basename "$deb"); man keel renders"
rm -rf "$debroot"

step "IPVS test VM (the host kernel may lack IPVS; keel-ipvs's tests boot it)"
bash scripts/ipvs-vm.sh setup

step "fuzz smoke (every target a few seconds on its committed seeds)"
# The sanitizer build lives outside the checkout (like the IPVS VM's cache), so
# a fresh clone on the same machine rebuilds only keel's own crates; a crash
# fails the suite, after the tests have run.
fuzz_status=0
CARGO_TARGET_DIR="${KEEL_FUZZ_TARGET:-/var/cache/keel-fuzz/target}" \
  nice -n 19 bash scripts/fuzz.sh "${FUZZ_SMOKE_SECS:-5}" || fuzz_status=$?

step "tests"
# Lab tests build their own uniquely named namespaces, so they run in parallel.
status=0
cargo test --workspace --locked --no-fail-fast "${FEATURES[@]}" 2>&1 | tee target/test-output.txt || status=$?
awk '/^test result:/ { p += $4; f += $6; i += $8 } END { printf "%d passed, %d failed, %d skipped\n", p, f, i }' target/test-output.txt
if [ "$fuzz_status" -ne 0 ]; then echo "fuzz smoke failed (see fuzz/artifacts/)"; fi
[ "$status" -eq 0 ] && status=$fuzz_status
exit "$status"
