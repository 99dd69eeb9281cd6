#!/usr/bin/env bash
# scripts/vm.sh 'COMMAND' — runs COMMAND as root in a throw-away QEMU VM whose
# only cgroup hierarchy is cgroup v2, with this checkout shared read-write at
# its own path (COMMAND's working directory). Prints COMMAND's output and exits
# with its status (124: the VM ran out of time, 125: the VM never ran it).
#
# Two modes (VM_MODE): `plain` (the default: COMMAND is the only process,
# pid 1 a shell) and `systemd` (the host's /lib/systemd/systemd is pid 1 with
# AppArmor enabled in the kernel; a minimal target starts one oneshot unit
# that runs COMMAND and powers off; VM_DBUS=1 adds the system bus, which
# Docker and podman need, at the price of sysinit.target's boot time).
#
# The guest runs Debian's kernel (taken from the linux-image package, never
# installed here) and sees the host's / read-only over 9p, with a tmpfs on top
# (overlayfs), so every host program runs unchanged and nothing it writes
# outside the checkout survives. Knobs: VM_MEM (MiB, 2048), VM_CPUS (2),
# VM_TIMEOUT (s, 1500), VM_CACHE (/var/cache/berth-vm), VM_ENV (names of
# variables to pass in), VM_LOG=1 (kernel messages on stderr).
set -euo pipefail
[ $# -ge 1 ] || { echo "usage: $0 'COMMAND'" >&2; exit 2; }
[ "$(id -u)" = 0 ] || { echo "vm.sh: needs root" >&2; exit 125; }
cache=${VM_CACHE:-/var/cache/berth-vm}
share=$(pwd -P)
fail() { echo "vm.sh: $*" >&2; exit 125; }

need=()
command -v qemu-system-x86_64 >/dev/null || need+=(qemu-system-x86)
command -v xz >/dev/null || need+=(xz-utils)
[ -x /bin/busybox ] || need+=(busybox-static)
command -v depmod >/dev/null || need+=(kmod)
if [ ${#need[@]} -gt 0 ]; then
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${need[@]}" >&2
fi

# --- the kernel: the package's vmlinuz, unpacked to the ELF vmlinux (QEMU
# boots it through its PVH entry, which spares the guest the decompression).
kernel_assets() {
  local pkg deb at
  pkg=$(apt-cache depends linux-image-amd64 2>/dev/null | sed -n 's/.*Depends: \(linux-image-[0-9][^ ]*\)/\1/p' | head -1)
  if [ -z "$pkg" ]; then
    apt-get update -qq
    pkg=$(apt-cache depends linux-image-amd64 | sed -n 's/.*Depends: \(linux-image-[0-9][^ ]*\)/\1/p' | head -1)
  fi
  [ -n "$pkg" ] || fail "no linux-image package found"
  rm -rf "$cache/pkg" "$cache/dl" && mkdir -p "$cache/pkg" "$cache/dl"
  (cd "$cache/dl" && apt-get download "$pkg" >&2) || fail "downloading $pkg"
  dpkg-deb -x "$cache"/dl/*.deb "$cache/pkg" && rm -rf "$cache/dl"
  at=$(LC_ALL=C grep -obUaP '\xfd7zXZ\x00' "$cache"/pkg/boot/vmlinuz-* | head -1 | cut -d: -f1)
  [ -n "$at" ] || fail "no xz payload in the kernel image"
  tail -c +$((at + 1)) "$cache"/pkg/boot/vmlinuz-* | xz -dc --single-stream > "$cache/vmlinux" 2>/dev/null || true
  [ "$(head -c 4 "$cache/vmlinux" | od -An -tx1 | tr -d ' ')" = 7f454c46 ] || fail "could not unpack vmlinux"
  ls "$cache/pkg/lib/modules" > "$cache/release"
}

# --- the initramfs: busybox, the modules for 9p and overlayfs (with what they
# depend on, dependencies first), and two small init stages.
initramfs() {
  local rel mods dir order=() done_=" " m
  rel=$(cat "$cache/release"); mods=$cache/pkg/lib/modules/$rel
  dir=$(mktemp -d)
  mkdir -p "$dir"/{bin,dev,proc,sys,mnt/host,mnt/rw,root,ko}
  cp /bin/busybox "$dir/bin/"
  for a in sh mount mkdir insmod switch_root cat cp poweroff sleep; do ln -s busybox "$dir/bin/$a"; done
  add() {
    local name=${1//-/_} file dep
    case "$done_" in *" $name "*) return ;; esac
    done_="$done_$name "
    file=$(find "$mods/kernel" -name "$name.ko" -o -name "${name//_/-}.ko" | head -1)
    [ -n "$file" ] || fail "module $name missing from $rel"
    for dep in $(tr '\0' '\n' < "$file" | sed -n 's/^depends=//p' | tr ',' ' '); do add "$dep"; done
    cp "$file" "$dir/ko/$name.ko"; order+=("$name")
  }
  for m in virtio_pci 9pnet_virtio 9p overlay; do add "$m"; done
  printf '%s\n' "${order[@]}" > "$dir/ko/order"
  cat > "$dir/init" <<'INIT'
#!/bin/sh
# Stage 1: the host's / read-only with a tmpfs over it, the checkout and the
# control directory shared, then stage 2 as pid 1 of that root.
mount -t proc none /proc; mount -t sysfs none /sys; mount -t devtmpfs none /dev
for m in $(cat /ko/order); do insmod /ko/$m.ko; done
o=trans=virtio,version=9p2000.L,msize=262144
mount -t 9p -o $o,ro,cache=loose host /mnt/host || { echo "vm: no host root" > /dev/ttyS1; poweroff -f; }
mount -t tmpfs none /mnt/rw && mkdir -p /mnt/rw/up /mnt/rw/work
mount -t overlay -o lowerdir=/mnt/host,upperdir=/mnt/rw/up,workdir=/mnt/rw/work none /root
mkdir -p /root/.vm && cp /bin/busybox /root/.vm/busybox && cp /stage2 /root/.vm/stage2
mount -t tmpfs -o mode=755 none /root/run; mount -t tmpfs -o mode=1777 none /root/tmp
mkdir -p /root/run/vm && mount -t 9p -o $o,cache=none ctl /root/run/vm
share=$(cat /root/run/vm/share); mkdir -p /root$share
mods=$(cat /root/run/vm/modules); mkdir -p /root/lib/modules && mount -o bind /root$mods /root/lib/modules
mount -t 9p -o $o,cache=mmap share /root$share
for d in dev proc sys; do mount --move /$d /root/$d; done
exec switch_root /root /.vm/busybox sh /.vm/stage2
INIT
  cat > "$dir/stage2" <<'STAGE2'
# Stage 2: cgroup v2 with every controller on, then COMMAND; its status goes
# back through the control directory and the VM powers off.
b=/.vm/busybox
export PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin HOME=/root LANG=C.UTF-8 TERM=dumb
$b mkdir -p /dev/pts /dev/shm /dev/mqueue
$b mount -t devpts -o newinstance,ptmxmode=0666,mode=620,gid=5 none /dev/pts
$b mount -t tmpfs -o mode=1777 none /dev/shm
$b mount -t mqueue none /dev/mqueue
if [ "$($b cat /run/vm/mode)" = systemd ]; then
  # This host's /.dockerenv would make systemd think it runs in a container
  # (and skip securityfs, so no AppArmor profile could be loaded).
  $b rm -f /.dockerenv
  u=/etc/systemd/system
  $b mkdir -p $u
  # The bus itself up before COMMAND, not just its socket: a daemon's first
  # connection would otherwise start dbus-daemon (and pid 1's connection to
  # it) under the tests. (The minute-long waits once blamed on that were
  # berth's D-Bus handshake: see Conn::connect.)
  wants=""; [ "$($b cat /run/vm/dbus)" = 1 ] && wants="Wants=dbus.socket dbus.service"
  printf '[Unit]\nDescription=berth VM\nRequires=berth-vm.service\nAfter=berth-vm.service\n%s\nAllowIsolate=yes\n' "$wants" > $u/berth-vm.target
  # After what the bus pulled in (ordering only: without the bus, nothing waits).
  printf '[Unit]\nDescription=berth VM command\nDefaultDependencies=no\nAfter=sysinit.target dbus.socket dbus.service\n[Service]\nType=oneshot\nStandardInput=null\nExecStart=/bin/sh /.vm/run-cmd\n' > $u/berth-vm.service
  # Loading the host's profiles at boot takes seconds: tests load their own.
  # /tmp is already a fresh tmpfs: a second one (or a clean-up) on top would
  # hide what COMMAND writes there.
  # With the kernel's modules at hand, udev's coldplug would load a module
  # for every device and keep pid 1 busy for minutes under TCG (it stopped
  # answering its private socket): no udev, no modules-load; the kernel
  # still loads what a test asks for through modprobe.
  for m in apparmor.service tmp.mount systemd-tmpfiles-setup.service systemd-tmpfiles-clean.timer \
    systemd-udevd.service systemd-udevd-control.socket systemd-udevd-kernel.socket \
    systemd-udev-trigger.service systemd-modules-load.service; do
    $b ln -sf /dev/null $u/$m
  done
  printf '%s\n' 'cd "$(cat /run/vm/share)"' '. /run/vm/env' \
    '/bin/bash /run/vm/cmd < /dev/null > /dev/ttyS0 2>&1' 'echo $? > /run/vm/rc' '/.vm/busybox sync' \
    '/.vm/busybox poweroff -f' > /.vm/run-cmd
  export PATH HOME LANG TERM
  $b hostname berth-vm
  exec /lib/systemd/systemd --unit=berth-vm.target
fi
$b mount -t cgroup2 -o nsdelegate none /sys/fs/cgroup
for c in $($b cat /sys/fs/cgroup/cgroup.controllers); do echo "+$c" > /sys/fs/cgroup/cgroup.subtree_control; done
$b ip link set lo up
$b hostname berth-vm
cd "$($b cat /run/vm/share)"
. /run/vm/env
/bin/bash /run/vm/cmd < /dev/null > /dev/ttyS0 2>&1
echo $? > /run/vm/rc
$b sync
$b poweroff -f
STAGE2
  chmod +x "$dir/init"
  (cd "$dir" && find . | /bin/busybox cpio -o -H newc 2>/dev/null) | gzip -1 > "$cache/initramfs.new"
  mv "$cache/initramfs.new" "$cache/initramfs"
  rm -rf "$dir"
}

mkdir -p "$cache"
exec 8> "$cache/lock"; flock 8
[ -s "$cache/vmlinux" ] && [ -s "$cache/release" ] || { echo "vm.sh: fetching Debian's kernel into $cache" >&2; kernel_assets; rm -f "$cache/initramfs"; }
[ -s "$cache/initramfs" ] && [ "$cache/initramfs" -nt "$0" ] || initramfs
# The package's modules, indexed, become the guest's /lib/modules (veth,
# dummy, nf_tables, the socket diag modules CRIU needs: loaded on demand).
rel=$(cat "$cache/release")
[ -s "$cache/pkg/lib/modules/$rel/modules.dep" ] || depmod -b "$cache/pkg" "$rel"
exec 8>&-

# KVM only when it is the real thing (VMX/SVM, not a paravirtual PVM device).
accel=(-accel tcg,thread=multi -cpu max)
if [ -w /dev/kvm ] && grep -qw -e vmx -e svm /proc/cpuinfo && [ ! -d /sys/module/kvm_pvm ]; then
  accel=(-accel kvm -cpu host)
fi
ctl=$(mktemp -d /tmp/berth-vm.XXXXXX)
trap 'rm -rf "$ctl"' EXIT
printf '%s\n' "$*" > "$ctl/cmd"
printf '%s' "$share" > "$ctl/share"
mode=${VM_MODE:-plain}
printf '%s' "$mode" > "$ctl/mode"
printf '%s' "${VM_DBUS:-0}" > "$ctl/dbus"
printf '%s' "$cache/pkg/lib/modules" > "$ctl/modules"
kargs=""
[ "$mode" = systemd ] && kargs="apparmor=1 security=apparmor systemd.show_status=0"
for v in ${VM_ENV:-}; do [ -n "${!v+x}" ] && printf 'export %s=%q\n' "$v" "${!v}"; done > "$ctl/env"
set +e
timeout -k 10 "${VM_TIMEOUT:-1500}" qemu-system-x86_64 "${accel[@]}" -machine q35 \
  -m "${VM_MEM:-2048}" -smp "${VM_CPUS:-2}" -nodefaults -no-user-config -display none -nic none -no-reboot \
  -kernel "$cache/vmlinux" -initrd "$cache/initramfs" \
  -append "console=ttyS1 loglevel=4 panic=-1 cgroup_no_v1=all rdinit=/init nokaslr tsc=reliable $kargs" \
  -chardev stdio,id=out,signal=off -serial chardev:out \
  -chardev file,id=kmsg,path="$ctl/kmsg" -serial chardev:kmsg \
  -virtfs local,path=/,mount_tag=host,security_model=none,readonly=on,multidevs=remap \
  -virtfs local,path="$share",mount_tag=share,security_model=none,multidevs=remap \
  -virtfs local,path="$ctl",mount_tag=ctl,security_model=none < /dev/null
qrc=$?
set -e
[ "${VM_LOG:-0}" = 1 ] && cat "$ctl/kmsg" >&2
# A COMMAND that failed or ran out of time: the kernel's complaints, if it
# made any, are part of the answer (a soft lockup under emulation, a task
# blocked in the kernel).
if [ "${VM_LOG:-0}" != 1 ] && { [ "$qrc" = 124 ] || [ "$(cat "$ctl/rc" 2>/dev/null)" != 0 ]; }; then
  grep -E -A 12 'soft lockup|blocked for more|BUG:|Oops|rcu_.*stall|self-detected stall' "$ctl/kmsg" \
    | head -n 80 | sed 's/^/vm.sh: kernel: /' >&2 || true
fi
[ "$qrc" = 124 ] && { echo "vm.sh: the VM ran out of time" >&2; exit 124; }
[ -s "$ctl/rc" ] || { tail -n 30 "$ctl/kmsg" >&2; fail "the VM stopped before COMMAND finished (qemu $qrc)"; }
exit "$(cat "$ctl/rc")"
