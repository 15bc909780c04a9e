"""Import-time benchmark (issue 6): a fresh `python -c "import bpfbind"` against a fresh
`python -c "import json"`, both in the same run, one subprocess each, alternated.

Each figure is the wall time of a whole interpreter run (start-up, import, exit), the
cost a CLI user or a short-lived script pays. Ratio = bpfbind / json, by median and by
best; goal <= 1.5 (median). Then `python -X importtime` says where bpfbind's own import
time goes: its direct imports and the heaviest modules it pulls in.

    python3 bench/import_time.py [--python PATH] [--repeat 40] [--quick]
"""

from __future__ import annotations

import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass

import _common as c

GOAL = 1.5
TARGET, BASELINE = "bpfbind", "json"


def wall(python: str, module: str, cwd: str) -> float:
    """Seconds for one `python -c "import MODULE"`, spawn to exit."""
    start = time.perf_counter()
    cmd = [python, "-c", f"import {module}"]
    subprocess.run(cmd, cwd=cwd, check=True, stdout=subprocess.DEVNULL)
    return time.perf_counter() - start


@dataclass
class Line:
    self_us: int
    cum_us: int
    depth: int
    name: str


def importtime(python: str, module: str, cwd: str) -> list[Line]:
    """`-X importtime`'s lines for one import; depth 0 is a top-level import."""
    proc = subprocess.run(
        [python, "-X", "importtime", "-c", f"import {module}"],
        cwd=cwd,
        check=True,
        capture_output=True,
        text=True,
    )
    lines = []
    for raw in proc.stderr.splitlines():
        if not raw.startswith("import time:") or "self [us]" in raw:
            continue
        self_us, cum_us, name = raw.removeprefix("import time:").split("|")
        stripped = name.lstrip(" ")
        depth = (len(name) - len(stripped) - 1) // 2
        lines.append(Line(int(self_us), int(cum_us), depth, stripped))
    return lines


def subtree(lines: list[Line], top: str) -> list[Line]:
    """The modules first imported under `top` (importtime prints children first)."""
    for i, line in enumerate(lines):
        if line.depth == 0 and line.name == top:
            start = i
            while start > 0 and lines[start - 1].depth > 0:
                start -= 1
            return lines[start : i + 1]
    return []


def cumulative_ms(python: str, module: str, cwd: str, runs: int) -> float:
    """Median of the module's own cumulative import time (no interpreter start-up)."""
    times = []
    for _ in range(runs):
        tree = subtree(importtime(python, module, cwd), module)
        times.append(tree[-1].cum_us / 1000 if tree else 0.0)
    return statistics.median(times)


def main() -> int:
    p = c.parser(__doc__)
    p.add_argument("--python", default=sys.executable, help="interpreter to measure")
    p.add_argument("--repeat", type=int, default=40, help="runs of each, alternated")
    args = p.parse_args()
    repeat = 8 if args.quick else args.repeat
    py = args.python

    # A directory with nothing importable in it: `-c` puts the cwd first on sys.path.
    with tempfile.TemporaryDirectory(prefix="bpfbind-import-") as cwd:
        where = subprocess.run(
            [py, "-c", "import bpfbind; print(bpfbind.__file__)"],
            cwd=cwd,
            check=True,
            capture_output=True,
            text=True,
        ).stdout.strip()
        for module in (TARGET, BASELINE):  # warm the page cache and the .pyc files
            wall(py, module, cwd)
        runs: dict[str, list[float]] = {TARGET: [], BASELINE: []}
        for i in range(repeat):
            # ABBA order: neither side always runs first after the other.
            order = (TARGET, BASELINE) if i % 2 == 0 else (BASELINE, TARGET)
            for module in order:
                runs[module].append(wall(py, module, cwd))
        own = {m: cumulative_ms(py, m, cwd, 5) for m in (TARGET, BASELINE)}
        tree = subtree(importtime(py, TARGET, cwd), TARGET)

    med = {m: statistics.median(t) * 1000 for m, t in runs.items()}
    best = {m: min(t) * 1000 for m, t in runs.items()}
    ratio_med = c.ratio(med[TARGET], med[BASELINE])
    ratio_best = c.ratio(best[TARGET], best[BASELINE])

    print(f"python {py}\n{TARGET} from {where}\n{repeat} runs of each, alternated\n")
    report = c.Report("import_time")
    for m in (TARGET, BASELINE):
        report.row(f'python -c "import {m}"', med[m], best[m], own[m])
    report.row("ratio", ratio_med, ratio_best, c.ratio(own[TARGET], own[BASELINE]))
    report.table(["", "median ms", "best ms", "import only ms"])
    print(f"\ngoal: median ratio <= {GOAL}: {c.goal(ratio_med, GOAL)}")

    direct = [ln for ln in tree if ln.depth == 1]
    outside = [ln for ln in tree if not ln.name.startswith(f"{TARGET}.")]
    heavy = sorted(outside[:-1], key=lambda ln: ln.cum_us, reverse=True)
    print(f"\nwhere `import {TARGET}` spends its time (-X importtime, cumulative ms):")
    for ln in sorted(direct, key=lambda ln: ln.cum_us, reverse=True):
        print(f"  {ln.name:<32} {ln.cum_us / 1000:7.2f}")
    print("heaviest modules it pulls in from outside the package:")
    for ln in heavy[:8]:
        print(f"  {ln.name:<32} {ln.cum_us / 1000:7.2f}")

    report.figures.update(
        python_exe=py,
        module_file=where,
        repeat=repeat,
        bpfbind_ms_median=round(med[TARGET], 3),
        json_ms_median=round(med[BASELINE], 3),
        bpfbind_ms_best=round(best[TARGET], 3),
        json_ms_best=round(best[BASELINE], 3),
        ratio_median=ratio_med,
        ratio_best=ratio_best,
        bpfbind_import_only_ms=round(own[TARGET], 3),
        json_import_only_ms=round(own[BASELINE], 3),
        direct_imports_ms={ln.name: round(ln.cum_us / 1000, 3) for ln in direct},
        goal=GOAL,
        goal_met=c.goal(ratio_med, GOAL) == "met",
    )
    report.emit()
    return 0


if __name__ == "__main__":
    sys.exit(main())
