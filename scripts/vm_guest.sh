#!/usr/bin/env bash
# Runs inside the VM of scripts/vm_test.sh: OUT (writable, shared with the host),
# OBJS (the prebuilt test objects), PY (the interpreter), then pytest arguments
# (default: every test).
set -uo pipefail
out=$1 objs=$2 py=$3
shift 3
cd "$(dirname "$0")/.."
mountpoint -q /sys/fs/bpf || mount -t bpf bpf /sys/fs/bpf
mountpoint -q /sys/kernel/tracing || mount -t tracefs tracefs /sys/kernel/tracing 2>/dev/null
# The host allows more open files than the guest's default 1024; the tests need them.
ulimit -n 65536
export PYTHONDONTWRITEBYTECODE=1 BPFBIND_TEST_OBJS=$objs TMPDIR=/tmp
# This tree's package, whichever tree the interpreter's editable install points at.
export PYTHONPATH=$PWD/python${PYTHONPATH:+:$PYTHONPATH}
export MYPY_CACHE_DIR=/tmp/mypy-cache RUFF_CACHE_DIR=/tmp/ruff-cache
export BPFBIND_REQUIRE_KERNEL=${BPFBIND_REQUIRE_KERNEL:-1}
echo "guest: $(uname -r), $(nproc) CPU, $(awk '/MemTotal/ {print $2 " kB"}' /proc/meminfo)"
"$py" -m pytest -p no:cacheprovider -q -rs "${@:-tests}"
echo $? > "$out/rc"
