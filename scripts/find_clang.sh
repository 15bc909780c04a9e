#!/usr/bin/env bash
# Prints the clang to build BPF programs with: $CLANG if set, else `clang` when its
# version is MIN..22 (MIN: the first argument, 14 by default), else the newest clang-NN
# of those versions on PATH. Exits 1, printing nothing, when there is none.
#
#   scripts/find_clang.sh        # any supported clang
#   scripts/find_clang.sh 15     # one with bpf_core_type_matches()
set -euo pipefail
min=${1:-14}
max=22
major() { "$1" --version 2>/dev/null | sed -n 's/.*clang version \([0-9][0-9]*\)\..*/\1/p' | head -n 1; }
fits() {
    local v
    v=$(major "$1")
    [ -n "$v" ] && [ "$v" -ge "$min" ] && [ "$v" -le "$max" ]
}
if [ -n "${CLANG:-}" ]; then
    fits "$CLANG" && { command -v "$CLANG"; exit 0; }
    exit 1
fi
for c in clang $(seq -f 'clang-%g' "$max" -1 "$min"); do
    if command -v "$c" >/dev/null && fits "$c"; then
        command -v "$c"
        exit 0
    fi
done
exit 1
