"""CO-RE load benchmark (issue 10): load bench/core_task.bpf.o, a tracepoint program
whose task_struct reads carry CO-RE relocations, against libbpf.

libbpf reads and parses the whole kernel BTF for every object it loads, so each of its
loads costs the same. bpfbind maps the kernel's BTF once per process and decodes only
the types a relocation reaches, so its first load in a fresh process pays for that and
later loads in the same process do not. Both are timed against libbpf's load of the same
object (bench/out/load_libbpf), best of --repeat runs. Goals: first load <= 0.5x
libbpf's, later loads <= 0.1x.

    python3 bench/load_core.py [--n 200] [--repeat 5] [--quick]
"""

from __future__ import annotations

import json
import subprocess
import sys

import _common as c

OBJ = c.ANCHORS / "core_task.bpf.o"

# A fresh interpreter: the import is not timed, the first load and `n` later ones are.
_CHILD = """
import json, sys, time
from bpfbind import sync
obj, n = sys.argv[1], int(sys.argv[2])
t = time.perf_counter()
sync.load_object(obj).close()
first = time.perf_counter() - t
t = time.perf_counter()
for _ in range(n):
    sync.load_object(obj).close()
print(json.dumps({"first": first, "later": (time.perf_counter() - t) / max(n, 1)}))
"""


def bpfbind_run(n: int) -> dict[str, float]:
    proc = subprocess.run(
        [sys.executable, "-c", _CHILD, str(OBJ), str(n)],
        check=True,
        stdout=subprocess.PIPE,
        text=True,
    )
    result: dict[str, float] = json.loads(proc.stdout.strip().splitlines()[-1])
    return result


def main() -> int:
    p = c.parser(__doc__)
    p.add_argument("--n", type=int, default=200, help="later loads per run")
    p.add_argument("--repeat", type=int, default=5, help="runs of each, best kept")
    args = p.parse_args()
    if args.quick:
        args.n, args.repeat = 20, 2
    c.build()
    rep = c.Report("load_core")
    firsts, laters, libbpf_one, libbpf_n = [], [], [], []
    for r in range(args.repeat):
        # libbpf in a fresh process for one load, and for n loads in a row.
        libbpf_one.append(c.anchor("load_libbpf", OBJ, 1)["seconds"])
        libbpf_n.append(c.anchor("load_libbpf", OBJ, args.n)["seconds"] / args.n)
        run = bpfbind_run(args.n)
        firsts.append(run["first"])
        laters.append(run["later"])
        c.progress(f"run {r + 1}/{args.repeat} done")
    lib1, libn = min(libbpf_one), min(libbpf_n)
    first, later = min(firsts), min(laters)
    r_first, r_later = c.ratio(first, lib1), c.ratio(later, libn)
    rep.figures.update(
        object=OBJ.name,
        n=args.n,
        repeat=args.repeat,
        libbpf_first_s=libbpf_one,
        libbpf_per_load_s=libbpf_n,
        bpfbind_first_s=firsts,
        bpfbind_later_s=laters,
        ratios={"first": r_first, "later": r_later},
        goals={"first": c.goal(r_first, 0.5), "later": c.goal(r_later, 0.1)},
    )
    rep.row("libbpf, one load in a fresh process", lib1 * 1e3, 1.0, "anchor")
    rep.row("libbpf, per load of n in a row", libn * 1e3, 1.0, "anchor")
    rep.row(
        "bpfbind, first load in a fresh process",
        first * 1e3,
        r_first,
        f"<= 0.5: {c.goal(r_first, 0.5)}",
    )
    rep.row(
        "bpfbind, later loads in that process",
        later * 1e3,
        r_later,
        f"<= 0.1: {c.goal(r_later, 0.1)}",
    )
    print(f"\nCO-RE loads of {OBJ.name}, best of {args.repeat} (ratio to libbpf)")
    rep.table(["loader", "ms/load", "ratio", "goal"])
    rep.emit()
    return 0


if __name__ == "__main__":
    sys.exit(c.run(main))
