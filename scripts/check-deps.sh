#!/usr/bin/env bash
# Fails early, one line per missing piece naming its Debian package, when a
# tool or Python module that the tests, the demo or the benches run is not
# installed. scripts/install-deps.sh installs all of them and then runs this;
# CI (scripts/test.sh) runs it before building anything.
set -uo pipefail

# command  package
tools=(
  "ip iproute2"
  "bridge iproute2"
  "ping iputils-ping"
  "arping arping"
  "sysctl procps"
  "killall psmisc"
  "curl curl"
  "tcpdump tcpdump"
  "nft nftables"
  "nginx nginx-light"
  "keepalived keepalived"
  "/usr/lib/frr/zebra frr"
  "/usr/lib/frr/vrrpd frr"
  "vtysh frr"
  "bash bash"
  "/usr/bin/python3 python3"
  "perf linux-perf"
  "man man-db"
  "dpkg-deb dpkg"
  "dpkg-shlibdeps dpkg-dev"
  "strip binutils"
)
# module  package (imported by /usr/bin/python3, which the tests start by path)
modules=(
  "aiosmtpd python3-aiosmtpd"
  "http.server python3"
)

PATH=$PATH:/usr/sbin:/sbin
bad=0
for t in "${tools[@]}"; do
  cmd=${t% *} pkg=${t#* }
  if ! command -v "$cmd" >/dev/null 2>&1; then
    echo "check-deps: missing command $cmd (Debian package $pkg; scripts/install-deps.sh installs it)" >&2
    bad=1
  fi
done
for m in "${modules[@]}"; do
  mod=${m% *} pkg=${m#* }
  if ! /usr/bin/python3 -c "import $mod" >/dev/null 2>&1; then
    echo "check-deps: /usr/bin/python3 cannot import $mod (Debian package $pkg; scripts/install-deps.sh installs it)" >&2
    bad=1
  fi
done
[ "$bad" -eq 0 ] || exit 1
echo "check-deps: every tool and Python module the tests use is installed"
