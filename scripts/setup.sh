#!/usr/bin/env bash
# Installs what a fresh Debian machine lacks to build and test bpfbind, then builds the
# extension into the project's virtualenv ($VENV, .venv by default), never into the
# system's Python or any other. Says what it installs; idempotent: a second run only
# rebuilds. BASE_PY is the interpreter the virtualenv is made from (python3).
set -euo pipefail
cd "$(dirname "$0")/.."
VENV=${VENV:-.venv}
BASE_PY=${BASE_PY:-python3}

need_apt=()
why=()
# An installed clang of any supported version (14 to 22) is used; bpf_core_type_matches()
# in tests/bpf/core_matches.bpf.c needs 15 or later: clang-19 only when none has that.
if ! CLANG= scripts/find_clang.sh 15 >/dev/null; then
    need_apt+=(clang-19)
    # (a message built apart: under set -e a failed substitution in an assignment exits)
    if CLANG= scripts/find_clang.sh >/dev/null; then
        why+=("clang-19 (no clang 15-22 on PATH; the tests of bpf_core_type_matches need one)")
    else
        why+=("clang-19 (no clang on PATH)")
    fi
fi
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
# `python3 -m venv` needs ensurepip, which Debian packages apart.
[ -x "$VENV/bin/python" ] || "$BASE_PY" -c 'import ensurepip' 2>/dev/null ||
    need_apt+=(python3-venv)
if [ ${#need_apt[@]} -gt 0 ]; then
    echo "setup: installing ${need_apt[*]} (apt)"
    for w in "${why[@]}"; do echo "setup:   $w"; done
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    apt-get install -y -qq "${need_apt[@]}" >/dev/null
fi
echo "setup: clang for BPF: $(scripts/find_clang.sh)"

# bpffs: where programs and maps are pinned.
if ! awk '$2 == "/sys/fs/bpf" && $3 == "bpf" {found=1} END {exit !found}' /proc/mounts; then
    mount -t bpf bpf /sys/fs/bpf 2>/dev/null || echo "setup: could not mount bpffs at /sys/fs/bpf"
fi

if [ ! -x "$VENV/bin/python" ]; then
    echo "setup: creating the virtualenv $VENV ($("$BASE_PY" -c 'import sys; print(sys.executable, sys.version.split()[0])'))"
    "$BASE_PY" -m venv "$VENV"
fi
PY=$VENV/bin/python
export PIP_ROOT_USER_ACTION=ignore PIP_DISABLE_PIP_VERSION_CHECK=1
reqs=("maturin>=1.9,<2" "anyio>=4.7" "pytest>=8" "pytest-asyncio>=0.24" "trio>=0.26"
    "mypy>=1.10" "ruff>=0.5" "prometheus_client>=0.20")
# Only what the virtualenv lacks (or has in a version out of range) is installed.
missing=$("$PY" - "${reqs[@]}" <<'PYEOF'
import re
import sys
from importlib import metadata

def fits(spec: str) -> bool:
    name, rest = re.match(r"([A-Za-z0-9_.-]+)(.*)", spec).groups()
    try:
        have = tuple(int(p) for p in re.findall(r"\d+", metadata.version(name))[:3])
    except metadata.PackageNotFoundError:
        return False
    for op, ver in re.findall(r"(>=|<)([\d.]+)", rest):
        want = tuple(int(p) for p in ver.split("."))
        if (op == ">=" and have < want) or (op == "<" and have >= want):
            return False
    return True

print(" ".join(s for s in sys.argv[1:] if not fits(s)))
PYEOF
)
if [ -n "$missing" ]; then
    echo "setup: installing into $VENV: $missing (pip)"
    # shellcheck disable=SC2086 # one word per requirement
    "$PY" -m pip install -q $missing
fi
# The extension, built in release mode (cargo's progress shown) and installed editable
# into the virtualenv: its .pth points at this tree's python/.
echo "setup: building the extension (cargo build --release) into $VENV"
VIRTUAL_ENV=$(cd "$VENV" && pwd) PATH="$VENV/bin:$PATH" "$PY" -m maturin develop --release
echo "setup: done; run Python as $PY (make uses it), or '. $VENV/bin/activate'"
