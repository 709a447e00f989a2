#!/usr/bin/env bash
# ipvs-vm.sh - run a command inside a throwaway QEMU VM whose kernel has IPVS.
#
# keel programs IPVS over generic netlink (crates/keel-ipvs). Build and CI
# hosts often run kernels without CONFIG_IP_VS, so the IPVS tests run inside
# Debian's stock kernel, which ships ip_vs*.ko, booted under QEMU. Without
# hardware virtualisation (or on a PVM host whose /dev/kvm cannot run a stock
# kernel) QEMU emulates the CPU (TCG); boot to command is still about 3 s.
#
# What it fetches (into $KEEL_IPVS_VM_CACHE, never installed system-wide):
#   Debian's linux-image-<ver>-amd64 .deb (unpacked, hardware drivers pruned,
#   depmod'ed, vmlinux extracted for a fast PVH boot), qemu-system-x86 +
#   qemu-system-common + qemu-system-data + seabios .debs (unpacked; only
#   their shared libraries are apt-installed, with --no-remove), and
#   busybox-static. apt-installed if missing: ipvsadm, kmod, cpio, xz-utils.
#   A qemu-system-x86_64 already on PATH, or $KEEL_IPVS_VM_QEMU, is used instead
#   of the unpacked one.
#
# How the guest is laid out:
#   * initramfs (cached, ~3 MB): static busybox, the virtio/9p/overlay/ip_vs
#     modules, ipvsadm plus its shared libraries, and an /init written below.
#   * the host's / is shared read-only over virtio-9p and used as the lower
#     layer of an overlayfs whose upper layer is a tmpfs. The command is
#     chrooted into that, so host binaries (ipvsadm, ip, cargo test binaries,
#     their shared libraries) run unchanged at the same paths and in the same
#     working directory; anything they write is thrown away with the VM...
#   * ...except under directories passed with --rw DIR, which are separate
#     read-write 9p shares (writes land on the host).
#   * the guest kernel's modules are mounted at /lib/modules/<ver> both in the
#     initramfs and in the chroot, so kernel auto-loading (request_module, e.g.
#     `ip link add type macvlan`) and `modprobe` inside the command both work.
#   * the command's stdout+stderr travel over a virtio-serial port to this
#     script's stdout; the guest console goes to a log file that is printed
#     only when the VM fails. The guest has no network to the outside.
#
# Usage:
#   scripts/ipvs-vm.sh setup             fetch/unpack everything, build the initramfs
#   scripts/ipvs-vm.sh run [OPTS] [--] CMD...
#                                        boot, run CMD as root in the guest in the
#                                        current directory, exit with CMD's status.
#                                        One CMD word is a shell command line
#                                        (sh -c); several are an argv run as is,
#                                        so `run --` works as a cargo target runner
#   scripts/ipvs-vm.sh selftest          boot the bare initramfs (no shares) and
#                                        program IPVS with its own ipvsadm
#   scripts/ipvs-vm.sh info              print the kernel/initramfs/qemu in use
#   scripts/ipvs-vm.sh clean             remove the cache directory
#
# Examples:
#   scripts/ipvs-vm.sh run 'ipvsadm -A -t 192.0.2.1:80 -s rr; ipvsadm -ln'
#   scripts/ipvs-vm.sh run -- target/debug/deps/vm-0123abcd --exact some_test
#   CARGO_TARGET_X86_64_UNKNOWN_LINUX_GNU_RUNNER="$PWD/scripts/ipvs-vm.sh run --" \
#     cargo test -p keel-ipvs --test vm
#
# run options:
#   --rw DIR         share DIR read-write at the same path (repeatable)
#   --env NAME[=VAL] pass an environment variable into the guest (repeatable);
#                    PATH, HOME, RUST_BACKTRACE, RUST_LOG, RUST_TEST_THREADS,
#                    RUST_MIN_STACK, NO_COLOR, CARGO_TERM_COLOR and TERM are
#                    passed if set; KEEL_IPVS_VM=1 is set in the guest
#   --mem MB         guest memory (default $KEEL_IPVS_VM_MEM or 2048)
#   --smp N          guest CPUs (default $KEEL_IPVS_VM_SMP or the host's core count, max 4)
#   --timeout SEC    wall-clock limit for the whole VM (default $KEEL_IPVS_VM_TIMEOUT or 600)
#   --preload MODS   comma-separated modules to modprobe before CMD
#                    (default: ip_vs and all ip_vs schedulers)
#   --keep-log FILE  copy the guest console log to FILE
#
# Exit status of `run`: CMD's own status; 124 if the VM hit --timeout;
# 125 if the VM or the setup failed before CMD reported a status (the guest
# console is printed to stderr).
#
# Environment:
#   KEEL_IPVS_VM_CACHE   cache dir (default /var/cache/keel-ipvs-vm; for a user
#                        who cannot write there, ~/.cache/keel-ipvs-vm)
#   KEEL_IPVS_VM_ACCEL   tcg | kvm | auto (default auto: kvm only if the CPU
#                        shows vmx/svm and /dev/kvm is writable; otherwise tcg)
#   KEEL_IPVS_VM_CPU     QEMU -cpu model (default max for tcg, host for kvm)
#   KEEL_IPVS_VM_QEMU    path of a qemu-system-x86_64 to use
#   KEEL_IPVS_VM_NO_PVH=1  boot the compressed bzImage instead of vmlinux (slower)
#   KEEL_IPVS_VM_VERBOSE=1  print progress and timings to stderr
#
# Everything is idempotent: the first `run`/`selftest` does `setup` itself;
# concurrent runs are fine (setup is serialised with flock).
set -euo pipefail

SELF=$(readlink -f "${BASH_SOURCE[0]}")
CACHE=${KEEL_IPVS_VM_CACHE:-/var/cache/keel-ipvs-vm}
# Without root the system cache may be unwritable: fall back to the user's
# (packages that are missing still need root to install).
if [ -z "${KEEL_IPVS_VM_CACHE:-}" ] && [ "$(id -u)" != 0 ] \
   && ! { mkdir -p "$CACHE" 2>/dev/null && [ -w "$CACHE" ]; }; then
  CACHE=${XDG_CACHE_HOME:-$HOME/.cache}/keel-ipvs-vm
fi
VERBOSE=${KEEL_IPVS_VM_VERBOSE:-0}
MSIZE=512000
EARLY_MODULES=(virtio_pci virtio_console 9pnet_virtio 9p overlay
               ip_vs ip_vs_rr ip_vs_wrr ip_vs_lc ip_vs_wlc ip_vs_sh ip_vs_mh
               ip_vs_sed ip_vs_nq ip_vs_dh ip_vs_lblc ip_vs_lblcr ip_vs_fo ip_vs_ovf
               dummy veth)
# ip_vs_twos exists from Linux 6.2 on; its modprobe fails quietly on older kernels
DEFAULT_PRELOAD="ip_vs,ip_vs_rr,ip_vs_wrr,ip_vs_lc,ip_vs_wlc,ip_vs_sh,ip_vs_mh,ip_vs_sed,ip_vs_nq,ip_vs_dh,ip_vs_lblc,ip_vs_lblcr,ip_vs_fo,ip_vs_ovf,ip_vs_twos,ip_vs_pe_sip"
PASS_ENV=(RUST_BACKTRACE RUST_LOG RUST_TEST_THREADS RUST_MIN_STACK NO_COLOR CARGO_TERM_COLOR TERM)

# quote one word for a POSIX shell (the guest runs dash)
sh_quote() { printf "'%s'" "$(printf '%s' "$1" | sed "s/'/'\\\\''/g")"; }

log() { if [ "$VERBOSE" = 1 ]; then echo "keel-ipvs-vm: $*" >&2; fi; }
die() { echo "keel-ipvs-vm: $*" >&2; exit 125; }

# ---------------------------------------------------------------- packages
apt_updated=0
apt_update_once() {
  if [ "$apt_updated" = 0 ]; then
    log "apt-get update"
    apt-get update -qq >"$CACHE/apt.log" 2>&1 || { cat "$CACHE/apt.log" >&2; die "apt-get update failed"; }
    apt_updated=1
  fi
}

installed() { dpkg-query -W -f='${Status}' "$1" 2>/dev/null | grep -q 'ok installed'; }

# Install packages that are missing; never upgrade or remove anything
# (--no-remove makes apt abort rather than remove a package).
apt_install() {
  local p need=()
  for p in "$@"; do installed "$p" || need+=("$p"); done
  [ ${#need[@]} -gt 0 ] || return 0
  [ "$(id -u)" = 0 ] || die "need root to install: ${need[*]}"
  apt_update_once
  log "apt-get install ${need[*]}"
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends --no-remove \
    -o DPkg::Lock::Timeout=300 "${need[@]}" >"$CACHE/apt.log" 2>&1 \
    || { cat "$CACHE/apt.log" >&2; die "apt-get install ${need[*]} failed"; }
}

# apt-get download PKG... into DIR (updating the lists once if needed)
apt_download() {
  local dir=$1; shift
  (cd "$dir" && apt-get download -qq "$@" >/dev/null 2>&1) && return 0
  apt_update_once
  (cd "$dir" && apt-get download -qq "$@" >&2) || die "apt-get download $* failed"
}

ensure_packages() {
  local need=()
  command -v ipvsadm >/dev/null || need+=(ipvsadm)
  command -v depmod >/dev/null || need+=(kmod)
  command -v cpio >/dev/null || need+=(cpio)
  command -v xz >/dev/null || need+=(xz-utils)
  command -v flock >/dev/null || need+=(util-linux)
  apt_install "${need[@]}"
}

# QEMU and busybox are unpacked into the cache rather than installed:
# Debian 12's qemu-system-x86 (7.2) cannot be installed beside the newer
# qemu-utils (10.x, from backports) that this machine ships (apt removes
# qemu-utils), and busybox-static conflicts with a dynamic busybox.
# A qemu-system-x86_64 already on PATH (or $KEEL_IPVS_VM_QEMU) is used as is.
QEMU_CMD=()
ensure_qemu() {
  if [ -n "${KEEL_IPVS_VM_QEMU:-}" ]; then QEMU_CMD=("$KEEL_IPVS_VM_QEMU"); return 0; fi
  if command -v qemu-system-x86_64 >/dev/null; then QEMU_CMD=(qemu-system-x86_64); return 0; fi
  local q=$CACHE/qemu tmp deb deps
  if [ ! -f "$q/.complete" ]; then
    deps=$(apt-cache depends qemu-system-x86 2>/dev/null | awk '/^  Depends: [^<]/ {print $2}')
    if [ -z "$deps" ]; then apt_update_once; deps=$(apt-cache depends qemu-system-x86 | awk '/^  Depends: [^<]/ {print $2}'); fi
    # the binary's shared libraries; firmware and modules come from the debs
    apt_install $(printf '%s\n' $deps | grep -v -E '^(qemu-|seabios$|ipxe-qemu$)')
    log "unpacking qemu-system-x86 into $q"
    tmp=$(mktemp -d "$CACHE/dl.XXXXXX")
    apt_download "$tmp" qemu-system-x86 qemu-system-common qemu-system-data seabios
    rm -rf "$q"; mkdir -p "$q"
    for deb in "$tmp"/*.deb; do dpkg-deb -x "$deb" "$q"; done
    rm -rf "$tmp"
    if ldd "$q/usr/bin/qemu-system-x86_64" | grep -q 'not found'; then
      ldd "$q/usr/bin/qemu-system-x86_64" | grep 'not found' >&2
      die "unpacked qemu lacks shared libraries"
    fi
    touch "$q/.complete"
  fi
  QEMU_CMD=(env "QEMU_MODULE_DIR=$q/usr/lib/x86_64-linux-gnu/qemu" "$q/usr/bin/qemu-system-x86_64"
            -L "$q/usr/share/qemu" -L "$q/usr/share/seabios")
}

BUSYBOX=
ensure_busybox() {
  BUSYBOX=$CACHE/busybox
  [ -x "$BUSYBOX" ] && return 0
  local tmp
  tmp=$(mktemp -d "$CACHE/dl.XXXXXX")
  apt_download "$tmp" busybox-static
  dpkg-deb -x "$tmp"/busybox-static_*.deb "$tmp/x"
  install -m 755 "$tmp/x/bin/busybox" "$BUSYBOX.tmp"
  mv "$BUSYBOX.tmp" "$BUSYBOX"
  rm -rf "$tmp"
}

# ---------------------------------------------------------------- kernel
# The kernel is not installed on the host: its .deb is downloaded and unpacked
# into $CACHE/kernel-<ver>/ (modules.dep generated there with depmod -b).
KVER= KROOT= KMODDIR= VMLINUZ=

# Find the compressed payload inside a bzImage and unpack it to an ELF vmlinux.
extract_vmlinux() {
  local in=$1 out=$2 spec magic tool off
  for spec in 'fd377a585a00:xz -dc --single-stream' '28b52ffd:zstd -dcq' '1f8b0800:gzip -dcq'; do
    magic=$(printf '%s' "${spec%%:*}" | sed 's/../\\x&/g')
    tool=${spec#*:}
    command -v "${tool%% *}" >/dev/null || continue
    for off in $(LC_ALL=C grep -obUaP "$magic" "$in" | cut -d: -f1); do
      tail -c +$((off + 1)) "$in" | $tool >"$out.tmp" 2>/dev/null || true
      if [ "$(head -c 4 "$out.tmp" | od -An -tx1 | tr -d ' \n')" = 7f454c46 ]; then
        mv "$out.tmp" "$out"
        return 0
      fi
    done
  done
  rm -f "$out.tmp"
  return 1
}
find_cached_kernel() {
  local d
  d=$(ls -d "$CACHE"/kernel-*/ 2>/dev/null | sort -V | tail -n1 || true)
  [ -n "$d" ] && [ -f "$d/.complete" ] || return 1
  KROOT=${d%/}
  KVER=${KROOT##*/kernel-}
  return 0
}

kernel_pkg_candidate() {
  apt-cache depends linux-image-amd64 2>/dev/null \
    | awk '/Depends: linux-image-[0-9]/ {print $2; exit}'
}

ensure_kernel() {
  if ! find_cached_kernel; then
    local pkg tmp
    pkg=$(kernel_pkg_candidate)
    if [ -z "$pkg" ]; then apt_update_once; pkg=$(kernel_pkg_candidate); fi
    [ -n "$pkg" ] || die "cannot resolve linux-image-amd64 to a versioned package"
    KVER=${pkg#linux-image-}
    KROOT=$CACHE/kernel-$KVER
    log "downloading $pkg"
    tmp=$(mktemp -d "$CACHE/dl.XXXXXX")
    apt_download "$tmp" "$pkg"
    rm -rf "$KROOT"
    mkdir -p "$KROOT"
    dpkg-deb -x "$tmp"/*.deb "$KROOT"
    rm -rf "$tmp"
    # newer Debian puts modules under usr/lib/modules; depmod -b wants lib/modules
    if [ ! -d "$KROOT/lib/modules/$KVER" ] && [ -d "$KROOT/usr/lib/modules/$KVER" ]; then
      ln -s usr/lib "$KROOT/lib"
    fi
    # drop hardware drivers a VM never loads (~250 MB of the ~360 MB)
    (cd "$KROOT/lib/modules/$KVER/kernel" && rm -rf sound drivers/{gpu,media,scsi,usb,infiniband,iio,staging,hwmon,hid,platform,input,bluetooth,mmc,mtd,isdn,video,w1,power,comedi,nfc,net/wireless,net/ethernet,net/usb,net/can,net/ieee802154,net/wwan})
    depmod -b "$KROOT" "$KVER"
    touch "$KROOT/.complete"
  fi
  # An uncompressed vmlinux boots through its PVH entry point, which skips
  # the in-guest XZ decompression: ~2.5 s of the ~5 s TCG boot.
  if [ ! -f "$KROOT/vmlinux" ] && [ ! -f "$KROOT/.no-vmlinux" ]; then
    extract_vmlinux "$KROOT/boot/vmlinuz-$KVER" "$KROOT/vmlinux" || {
      log "could not extract vmlinux; booting the compressed bzImage (slower)"
      touch "$KROOT/.no-vmlinux"; }
  fi
  KMODDIR=$(readlink -f "$KROOT/lib/modules/$KVER")
  VMLINUZ=$KROOT/boot/vmlinuz-$KVER
  [ -f "$VMLINUZ" ] || die "no $VMLINUZ"
  [ "${KEEL_IPVS_VM_NO_PVH:-0}" = 0 ] && [ -f "$KROOT/vmlinux" ] && VMLINUZ=$KROOT/vmlinux
  [ -f "$KMODDIR/kernel/net/netfilter/ipvs/ip_vs.ko" ] || ls "$KMODDIR"/kernel/net/netfilter/ipvs/ip_vs.ko* >/dev/null 2>&1 \
    || die "kernel $KVER has no ip_vs module"
}

# ---------------------------------------------------------------- initramfs
# Guest /init. Runs as PID 1 in the initramfs. Its own messages go to the
# console (ttyS0 -> log file); the command's output goes to the virtio port.
write_init() {
  cat >"$1" <<'GUEST_INIT'
#!/bin/sh
export PATH=/usr/sbin:/usr/bin:/sbin:/bin
say() { echo "ipvs-vm-init: $*"; }
mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev 2>/dev/null
mkdir -p /dev/pts /dev/shm
mount -t devpts devpts /dev/pts
mount -t tmpfs tmpfs /dev/shm
mount -t tmpfs tmpfs /tmp
mount -t tmpfs tmpfs /run
echo /sbin/modprobe >/proc/sys/kernel/modprobe
while read -r m; do
  insmod "$m" 2>/dev/null || say "insmod $m failed (may be fine)"
done </etc/early-modules
ip link set lo up
hostname ipvs-vm

param() { tr ' ' '\n' </proc/cmdline | sed -n "s/^ipvsvm\.$1=//p" | tail -n1; }
MODE=$(param mode)
MSIZE=$(param msize)
finish() { sync; poweroff -f; sleep 5; }

# output: the virtio-serial port named ipvsvm.out if present, else the console
OUT=/dev/console
for p in /sys/class/virtio-ports/*; do
  [ -f "$p/name" ] && [ "$(cat "$p/name")" = ipvsvm.out ] && OUT=/dev/${p##*/}
done
i=0; while [ "$OUT" != /dev/console ] && [ ! -c "$OUT" ] && [ $i -lt 50 ]; do sleep 0.1; i=$((i+1)); done

if [ "$MODE" = selftest ]; then
  {
    modprobe ip_vs && modprobe ip_vs_rr
    ipvsadm -A -t 192.0.2.1:80 -s rr &&
    ipvsadm -a -t 192.0.2.1:80 -r 192.0.2.2:80 -g &&
    ipvsadm -ln && echo IPVS-VM-SELFTEST-OK
  } >"$OUT" 2>&1
  finish
fi

# run mode: ctl share has cmd.sh, env, rw.list, preload; we write rc into it
mkdir -p /ctl /host /upper /newroot
mount -t 9p -o trans=virtio,version=9p2000.L,msize=$MSIZE,cache=none ipvsvm.ctl /ctl \
  || { say "cannot mount ctl share"; finish; }
mount -t 9p -o trans=virtio,version=9p2000.L,msize=$MSIZE,ro,cache=loose ipvsvm.root /host \
  || { say "cannot mount host root"; echo 125 >/ctl/rc; finish; }
mount -t tmpfs -o mode=755 tmpfs /upper
mkdir -p /upper/u /upper/w
if mount -t overlay -o lowerdir=/host,upperdir=/upper/u,workdir=/upper/w overlay /newroot; then
  R=/newroot
else
  say "overlayfs over 9p failed; using the read-only host root"
  R=/host
fi
KVER=$(uname -r)
mount -o rbind /dev $R/dev
mount -t proc proc $R/proc
mount -t sysfs sysfs $R/sys
mount -t tmpfs tmpfs $R/run 2>/dev/null || true
mkdir -p $R/run/ipvs-vm 2>/dev/null && mount -o bind /ctl $R/run/ipvs-vm
# guest kernel modules, visible to modprobe inside the chroot as well
mount -t tmpfs tmpfs /lib/modules
mkdir -p /lib/modules/$KVER
mount -o bind "/host$(cat /ctl/kmoddir)" /lib/modules/$KVER
if [ -d $R/lib/modules ] || mkdir -p $R/lib/modules 2>/dev/null; then
  mkdir -p $R/lib/modules/$KVER 2>/dev/null
  mount -o bind /lib/modules/$KVER $R/lib/modules/$KVER 2>/dev/null || true
fi
# read-write shares: lines "tag path"
n=0
while read -r tag path; do
  [ -n "$tag" ] || continue
  mkdir -p "$R$path" 2>/dev/null
  mount -t 9p -o trans=virtio,version=9p2000.L,msize=$MSIZE,cache=mmap "$tag" "$R$path" \
    || say "cannot mount rw share $path"
done </ctl/rw.list
for m in $(cat /ctl/preload); do modprobe "$m" 2>/dev/null || say "modprobe $m failed"; done
echo started >/ctl/started
chroot $R /bin/sh -c '. /run/ipvs-vm/env; cd "$IPVSVM_CWD" 2>/dev/null || cd /; exec /bin/sh /run/ipvs-vm/cmd.sh' \
  >"$OUT" 2>&1 </dev/null
echo $? >/ctl/rc
finish
GUEST_INIT
  chmod 755 "$1"
}

# copy a dynamically linked binary and the libraries ldd reports
copy_elf() {
  local root=$1 f=$2 lib
  install -D -m 755 "$f" "$root$f"
  for lib in $(ldd "$f" 2>/dev/null | grep -o '/[^ ]*'); do
    [ -e "$root$lib" ] || install -D -m 755 "$(readlink -f "$lib")" "$root$lib"
  done
}

INITRD=
ensure_initramfs() {
  local stamp want r list m
  want=$( { echo "$KVER"; sha256sum "$SELF" "$BUSYBOX" "$(command -v ipvsadm)"; } 2>&1 | sha256sum | cut -c1-16 || true)
  INITRD=$CACHE/initramfs-$KVER.cpio.gz
  stamp=$INITRD.stamp
  if [ -f "$INITRD" ] && [ "$(cat "$stamp" 2>/dev/null)" = "$want" ]; then return 0; fi
  log "building $INITRD"
  r=$(mktemp -d "$CACHE/initramfs.XXXXXX")
  mkdir -p "$r"/{bin,sbin,usr/bin,usr/sbin,proc,sys,dev,tmp,run,etc,lib/modules}
  install -m 755 "$BUSYBOX" "$r/bin/busybox"
  for m in $("$BUSYBOX" --list-full); do
    [ -e "$r/$m" ] || ln -s /bin/busybox "$r/$m"
  done
  # modules, in dependency order (kmod's --show-depends includes softdeps)
  list=$(for m in "${EARLY_MODULES[@]}"; do
           modprobe -d "$KROOT" -S "$KVER" --show-depends "$m" | awk '$1 == "insmod" {print $2}'
         done | awk '!seen[$0]++')
  : >"$r/etc/early-modules"
  for m in $list; do
    m=/lib/modules/$KVER/${m#*/lib/modules/$KVER/}
    install -D -m 644 "$KMODDIR/${m#/lib/modules/$KVER/}" "$r$m"
    echo "$m" >>"$r/etc/early-modules"
  done
  cp "$KMODDIR"/modules.{order,builtin,builtin.modinfo} "$r/lib/modules/$KVER/" 2>/dev/null || true
  depmod -b "$r" "$KVER"
  copy_elf "$r" "$(command -v ipvsadm)"
  write_init "$r/init"
  (cd "$r" && find . -print0 | sort -z | cpio --null -o -H newc --quiet | gzip -6) >"$INITRD.tmp"
  mv "$INITRD.tmp" "$INITRD"
  echo "$want" >"$stamp"
  rm -rf "$r"
}

setup() {
  mkdir -p "$CACHE"
  # serialise concurrent setups
  exec 9>"$CACHE/.lock"
  flock 9
  ensure_packages
  ensure_qemu
  ensure_busybox
  ensure_kernel
  ensure_initramfs
  exec 9>&-
}

# ---------------------------------------------------------------- qemu
pick_accel() {
  case ${KEEL_IPVS_VM_ACCEL:-auto} in
    kvm|tcg) echo "$KEEL_IPVS_VM_ACCEL" ;;
    auto)
      # /dev/kvm may exist without hardware virtualisation (e.g. a PVM host,
      # which cannot boot a stock kernel): require vmx/svm in cpuinfo.
      if [ -w /dev/kvm ] && grep -qwE 'vmx|svm' /proc/cpuinfo; then echo kvm; else echo tcg; fi ;;
    *) die "KEEL_IPVS_VM_ACCEL must be tcg, kvm or auto" ;;
  esac
}

# boot MODE RUNDIR EXTRA_QEMU_ARGS... ; guest console goes to RUNDIR/console.log
boot() {
  local mode=$1 rundir=$2; shift 2
  local accel cpu
  accel=$(pick_accel)
  if [ "$accel" = kvm ]; then cpu=host; else cpu=max; fi
  cpu=${KEEL_IPVS_VM_CPU:-$cpu}
  log "booting kernel $KVER ($accel, ${SMP} cpu, ${MEM}M)"
  local qemu=("${QEMU_CMD[@]}"
    -machine q35,accel="$accel" -cpu "$cpu" -smp "$SMP" -m "$MEM"
    -nodefaults -no-user-config -display none -vga none -monitor none -no-reboot
    -serial "file:$rundir/console.log"
    -kernel "$VMLINUZ" -initrd "$INITRD"
    -append "console=ttyS0 panic=-1 quiet loglevel=4 rdinit=/init ipvsvm.mode=$mode ipvsvm.msize=$MSIZE"
    -device virtio-serial-pci,id=vser
    -chardev "file,id=out,path=$rundir/out.fifo"
    -device virtserialport,bus=vser.0,chardev=out,name=ipvsvm.out
    "$@")
  # The guest's output port is relayed through a FIFO by cat: QEMU's
  # `-chardev stdio` hangs at start-up when stdin is /dev/null or not a tty,
  # and a file chardev pointed at /dev/stdout would truncate a log file.
  # fd 8 holds the FIFO open read-write so that neither side blocks in open()
  # and cat sees EOF only once QEMU has exited and fd 8 is closed.
  local rc=0 relay
  mkfifo "$rundir/out.fifo"
  exec 8<>"$rundir/out.fifo"
  cat "$rundir/out.fifo" 8>&- &
  relay=$!
  timeout -k 10 "$TIMEOUT" "${qemu[@]}" </dev/null 8>&- || rc=$?
  exec 8>&-
  wait "$relay" || true
  return $rc
}

MEM=${KEEL_IPVS_VM_MEM:-2048}
SMP=${KEEL_IPVS_VM_SMP:-$(n=$(nproc); [ "$n" -gt 4 ] && n=4; echo "$n")}
TIMEOUT=${KEEL_IPVS_VM_TIMEOUT:-600}

cmd_selftest() {
  setup
  local rundir rc=0 t0
  rundir=$(mktemp -d "${TMPDIR:-/tmp}/keel-ipvs-vm.XXXXXX")
  t0=$(date +%s.%N)
  boot selftest "$rundir" >"$rundir/out" || rc=$?
  cat "$rundir/out"
  log "selftest boot took $(echo "$(date +%s.%N) - $t0" | bc 2>/dev/null || echo '?')s"
  if [ $rc = 124 ] || [ $rc = 137 ]; then
    echo "keel-ipvs-vm: timeout; console log:" >&2; tail -n 40 "$rundir/console.log" >&2; rm -rf "$rundir"; exit 124
  fi
  if grep -q IPVS-VM-SELFTEST-OK "$rundir/out"; then rm -rf "$rundir"; exit 0; fi
  echo "keel-ipvs-vm: selftest failed; console log:" >&2; tail -n 60 "$rundir/console.log" >&2
  rm -rf "$rundir"; exit 1
}

cmd_run() {
  local rw=() envs=() preload=$DEFAULT_PRELOAD keeplog=
  while [ $# -gt 0 ]; do
    case $1 in
      --rw) rw+=("$(readlink -f "$2")"); shift 2 ;;
      --env) envs+=("$2"); shift 2 ;;
      --mem) MEM=$2; shift 2 ;;
      --smp) SMP=$2; shift 2 ;;
      --timeout) TIMEOUT=$2; shift 2 ;;
      --preload) preload=$2; shift 2 ;;
      --keep-log) keeplog=$2; shift 2 ;;
      --) shift; break ;;
      -*) die "unknown option $1" ;;
      *) break ;;
    esac
  done
  [ $# -gt 0 ] || die "run: no command given"
  setup

  local rundir ctl
  rundir=$(mktemp -d "${TMPDIR:-/tmp}/keel-ipvs-vm.XXXXXX")
  ctl=$rundir/ctl
  mkdir -p "$ctl"
  # one argument: a shell command line (sh -c); several: an argv, run as is
  if [ $# -eq 1 ]; then
    printf '%s\n' "$1" >"$ctl/cmd.sh"
  else
    { printf 'exec'; local a; for a in "$@"; do printf ' %s' "$(sh_quote "$a")"; done; echo; } >"$ctl/cmd.sh"
  fi
  {
    echo "export PATH=$(sh_quote "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin:${PATH}")"
    echo "export HOME=$(sh_quote "${HOME:-/root}")"
    echo "export IPVSVM_CWD=$(sh_quote "$PWD")"
    echo "export KEEL_IPVS_VM=1"
    local v
    for v in "${PASS_ENV[@]}"; do
      if [ -n "${!v+x}" ]; then echo "export $v=$(sh_quote "${!v}")"; fi
    done
    for v in "${envs[@]}"; do
      if [[ $v == *=* ]]; then echo "export ${v%%=*}=$(sh_quote "${v#*=}")"
      elif [ -n "${!v+x}" ]; then echo "export $v=$(sh_quote "${!v}")"; fi
    done
  } >"$ctl/env"
  echo "$KMODDIR" >"$ctl/kmoddir"
  echo "${preload//,/ }" >"$ctl/preload"
  : >"$ctl/rw.list"
  local args=(
    -fsdev "local,id=fsctl,path=$ctl,security_model=none"
    -device "virtio-9p-pci,fsdev=fsctl,mount_tag=ipvsvm.ctl"
    -fsdev "local,id=fsroot,path=/,security_model=none,readonly=on,multidevs=remap"
    -device "virtio-9p-pci,fsdev=fsroot,mount_tag=ipvsvm.root")
  local i=0 d
  for d in "${rw[@]}"; do
    [ -d "$d" ] || die "--rw $d: not a directory"
    echo "ipvsvm.rw$i $d" >>"$ctl/rw.list"
    args+=(-fsdev "local,id=fsrw$i,path=$d,security_model=none,multidevs=remap"
           -device "virtio-9p-pci,fsdev=fsrw$i,mount_tag=ipvsvm.rw$i")
    i=$((i + 1))
  done

  local rc=0 t0
  t0=$(date +%s%N)
  boot run "$rundir" "${args[@]}" || rc=$?
  log "VM ran $(( ($(date +%s%N) - t0) / 1000000 )) ms (qemu rc=$rc)"
  [ -n "$keeplog" ] && cp "$rundir/console.log" "$keeplog"
  if [ -f "$ctl/rc" ]; then
    rc=$(cat "$ctl/rc")
  elif [ $rc = 124 ] || [ $rc = 137 ]; then
    echo "keel-ipvs-vm: timed out after ${TIMEOUT}s; guest console:" >&2
    tail -n 40 "$rundir/console.log" >&2
    rc=124
  elif [ -f "$ctl/started" ]; then
    echo "keel-ipvs-vm: the command started but the VM ended without its status (guest kernel crash?; qemu rc=$rc); guest console:" >&2
    tail -n 60 "$rundir/console.log" >&2
    rc=125
  else
    echo "keel-ipvs-vm: VM ended before running the command (qemu rc=$rc); guest console:" >&2
    tail -n 60 "$rundir/console.log" >&2
    rc=125
  fi
  rm -rf "$rundir"
  return "$rc"
}

cmd_info() {
  setup
  echo "kernel:    $KVER"
  echo "vmlinuz:   $VMLINUZ"
  echo "modules:   $KMODDIR"
  echo "initramfs: $INITRD ($(du -h "$INITRD" | cut -f1))"
  echo "accel:     $(pick_accel)"
  echo "qemu:      ${QEMU_CMD[*]}"
}

case ${1:-} in
  setup) setup ;;
  run) shift; cmd_run "$@" ;;
  selftest) cmd_selftest ;;
  info) cmd_info ;;
  clean) rm -rf "$CACHE" ;;
  *) sed -n '2,/^set -euo/p' "$SELF" | sed '$d; s/^# \{0,1\}//'; exit 2 ;;
esac
