#!/usr/bin/env bash
# keel's main job on the built-in example: the tutorial's two-node VRRP setup
# (examples/seed/s1-node*.conf), then its load balancer (s3-node*.conf: LVS
# direct routing to two nginx web servers with HTTP checks and a sorry page),
# running on real interfaces in throw-away network namespaces. Needs root.
# Leaves nothing behind.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install-deps.sh
cargo build --locked -q -p keel --features lab
echo "== keel check on the tutorial's configs"
for f in examples/seed/s1-node1.conf examples/seed/s1-node2.conf \
  examples/seed/s3-node1.conf examples/seed/s3-node2.conf; do
  ./target/debug/keel check --offline -f "$f"
done
echo
exec ./target/debug/keel lab demo
