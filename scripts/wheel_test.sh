#!/usr/bin/env bash
# Builds the abi3 manylinux wheel and the sdist into dist/, then tests them as a user gets
# them: a fresh venv without a Rust toolchain, the wheel pip-installed, tests run there.
#
#   scripts/wheel_test.sh                # build, install, test (make wheel-test)
#   scripts/wheel_test.sh --build-only   # build and check dist/ only (make wheel)
#
# BPFBIND_MANYLINUX picks the tag (default manylinux_2_34: the oldest glibc symbol
# versions a Debian 12 toolchain links against); BPFBIND_REQUIRE_KERNEL=1 turns a kernel
# check that cannot run into a failure, as in the test suite.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
PY=${PY:-python3}
MANYLINUX=${BPFBIND_MANYLINUX:-manylinux_2_34}
BUILD_ONLY=0
case ${1:-} in
    --build-only) BUILD_ONLY=1 ;;
    "") ;;
    *) echo "usage: $0 [--build-only]" >&2; exit 2 ;;
esac

started=$SECONDS
tmp=$(mktemp -d "${TMPDIR:-/tmp}/bpfbind-wheel.XXXXXX")
pin=""
cleanup() {
    # Unpinning is what unloads the programs: never leave them behind.
    if [ -n "$pin" ] && [ -e "$pin" ]; then rm -rf "$pin"; fi
    rm -rf "$tmp"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

step() { printf '\n== wheel-test: %s\n' "$*"; }
fail() { printf 'wheel-test: FAIL: %s\n' "$*" >&2; exit 1; }

# The one version: Cargo.toml's. maturin puts it in the wheel, env!() in the module.
version=$("$PY" -c 'import tomllib
print(tomllib.load(open("Cargo.toml", "rb"))["package"]["version"])')
arch=$(uname -m)

step "build the wheel ($MANYLINUX, abi3) from the sdist, release"
# --sdist builds the wheel from the unpacked sdist: the sdist is proven complete.
# --auditwheel check: fail on a policy violation instead of bundling libraries.
# Its own target dir: dependencies stay compiled between runs (the unpacked sdist's path
# changes each time), and a cargo build elsewhere in target/ does not hold the lock.
CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-$ROOT/target/wheel} \
    "$PY" -m maturin build --release --sdist --compatibility "$MANYLINUX" \
    --auditwheel check --out "$tmp/dist"

wheels=("$tmp"/dist/*.whl)
sdists=("$tmp"/dist/*.tar.gz)
if [ ${#wheels[@]} -ne 1 ] || [ ! -f "${wheels[0]}" ]; then fail "not one wheel: ${wheels[*]}"; fi
if [ ${#sdists[@]} -ne 1 ] || [ ! -f "${sdists[0]}" ]; then fail "not one sdist: ${sdists[*]}"; fi
want=bpfbind-$version-cp311-abi3-${MANYLINUX}_$arch.whl
[ "$(basename "${wheels[0]}")" = "$want" ] || fail "wheel is $(basename "${wheels[0]}"), want $want"
[ "$(basename "${sdists[0]}")" = "bpfbind-$version.tar.gz" ] || fail "sdist is ${sdists[0]}"

listing=$(unzip -l "${wheels[0]}")
for f in bpfbind/py.typed bpfbind/_native.pyi bpfbind/_native.abi3.so bpfbind/__init__.py \
    "bpfbind-$version.dist-info/entry_points.txt"; do
    grep -q " $f\$" <<<"$listing" || fail "wheel lacks $f"
done
if grep -q '\.libs/' <<<"$listing"; then fail "wheel bundles libraries: $listing"; fi
contents=$(tar -tzf "${sdists[0]}")
for f in Cargo.toml Cargo.lock pyproject.toml src/lib.rs python/bpfbind/_native.pyi \
    python/bpfbind/py.typed; do
    grep -qx "bpfbind-$version/$f" <<<"$contents" || fail "sdist lacks $f"
done

mkdir -p dist
rm -f dist/bpfbind-*.whl dist/bpfbind-*.tar.gz
cp "${wheels[0]}" "${sdists[0]}" dist/
wheel=$ROOT/dist/$(basename "${wheels[0]}")
sdist=$ROOT/dist/$(basename "${sdists[0]}")
size() { stat -c %s "$1"; }
echo "wheel: $wheel ($(size "$wheel") bytes)"
echo "sdist: $sdist ($(size "$sdist") bytes)"
if [ $BUILD_ONLY -eq 1 ]; then exit 0; fi

step "fresh venv, no Rust toolchain on PATH"
"$PY" -m venv "$tmp/venv"
clean_path=""
IFS=: read -ra dirs <<<"$PATH"
for d in "${dirs[@]}"; do
    # Rust, and every other install of bpfbind or maturin (pyenv shims, ~/.local/bin):
    # in the venv `bpfbind` must be the wheel's entry point or nothing.
    case $d in "" | */.cargo/bin | */.rustup/* | */.pyenv/*) continue ;; esac
    for exe in cargo rustc maturin bpfbind; do [ -x "$d/$exe" ] && continue 2; done
    clean_path+=${clean_path:+:}$d
done
# A clean environment: only what a user's shell would have, plus the kernel switch.
venv_env=(env -i "HOME=$HOME" "PATH=$tmp/venv/bin:$clean_path" "LANG=C.UTF-8"
    "TMPDIR=${TMPDIR:-/tmp}" "VIRTUAL_ENV=$tmp/venv"
    PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_ROOT_USER_ACTION=ignore)
for var in BPFBIND_REQUIRE_KERNEL CLANG CI; do
    if [ -n "${!var:-}" ]; then venv_env+=("$var=${!var}"); fi
done
in_venv() { "${venv_env[@]}" "$@"; }
for tool in cargo rustc maturin bpfbind; do
    if in_venv bash -c "command -v $tool"; then fail "$tool is reachable inside the venv"; fi
done
[ "$(in_venv bash -c 'command -v python')" = "$tmp/venv/bin/python" ] || fail "venv python"

step "pip install the wheel (binary packages only: nothing may compile)"
# [test]: pyproject's test extra (pytest, pytest-asyncio, trio, mypy, ruff); [exporter]:
# prometheus_client, as `pip install bpfbind[exporter]` brings it; anyio comes as the
# wheel's own dependency.
in_venv python -m pip install -q --only-binary=:all: "${wheel}[test,exporter]" auditwheel
in_venv python -m pip check
in_venv auditwheel show "$wheel" | tee "$tmp/auditwheel.txt"
grep -q "${MANYLINUX}_$arch" "$tmp/auditwheel.txt" || fail "auditwheel: not $MANYLINUX"

# Run from a directory holding copies of the tests and nothing importable: `import
# bpfbind` can only find site-packages, never python/ of this checkout.
run=$tmp/run
mkdir "$run"
# README, examples/, the Makefile and scripts/: the tests that run README's blocks, the
# examples and the set-up's clang search read them (data and shell; the examples' Python
# files are scripts the tests run, which import the installed package).
tar -C "$ROOT" --exclude=__pycache__ --exclude='*.o' --exclude='*.py' -cf - \
    README.md Makefile scripts | tar -C "$run" -xf -
tar -C "$ROOT" --exclude=__pycache__ --exclude='*.o' -cf - examples | tar -C "$run" -xf -
tar -C "$ROOT" --exclude=__pycache__ --exclude='*.o' -cf - tests pyproject.toml | tar -C "$run" -xf -
# The hostile-object tests bend the parser's committed test objects too (data, no code).
mkdir -p "$run/src/elf"
cp -r "$ROOT/src/elf/testdata" "$run/src/elf/"
cd "$run"

step "installed package, version, CLI"
in_venv python - "$tmp/venv" "$version" <<'EOF'
import importlib.metadata
import subprocess
import sys
from pathlib import Path

import bpfbind
import bpfbind._native

venv, version = Path(sys.argv[1]).resolve(), sys.argv[2]
for mod in (bpfbind, bpfbind._native):
    where = Path(mod.__file__).resolve()
    assert where.is_relative_to(venv), f"{mod.__name__} from {where}, not the venv"
    print(f"{mod.__name__}: {where}")
dist = importlib.metadata.version("bpfbind")
assert dist == bpfbind.__version__ == version, (dist, bpfbind.__version__, version)
for cmd in (["bpfbind", "--version"], [sys.executable, "-m", "bpfbind", "--version"]):
    out = subprocess.run(cmd, check=True, capture_output=True, text=True).stdout
    assert out == f"bpfbind {version}\n", (cmd, out)
    print(f"{' '.join(cmd)}: {out.strip()}")
print(f"version {version}: Cargo.toml = wheel metadata = bpfbind.__version__ = CLI")
EOF

step "mypy --strict on user code, against the installed wheel"
mypy=(python -m mypy --strict --cache-dir "$tmp/mypy-cache")
in_venv "${mypy[@]}" tests/wheel/user_code.py
# The stubs must really be read: a wrong type has to be caught.
if in_venv "${mypy[@]}" -c 'import bpfbind; v: int = bpfbind.__version__' >"$tmp/neg.txt"; then
    fail "mypy accepted an int for bpfbind.__version__: _native.pyi is not used"
fi
grep -q 'Incompatible types in assignment' "$tmp/neg.txt" || fail "$(cat "$tmp/neg.txt")"
echo "mypy rejects a wrong type from the stubs, as it should"

step "load and scan with the installed CLI"
if [ "$(id -u)" = 0 ] && awk '$2 == "/sys/fs/bpf" && $3 == "bpf" {f=1} END {exit !f}' /proc/mounts; then
    in_venv make -s -C "$run/tests/bpf" O="$tmp/bpf" "$tmp/bpf/metadata_used.bpf.o"
    obj=$tmp/bpf/metadata_used.bpf.o
    pin=/sys/fs/bpf/bpfbind-wheel-$$
    in_venv bpfbind prog loadall "$obj" "$pin"
    in_venv bpfbind prog show pinned "$pin/prog" | tee "$tmp/show.txt"
    grep -q $'^\tmetadata:$' "$tmp/show.txt" || fail "no metadata in prog show"
    grep -q $'^\t\ta = "foo"$' "$tmp/show.txt" || fail "metadata a missing"
    in_venv bpfbind -j prog show pinned "$pin/prog" |
        in_venv python -c 'import json, sys; m = json.load(sys.stdin)["metadata"]
assert m == {"a": "foo", "b": 1}, m'
    rm -rf "$pin"
    in_venv python tests/wheel/user_code.py "$obj" "$pin"
    [ ! -e "$pin" ] || fail "user_code.py left $pin"
    pin=""
elif [ "${BPFBIND_REQUIRE_KERNEL:-}" = 1 ]; then
    fail "bpf(2) needs root and bpffs at /sys/fs/bpf (BPFBIND_REQUIRE_KERNEL=1)"
else
    echo "skipped: needs root and bpffs at /sys/fs/bpf"
fi

step "the test suite against the installed wheel"
cat >"$run/wheel_guard.py" <<'EOF'
"""pytest plugin of scripts/wheel_test.sh: the tests must import the installed wheel."""

import os
import sys
from pathlib import Path

import bpfbind
import pytest


def pytest_report_header() -> list[str]:
    return [
        f"bpfbind {bpfbind.__version__} from {Path(bpfbind.__file__).parent}",
        f"BPFBIND_REQUIRE_KERNEL={os.environ.get('BPFBIND_REQUIRE_KERNEL', '')}",
    ]


def pytest_sessionstart(session: pytest.Session) -> None:
    where = Path(bpfbind.__file__).resolve()
    if not where.is_relative_to(Path(sys.prefix).resolve()):
        raise pytest.UsageError(f"bpfbind imported from {where}, not the venv")
EOF
set +e
in_venv python -m pytest -p wheel_guard -p no:cacheprovider --basetemp "$tmp/pytest" -ra tests
suite=$?
set -e

step "import time of the installed package (a figure, not a gate)"
in_venv python "$ROOT/bench/import_time.py" --repeat 20 | tee "$tmp/import_time.txt"
import_json=$(tail -n 1 "$tmp/import_time.txt")

step "summary"
echo "wheel: $(basename "$wheel") $(size "$wheel") bytes ($(( ($(size "$wheel") + 1023) / 1024 )) KiB)"
echo "native module: $(unzip -l "$wheel" | awk '/_native.abi3.so/ {print $1}') bytes unpacked"
echo "sdist: $(basename "$sdist") $(size "$sdist") bytes"
in_venv python -c 'import json, sys
print("import time: bpfbind %(bpfbind_ms_median).1f ms, json %(json_ms_median).1f ms,"
      " ratio %(ratio_median)s (goal <= %(goal)s)" % json.loads(sys.argv[1]))' "$import_json"
echo "time: $((SECONDS - started)) s"
[ $suite -eq 0 ] || fail "the test suite failed against the installed wheel (pytest exit $suite)"
echo "wheel-test: OK"
