#!/usr/bin/env bash
# Differential test of `keel check` against `keepalived -t` on a corpus of
# keepalived.conf files (e.g. the configs/ directory of the public
# pqarmitage/keepalived-devel-tools repository; keep that corpus out of this
# repository, it is GPL).
#
# Every config runs through both, inside one throw-away network namespace
# holding dummy (or bridge) interfaces named as the configs name them (so "interface
# doesn't exist" means the same for both), from the config's own directory
# (relative includes), each with a timeout. Prints the agreement figure and a
# table of the disagreements with the first message of each side.
#
# usage: scripts/differential.sh CORPUS_DIR [KEEL_BIN] [OUT_DIR]
#   KEEPALIVED=/usr/sbin/keepalived  TIMEOUT=10 (seconds per run)
# Needs root (namespaces). Results: OUT_DIR/results.tsv
#   config  keepalived_exit  keel_exit  keepalived_first_error  keel_first_error
set -uo pipefail

corpus=${1:?usage: $0 CORPUS_DIR [KEEL_BIN] [OUT_DIR]}
keel=${2:-$(dirname "$0")/../target/debug/keel}
out=${3:-$(mktemp -d /tmp/keel-differential.XXXXXX)}
keepalived=${KEEPALIVED:-/usr/sbin/keepalived}
limit=${TIMEOUT:-10}
keel=$(readlink -f "$keel")
corpus=$(readlink -f "$corpus")
mkdir -p "$out"

[ -x "$keepalived" ] || { echo "no $keepalived (bash scripts/install-deps.sh)" >&2; exit 2; }
[ -x "$keel" ] || { echo "no keel binary at $keel (cargo build -p keel)" >&2; exit 2; }

ns=keel-diff-$$
cleanup() { ip netns del "$ns" 2>/dev/null; }
trap cleanup EXIT
ip netns add "$ns"
ip -n "$ns" link set lo up

# Interface names the configs use: macro values, after `interface`, `dev`,
# `default_interface`, `lvs_sync_daemon_interface`, and the lines of
# track_interface blocks. Only valid kernel names (1-15 chars, no / or :),
# and not VMAC names (vrrp.N): the daemon creates those, and one that
# already exists as another kind of link is an error for keepalived.
mapfile -t ifaces < <(
  find "$corpus" -type f -name '*.conf' -print0 |
    xargs -0 awk '
      /track_interface[ \t]*\{/ { inblk = 1; next }
      inblk && /\}/ { inblk = 0; next }
      inblk { print $1; next }
      # Macro values ($IF=eth0): names hidden behind macros. A value that
      # is no interface only adds an unused one.
      match($0, /\$[A-Za-z_][A-Za-z0-9_]*=[^ \t]+/) {
        v = substr($0, RSTART, RLENGTH); sub(/^[^=]*=/, "", v); print v
      }
      {
        for (i = 1; i < NF; i++)
          if ($i == "interface" || $i == "dev" || $i == "default_interface" ||
              $i == "lvs_sync_daemon_interface") print $(i + 1)
      }' 2>/dev/null |
    grep -E '^[A-Za-z][A-Za-z0-9_.@-]{0,14}$' | grep -vE '^(lo|weight|vrrp\..*)$' | sort -u
)
for i in eth0 eth1 eth2 eth3 bond0 "${ifaces[@]}"; do
  # Bridges: single-ended like dummies, and present on kernels without the
  # dummy module.
  ip -n "$ns" link add "$i" type dummy 2>/dev/null || ip -n "$ns" link add "$i" type bridge 2>/dev/null
  ip -n "$ns" link set "$i" up 2>/dev/null
done
echo "namespace $ns: $(ip -n "$ns" -o link | wc -l) interfaces" >&2

first_error() {
  # keel's first error, else the first line that reads like a complaint.
  { grep -m1 ': error: ' "$1" || grep -m1 'does not implement' "$1" ||
    grep -m1 -iE 'error|unknown|invalid|not |cannot|can.t|missing|requires|only|must|too |ignoring|doesn.t|does not' "$1"; } |
    sed -E 's/^[A-Z][a-z]{2} [A-Z][a-z]{2} +[0-9]+ [0-9:]+ [0-9]+: //; s/\t/ /g' | cut -c1-160
}

results=$out/results.tsv
: > "$results"
n=0
while IFS= read -r -d '' conf; do
  n=$((n + 1))
  dir=$(dirname "$conf")
  rel=${conf#"$corpus"/}
  (cd "$dir" && timeout -k 2 "$limit" ip netns exec "$ns" "$keepalived" -t -l -f "$conf") \
    > "$out/ka.out" 2>&1 < /dev/null
  ka=$?
  (cd "$dir" && timeout -k 2 "$limit" ip netns exec "$ns" "$keel" check -f "$conf") \
    > "$out/keel.out" 2>&1 < /dev/null
  kl=$?
  if [ "$kl" -eq 101 ] || [ "$kl" -ge 124 ]; then
    mkdir -p "$out/keel-failures" && cp "$out/keel.out" "$out/keel-failures/${rel//\//_}.out"
  fi
  printf '%s\t%s\t%s\t%s\t%s\n' "$rel" "$ka" "$kl" "$(first_error "$out/ka.out")" \
    "$(first_error "$out/keel.out")" >> "$results"
done < <(find "$corpus" -type f -name '*.conf' -print0 | sort -z)

total=$(wc -l < "$results")
agree=$(awk -F'\t' '$2 == $3' "$results" | wc -l)
panics=$(awk -F'\t' '$3 == 101 || $3 >= 128' "$results" | wc -l)
timeouts=$(awk -F'\t' '$3 == 124' "$results" | wc -l)
awk -v a="$agree" -v t="$total" -v p="$panics" -v to="$timeouts" 'BEGIN {
  printf "agreement: %d/%d (%.1f%%); keel panics/crashes: %d, timeouts: %d\n", a, t, t ? 100 * a / t : 0, p, to }'
echo
echo "| config | keepalived -t | keel check | keepalived says | keel says |"
echo "|---|---|---|---|---|"
awk -F'\t' '$2 != $3 { gsub(/\|/, "/"); printf "| %s | %s | %s | %s | %s |\n", $1, $2, $3, $4, $5 }' "$results"
echo
echo "results: $results" >&2
