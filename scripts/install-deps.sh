#!/usr/bin/env bash
# Installs every system package the tests, the demo and the benches use, then
# checks that each tool and Python module is really there (scripts/check-deps.sh).
# Idempotent. Everything comes from Debian's packages: Python modules are
# installed for /usr/bin/python3 (the interpreter the tests start by path),
# never with pip, whose python3 on PATH may be another interpreter (pyenv).
# scripts/ipvs-vm.sh fetches what the IPVS VM needs itself.
set -euo pipefail
cd "$(dirname "$0")/.."

# One package per line: the commands (and Python modules) each one provides
# are listed in scripts/check-deps.sh.
need=(
  iproute2        # ip, ip netns, bridge
  iputils-ping    # ping
  arping          # arping (the demo, the lab tests)
  procps          # sysctl, ps
  psmisc          # killall -0 (the seed's tracked process check)
  curl            # curl through the VIPs
  tcpdump         # captures in the lab tests
  nftables        # nft (the nftables data plane)
  nginx-light     # real servers in the lab
  keepalived      # interop peer and the benchmarks' reference
  frr             # FRR vrrpd/zebra interop peer
  bash
  python3         # /usr/bin/python3: http.server in the lab tests
  python3-aiosmtpd  # the SMTP sink of the mail tests
  linux-perf      # perf, for the benchmarks' profiles
  man-db          # man -l: the packaged man pages render (scripts/test.sh, cli_assets)
  dpkg-dev        # dpkg-shlibdeps: cargo-deb's shared-library Depends
  binutils        # strip: cargo-deb strips the packaged binary
)
missing=()
for p in "${need[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  if [ "$(id -u)" -ne 0 ]; then
    echo "install-deps: need root to install: ${missing[*]}" >&2
    exit 1
  fi
  export DEBIAN_FRONTEND=noninteractive
  # Package scripts must not start daemons (keepalived, nginx, frr) in the
  # root namespace: the tests start their own inside namespaces.
  [ -e /usr/sbin/policy-rc.d ] || { printf "#!/bin/sh\nexit 101\n" > /usr/sbin/policy-rc.d; chmod +x /usr/sbin/policy-rc.d; }
  apt-get -o DPkg::Lock::Timeout=300 update -qq
  apt-get -o DPkg::Lock::Timeout=300 install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi
exec bash scripts/check-deps.sh
