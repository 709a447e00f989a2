#!/usr/bin/env bash
# Builds keel's Debian package with cargo-deb: /usr/sbin/keel (without the
# `lab` feature), the systemd unit from dist/, man pages and bash/zsh/fish
# completions generated from the command line (`keel generate-assets`), and
# dist/README.md as README.Debian. Metadata: [package.metadata.deb] in
# crates/keel/Cargo.toml.
#
#   scripts/package-deb.sh                 # release build
#   scripts/package-deb.sh --profile dev --fast
#       # what CI packages: the debug build (a release build takes minutes
#       # more) and quicker, weaker compression (12 s instead of 50 s)
#
# Prints the path of the .deb on its last line.
set -euo pipefail
cd "$(dirname "$0")/.."

profile=release
fast=()
while [ $# -gt 0 ]; do
  case "$1" in
    --profile) profile=$2; shift 2 ;;
    --fast) fast=(--fast); shift ;;
    *) echo "package-deb: unknown argument $1" >&2; exit 2 ;;
  esac
done
case "$profile" in
  dev) profile_dir=debug ;;
  *) profile_dir=$profile ;;
esac

# Pinned: later cargo-deb releases announce refusing `--profile dev`, which
# CI packages.
CARGO_DEB_VERSION=3.8.0
if [[ "$(cargo deb --version 2>/dev/null)" != *" $CARGO_DEB_VERSION" ]]; then
  echo "package-deb: installing cargo-deb $CARGO_DEB_VERSION (a few minutes, once)" >&2
  nice -n 10 cargo install cargo-deb --locked --version "$CARGO_DEB_VERSION"
fi

target_dir=$(cargo metadata --format-version 1 --no-deps --locked |
  /usr/bin/python3 -c 'import json, sys; print(json.load(sys.stdin)["target_directory"])')
out=$target_dir/$profile_dir

# Only the keel package and its default features: the shipped binary leaves
# out `keel lab` (and the namespace lab it pulls in).
nice -n 10 cargo build -p keel --bin keel --locked --profile "$profile" >&2

rm -rf "$out/keel-assets"
"$out/keel" generate-assets "$out/keel-assets" >/dev/null
# Debian policy: man pages compressed; -n keeps the package reproducible.
gzip -9n "$out"/keel-assets/man/*.8

mkdir -p "$target_dir/debian"
# --no-build: package exactly the binary built and documented above.
deb=$(nice -n 10 cargo deb -p keel --no-build --profile "$profile" --locked "${fast[@]}" \
  --output "$target_dir/debian/" | tail -n 1)
echo "$deb"
