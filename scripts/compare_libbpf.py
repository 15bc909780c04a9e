#!/usr/bin/env python3
"""Loads every BPF object of a folder with libbpf and with bpfbind, and compares the
kernel's program tags (issue 10).

The tag is a hash of a program's final instructions (map fds zeroed), so equal tags
mean bpfbind relocated the code exactly as libbpf did. libbpf is Debian's bpftool
(``bpftool prog loadall``); bpfbind is ``bpfbind.sync.load_object``. A tool for the
developers, run on real objects (bcc's libbpf-tools, libbpf-bootstrap, ...), not part
of CI. Needs root and a bpffs at /sys/fs/bpf.

    python3 scripts/compare_libbpf.py DIR [--json OUT]

Every ``*.o`` under DIR (recursively) gets one line: ``same`` (both loaded, every tag
equal), ``DIFFERENT`` (both loaded, a tag or the set of programs differs),
``libbpf-only``, ``bpfbind-only`` or ``neither``, with the reasons. A summary follows.
Nothing stays behind, even on Ctrl-C or SIGTERM: bpftool's pins are removed after each
object (which unloads its programs) and bpfbind's objects are closed.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
from collections import Counter
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from types import FrameType
from typing import Any

import bpfbind
import bpfbind.sync

KERNEL_NAME_LEN = 15  # BPF_OBJ_NAME_LEN - 1

OUTCOMES = ("same", "DIFFERENT", "libbpf-only", "bpfbind-only", "neither")


@dataclass
class Prog:
    tag: str
    type: str = ""
    kernel_name: str = ""
    bytes_xlated: int | None = None


@dataclass
class Load:
    """One loader's result for one object: programs by full name, or the error."""

    ok: bool = False
    programs: dict[str, Prog] = field(default_factory=dict)
    error_class: str | None = None
    error: str | None = None  # one line
    details: str | None = None  # bpftool's stderr, the exception's feature, ...


@dataclass
class Result:
    path: str
    outcome: str
    libbpf: Load
    bpfbind: Load
    diffs: list[str] = field(default_factory=list)


# -- libbpf: bpftool prog loadall ----------------------------------------------------


def libbpf_reason(stderr: str) -> str:
    """The line of bpftool's stderr that says why the load failed."""
    lines = [ln.strip() for ln in stderr.splitlines() if ln.strip()]
    for ln in lines:
        if ln.startswith("libbpf: ") and (
            "failed" in ln or "error" in ln.lower() or "unsupported" in ln
        ):
            if "failed to load object" in ln or "Retrying" in ln:
                continue  # the summary line, or a warning before the real error
            return ln.removeprefix("libbpf: ")
    errors = [ln for ln in lines if ln.startswith("Error:")]
    if errors:
        return errors[0]
    return lines[-1] if lines else "no output"


def load_libbpf(bpftool: str, obj: Path, pin_dir: Path, timeout: float) -> Load:
    """``bpftool prog loadall OBJ PIN_DIR``, reads each pin's tag, removes the pins."""
    res = Load()
    try:
        proc = subprocess.run(
            [bpftool, "prog", "loadall", str(obj), str(pin_dir)],
            capture_output=True,
            text=True,
            errors="replace",
            timeout=timeout,
        )
        if proc.returncode != 0:
            res.error_class = f"bpftool exit {proc.returncode}"
            res.error = libbpf_reason(proc.stderr)
            res.details = proc.stderr
            return res
        # libbpf 1.1 pins each program as PIN_DIR/<full program name>
        for pin in sorted(pin_dir.iterdir()):
            show = subprocess.run(
                [bpftool, "-j", "prog", "show", "pinned", str(pin)],
                capture_output=True,
                text=True,
                errors="replace",
                timeout=timeout,
                check=True,
            )
            info: dict[str, Any] = json.loads(show.stdout)
            res.programs[pin.name] = Prog(
                tag=str(info["tag"]).lower(),
                type=str(info.get("type", "")),
                kernel_name=str(info.get("name", "")),
                bytes_xlated=info.get("bytes_xlated"),
            )
        res.ok = True
    except subprocess.TimeoutExpired as e:
        res.error_class = "timeout"
        res.error = f"bpftool took more than {e.timeout:g}s"
    except (subprocess.CalledProcessError, OSError, ValueError, KeyError) as e:
        res.ok = False
        res.programs.clear()
        res.error_class = type(e).__name__
        res.error = first_line(str(e))
    finally:
        # the pins are the programs' only references: removing them unloads them
        if pin_dir.exists():
            shutil.rmtree(pin_dir)
    return res


# -- bpfbind ------------------------------------------------------------------------


def first_line(s: str) -> str:
    return s.strip().splitlines()[0] if s.strip() else ""


def load_bpfbind(obj: Path) -> Load:
    res = Load()
    try:
        with bpfbind.sync.load_object(obj) as loaded:
            for name, p in loaded.programs.items():
                try:
                    xlated: int | None = bpfbind.sync.program_info(p).bytes_xlated
                except Exception:
                    xlated = None
                res.programs[name] = Prog(
                    tag=p.tag.lower(),
                    type=p.type,
                    kernel_name=name[:KERNEL_NAME_LEN],
                    bytes_xlated=xlated,
                )
        res.ok = True
    except Exception as e:
        res.ok = False
        res.programs.clear()
        res.error_class = type(e).__name__
        res.error = first_line(str(e)) or repr(e)
        feature = getattr(e, "feature", None)
        if feature:
            res.details = f"feature: {feature}"
    return res


# -- comparison ---------------------------------------------------------------------


def match(libbpf: dict[str, Prog], ours: dict[str, Prog]) -> dict[str, str]:
    """libbpf's program name -> bpfbind's: the same full name, else the only bpfbind
    program whose first 15 characters (the kernel's name) agree."""
    pairs: dict[str, str] = {}
    left = set(ours)
    for name in libbpf:
        if name in left:
            pairs[name] = name
            left.discard(name)
    for name in libbpf:
        if name in pairs:
            continue
        short = name[:KERNEL_NAME_LEN]
        cands = [n for n in left if n[:KERNEL_NAME_LEN] == short]
        if len(cands) == 1:
            pairs[name] = cands[0]
            left.discard(cands[0])
    return pairs


def compare(path: str, lib: Load, ours: Load) -> Result:
    if not lib.ok or not ours.ok:
        outcome = "libbpf-only" if lib.ok else "bpfbind-only" if ours.ok else "neither"
        return Result(path, outcome, lib, ours)
    pairs = match(lib.programs, ours.programs)
    diffs: list[str] = []
    for lname, oname in sorted(pairs.items()):
        a, b = lib.programs[lname], ours.programs[oname]
        if a.tag != b.tag:
            size = (
                f", xlated {a.bytes_xlated}B vs {b.bytes_xlated}B"
                if a.bytes_xlated != b.bytes_xlated
                else ""
            )
            diffs.append(f"{oname}: libbpf {a.tag} bpfbind {b.tag}{size}")
    for lname in sorted(set(lib.programs) - set(pairs)):
        diffs.append(f"{lname}: loaded by libbpf only")
    for oname in sorted(set(ours.programs) - set(pairs.values())):
        diffs.append(f"{oname}: loaded by bpfbind only")
    return Result(path, "DIFFERENT" if diffs else "same", lib, ours, diffs)


def reason_key(load: Load) -> str:
    """An error class and the gist of its message (its first and last clauses),
    without the names of programs, maps and sections or offsets, so that equal causes
    count together."""
    msg = load.error or ""
    msg = re.sub(r"^\[Errno \d+\]\s*", "", msg)
    msg = re.sub(r"^(prog|program|map) '[^']*':\s*", "", msg)
    msg = re.sub(r"'[^']*'|\"[^\"]*\"|\([^)]*\)", "", msg)
    msg = re.sub(r"0x[0-9a-fA-F]+|#\d+", "N", msg)  # offsets, instruction numbers
    clauses = [" ".join(c.split()) for c in msg.split(": ")]
    clauses = [c for c in clauses if c]
    if len(clauses) > 2:
        clauses = [clauses[0], f"... {clauses[-1]}"]
    gist = " ".join(": ".join(clauses).split()[:12]).rstrip(":;,. ")
    feature = ""
    if load.details and load.details.startswith("feature: "):
        feature = f" [{load.details.removeprefix('feature: ')}]"
    return f"{load.error_class}{feature}: {gist}"


def line(r: Result, width: int) -> str:
    head = f"{r.outcome:<12} {r.path:<{width}}"
    if r.outcome == "same":
        return f"{head}  {len(r.libbpf.programs)} programs"
    if r.outcome == "DIFFERENT":
        return f"{head}  " + "; ".join(r.diffs)
    parts = []
    if not r.libbpf.ok:
        parts.append(f"libbpf: {r.libbpf.error}")
    if not r.bpfbind.ok:
        parts.append(f"bpfbind: {r.bpfbind.error_class}: {r.bpfbind.error}")
    return f"{head}  " + " | ".join(parts)


def table(title: str, counts: Counter[str]) -> list[str]:
    out = [title]
    width = max((len(k) for k in counts), default=0)
    for key, n in sorted(counts.items(), key=lambda kv: (-kv[1], kv[0])):
        out.append(f"  {key:<{width}}  {n:>4}")
    return out


def summary(results: list[Result]) -> tuple[list[str], dict[str, Any]]:
    outcomes = Counter({o: 0 for o in OUTCOMES})
    outcomes.update(r.outcome for r in results)
    classes = Counter(r.bpfbind.error_class or "" for r in results if not r.bpfbind.ok)
    reasons = Counter(reason_key(r.bpfbind) for r in results if not r.bpfbind.ok)
    lib_reasons = Counter(reason_key(r.libbpf) for r in results if not r.libbpf.ok)
    lines = [f"{len(results)} objects"]
    lines += ["outcome"] + [f"  {o:<12}  {outcomes[o]:>4}" for o in OUTCOMES]
    lines += table("bpfbind errors by class", classes)
    lines += table("bpfbind errors by class and first words", reasons)
    lines += table("libbpf (bpftool) errors", lib_reasons)
    data = {
        "objects": len(results),
        "outcomes": dict(outcomes),
        "bpfbind_error_classes": dict(classes),
        "bpfbind_error_reasons": dict(reasons),
        "libbpf_error_reasons": dict(lib_reasons),
    }
    return lines, data


# -- main ---------------------------------------------------------------------------


def _terminate(signum: int, frame: FrameType | None) -> None:
    # SIGTERM/SIGHUP unwind like Ctrl-C, through every finally
    raise KeyboardInterrupt(f"signal {signum}")


def bpfbind_build() -> str:
    """bpfbind's version and when its native module was built: the editable install
    changes under a running comparison when someone rebuilds."""
    from bpfbind import _native

    built = datetime.fromtimestamp(os.stat(_native.__file__).st_mtime, UTC)
    return f"bpfbind {bpfbind.__version__} (native module of {built:%Y-%m-%d %H:%M}Z)"


def version(cmd: list[str]) -> str:
    try:
        out = subprocess.run(cmd, capture_output=True, text=True, timeout=30).stdout
    except OSError as e:
        return f"unavailable: {e}"
    return " ".join(out.split())


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(
        description="Load every *.o of a folder with libbpf (bpftool prog loadall) "
        "and with bpfbind and compare the programs' tags."
    )
    ap.add_argument("folder", type=Path, help="searched recursively for *.o")
    ap.add_argument("--json", type=Path, metavar="OUT", help="write full results")
    ap.add_argument("--bpftool", default=shutil.which("bpftool") or "bpftool")
    ap.add_argument(
        "--bpffs", type=Path, default=Path("/sys/fs/bpf"), help="where to pin"
    )
    ap.add_argument("--timeout", type=float, default=300.0, help="per bpftool call")
    args = ap.parse_args(argv)

    objs = sorted(p for p in args.folder.rglob("*.o") if p.is_file())
    if not objs:
        print(f"no *.o under {args.folder}", file=sys.stderr)
        return 2
    for sig in (signal.SIGTERM, signal.SIGHUP):
        signal.signal(sig, _terminate)

    rel = [str(p.relative_to(args.folder)) for p in objs]
    width = max(len(r) for r in rel)
    results: list[Result] = []
    pin_root = Path(tempfile.mkdtemp(prefix="compare_libbpf_", dir=args.bpffs))
    try:
        for i, (obj, name) in enumerate(zip(objs, rel, strict=True)):
            lib = load_libbpf(args.bpftool, obj, pin_root / str(i), args.timeout)
            ours = load_bpfbind(obj)
            r = compare(name, lib, ours)
            results.append(r)
            print(line(r, width), flush=True)
    except KeyboardInterrupt:
        print(f"interrupted after {len(results)} of {len(objs)} objects", flush=True)
        raise
    finally:
        shutil.rmtree(pin_root, ignore_errors=True)
        if pin_root.exists():
            print(f"warning: could not remove {pin_root}", file=sys.stderr)

    lines, data = summary(results)
    build = bpfbind_build()
    tool = version([args.bpftool, "version"])
    print()
    print(f"{build}; {tool}; kernel {os.uname().release}")
    print("\n".join(lines))
    if args.json:
        doc = {
            "folder": str(args.folder),
            "bpftool": tool,
            "bpfbind": build,
            "kernel": os.uname().release,
            "summary": data,
            "results": [asdict(r) for r in results],
        }
        args.json.write_text(json.dumps(doc, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except KeyboardInterrupt:
        sys.exit(130)
