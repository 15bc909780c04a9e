#!/usr/bin/env bash
# The kernel tests inside a VM booted with one of Debian's own kernels (issue 11's
# matrix): virtme-ng over QEMU, software emulation (TCG), the host's root file system
# read-only in the guest, results back through a writable directory.
#
#   scripts/vm_test.sh 6.1|6.12 [pytest arguments]      (make test-vm KERNEL=6.1)
#
# Kernel packages come from Debian's archive with `apt-get download` (6.1 from
# bookworm, 6.12 from bookworm's security/backports updates) and are unpacked under
# build/kernels/. The test objects are built once on the host (BPFBIND_TEST_OBJS).
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
KERNEL=${1:?usage: $0 6.1|6.12 [pytest args]}
shift
PY=${PY:-python3}
CACHE=$ROOT/build/kernels
# The interpreter's own bin/ first: virtme-ng's `vng` is installed next to it (the
# project's virtualenv under make).
pybindir=$("$PY" -c 'import os, sys; print(os.path.dirname(sys.executable))')
export PATH="$pybindir:$HOME/.cargo/bin:$PATH"

need_apt=()
command -v qemu-system-x86_64 >/dev/null || need_apt+=(qemu-system-x86)
command -v udevadm >/dev/null || need_apt+=(udev)
command -v depmod >/dev/null || need_apt+=(kmod)
[ -x /bin/busybox ] || [ -x /usr/bin/busybox ] || need_apt+=(busybox-static)
[ -f /usr/include/seccomp.h ] || need_apt+=(libseccomp-dev)
[ -f /usr/include/cap-ng.h ] || need_apt+=(libcap-ng-dev)
if [ ${#need_apt[@]} -gt 0 ]; then
    echo "vm-test: installing ${need_apt[*]}"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    apt-get install -y -qq "${need_apt[@]}" >/dev/null
fi
command -v vng >/dev/null || PIP_ROOT_USER_ACTION=ignore "$PY" -m pip install -q \
    --disable-pip-version-check "virtme-ng>=1.30"
# The cloud kernels have no 9p: the guest's root comes over virtiofs.
command -v virtiofsd >/dev/null || cargo install -q --locked virtiofsd

# The newest package of the series, by version.
case $KERNEL in
    6.1) pattern='^linux-image-6\.1\.0-[0-9]+-cloud-amd64-unsigned$' ;;
    6.12) pattern='^linux-image-6\.12\.[0-9]+\+deb12-cloud-amd64-unsigned$' ;;
    *) echo "vm-test: unknown kernel '$KERNEL' (6.1 or 6.12)" >&2; exit 2 ;;
esac
dir=$CACHE/$KERNEL
if ! ls "$dir"/root/boot/vmlinuz-* >/dev/null 2>&1; then
    apt-cache show linux-image-cloud-amd64 >/dev/null 2>&1 || apt-get update -qq
    pkg=$(apt-cache search --names-only "$pattern" | cut -d' ' -f1 | sort -V | tail -n 1)
    [ -n "$pkg" ] || { echo "vm-test: no package matches $pattern" >&2; exit 1; }
    echo "vm-test: fetching $pkg"
    rm -rf "$dir" && mkdir -p "$dir/deb" "$dir/root"
    (cd "$dir/deb" && apt-get download -qq "$pkg")
    dpkg-deb -x "$dir"/deb/*.deb "$dir/root"
fi
kimg=$(ls "$dir"/root/boot/vmlinuz-* | head -n 1)
kver=${kimg##*/vmlinuz-}
# virtme-ng loads the guest's modules (virtiofs among them) from next to the image.
[ -f "$dir/root/lib/modules/$kver/modules.dep" ] || depmod -b "$dir/root" "$kver"

# The guest runs the host's interpreter (and its site-packages) by absolute path.
# VM_PREPARE_ONLY=1: install what is missing and fetch the kernel, then stop (make
# test-matrix prepares both kernels one after the other, then boots them at once).
[ -z "${VM_PREPARE_ONLY:-}" ] || exit 0

pybin=$("$PY" -c 'import sys; print(sys.executable)')
objs=$ROOT/build/vm-objs
make -s -C tests/bpf O="$objs" >/dev/null

out=$(mktemp -d "${TMPDIR:-/tmp}/bpfbind-vm-$KERNEL.XXXXXX")
trap 'rm -rf "$out"' EXIT
start=$SECONDS
echo "vm-test: booting $kver (TCG, 1 vCPU)"
# 6.12 under QEMU 7.2's TCG needs cx16 hidden and a single vCPU.
# The kernel's config over the host's /boot: libbpf and bpfbind read .kconfig values
# from /boot/config-$(uname -r) where the kernel has no /proc/config.gz.
vng --run "$kimg" --disable-kvm --cpus 1 --memory 3G --rwdir "$out" \
    --rodir "/boot=$dir/root/boot" \
    --qemu-opts="-cpu max,-cx16" \
    --exec "$ROOT/scripts/vm_guest.sh $out $objs $pybin $*" </dev/null 2>&1 |
    tee "$out/console.log" | sed -u "s/^/[vm $KERNEL] /" || true
rc=$(cat "$out/rc" 2>/dev/null || echo "none")
echo "vm-test: $kver finished in $((SECONDS - start)) s, guest pytest exit: $rc"
[ "$rc" = 0 ] || { echo "vm-test: FAIL on $kver" >&2; exit 1; }
