#!/usr/bin/env bash
# Installs what a fresh Debian machine lacks to build and test bpfbind, then builds the
# extension into the current Python. Idempotent: a second run only rebuilds.
set -euo pipefail
cd "$(dirname "$0")/.."

need_apt=()
command -v clang >/dev/null || need_apt+=(clang)
# bpf_core_type_matches() in tests/bpf/core_matches.bpf.c needs clang 15 or later.
command -v clang-19 >/dev/null || need_apt+=(clang-19)
command -v llvm-objcopy >/dev/null || need_apt+=(llvm)
command -v bpftool >/dev/null || [ -x /usr/sbin/bpftool ] || need_apt+=(bpftool)
[ -f /usr/include/bpf/libbpf.h ] || need_apt+=(libbpf-dev)
[ -f /usr/include/libelf.h ] || need_apt+=(libelf-dev)
[ -f /usr/include/zlib.h ] || need_apt+=(zlib1g-dev)
command -v make >/dev/null || need_apt+=(make)
command -v gcc >/dev/null || need_apt+=(gcc)
command -v unzip >/dev/null || need_apt+=(unzip)
# The exporter's tests run a real Prometheus (and its promtool) and node_exporter.
[ -x /usr/bin/prometheus ] && [ -x /usr/bin/promtool ] || need_apt+=(prometheus)
[ -x /usr/bin/prometheus-node-exporter ] || need_apt+=(prometheus-node-exporter)
if [ ${#need_apt[@]} -gt 0 ]; then
    echo "setup: installing ${need_apt[*]}"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    apt-get install -y -qq "${need_apt[@]}" >/dev/null
fi

# bpffs: where programs and maps are pinned.
if ! awk '$2 == "/sys/fs/bpf" && $3 == "bpf" {found=1} END {exit !found}' /proc/mounts; then
    mount -t bpf bpf /sys/fs/bpf 2>/dev/null || echo "setup: could not mount bpffs at /sys/fs/bpf"
fi

PY=${PYTHON:-python3}
export PIP_ROOT_USER_ACTION=ignore
"$PY" -m pip install -q --disable-pip-version-check \
    "maturin>=1.9,<2" "anyio>=4.7" "pytest>=8" "pytest-asyncio>=0.24" "trio>=0.26" \
    "mypy>=1.10" "ruff>=0.5" "prometheus_client>=0.20"
# The extension, built in release mode and installed editable into this Python.
"$PY" -m pip install -q --disable-pip-version-check --no-build-isolation --no-deps -e .
