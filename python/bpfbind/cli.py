"""The `bpfbind` command: bpftool's `prog show`/`load`/`loadall` grammar and output,
plus offline `metadata` of object files and `feature probe`."""

from __future__ import annotations

import json
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from . import _core, _native
from .errors import BpfError

USAGE = """\
Usage: bpfbind [-j|--json] [-p|--pretty] COMMAND
  bpfbind prog show [id ID | pinned PATH | name NAME | tag TAG] [--metadata]
  bpfbind prog load OBJ PATH
  bpfbind prog loadall OBJ DIR
  bpfbind link show [id ID | pinned PATH]
  bpfbind metadata OBJ
  bpfbind feature probe
  bpfbind gen skeleton OBJ [-o FILE] [--name NAME]
  bpfbind exporter [--listen ADDR:PORT] [--textfile PATH] [--interval S]
                   [--enable-stats] [--metadata-labels KEY,...] [--once]
  bpfbind --version
"""


class UsageError(Exception):
    pass


def _fail(msg: str) -> int:
    print(f"Error: {msg}", file=sys.stderr)
    return 1


def _out(text: str) -> None:
    sys.stdout.write(text)
    sys.stdout.flush()


def main(argv: Sequence[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    if args[:1] == ["exporter"]:
        return _exporter(args[1:])
    flags = {"json": False, "pretty": False, "metadata": False}
    words: list[str] = []
    it = iter(args)
    for a in it:
        if a in ("-j", "--json"):
            flags["json"] = True
        elif a in ("-p", "--pretty"):
            flags["json"] = flags["pretty"] = True
        elif a == "--metadata":
            flags["metadata"] = True
        elif a in ("-V", "--version"):
            _out(f"bpfbind {_native.__version__}\n")
            return 0
        elif a in ("-h", "--help", "help"):
            _out(USAGE)
            return 0
        else:
            words.append(a)
    try:
        return _dispatch(words, flags)
    except UsageError as e:
        print(f"Error: {e}\n{USAGE}", file=sys.stderr, end="")
        return 2
    except BrokenPipeError:
        return 0
    except BpfError as e:
        return _fail(e.strerror if e.errno is not None and e.strerror else str(e))
    except (OSError, ValueError) as e:
        return _fail(str(e))


def _dispatch(words: list[str], flags: dict[str, bool]) -> int:
    match words:
        case ["prog", ("show" | "list"), *rest]:
            return _prog_show(rest, flags)
        case ["link", ("show" | "list"), *rest]:
            return _link_show(rest, flags)
        case ["prog", "load", obj, path]:
            return _prog_load(obj, path, all_=False)
        case ["prog", "loadall", obj, path]:
            return _prog_load(obj, path, all_=True)
        case ["metadata", obj]:
            return _metadata(obj, flags)
        case ["feature", "probe"] | ["feature"]:
            return _feature(flags)
        case ["gen", "skeleton", *rest]:
            from .skel import main as skel_main

            return skel_main(rest)
    raise UsageError(f"unknown command {' '.join(words) or '(none)'}")


def _exporter(args: list[str]) -> int:
    """Its own options (argparse): the exporter is a long-running service."""
    try:
        from .exporter import main as exporter_main
    except ImportError as e:
        if e.name is None or not e.name.startswith("prometheus_client"):
            raise
        return _fail(
            "the exporter needs prometheus_client: pip install 'bpfbind[exporter]'"
        )
    return exporter_main(args)


def _prog_show(rest: list[str], flags: dict[str, bool]) -> int:
    match rest:
        case []:
            return _stream(_native.Scanner(json=True, memlock=True), flags)
        case ["id", ident]:
            if not ident.isdigit():
                raise UsageError(f"can't parse {ident} as ID")
            return _show_one(_native.open_program(id=int(ident)), flags)
        case ["pinned", path]:
            return _show_one(_native.open_program(path=path), flags)
        case ["name", name]:
            scanner = _native.Scanner(name=name, json=True, memlock=True)
        case ["tag", tag]:
            scanner = _native.Scanner(tag=tag, json=True, memlock=True)
        case _:
            raise UsageError(f"expected id, pinned, name or tag, got {' '.join(rest)}")
    # Like bpftool: one match prints an object, several a list; so collect (a name or
    # tag selects few programs).
    recs = []
    while chunk := scanner.next_batch(1024):
        recs.extend(chunk)
    if not recs:
        return _fail(f"no program with {rest[0]} {rest[1]} found")
    return _print(recs, flags, single=len(recs) == 1)


def _link_show(rest: list[str], flags: dict[str, bool]) -> int:
    """bpftool's `link show`: every link, or one by id or pinned path."""
    match rest:
        case []:
            sel: dict[str, Any] = {}
        case ["id", ident]:
            if not ident.isdigit():
                raise UsageError(f"can't parse {ident} as ID")
            sel = {"id": int(ident)}
        case ["pinned", path]:
            sel = {"path": path}
        case _:
            raise UsageError(f"expected id or pinned, got {' '.join(rest)}")
    text = _native.show_links(**sel, json=flags["json"], pretty=flags["pretty"])
    _out(text + "\n" if flags["json"] else text)
    return 0


def _show_one(prog: _native.Program, flags: dict[str, bool]) -> int:
    try:
        rec = _native.read_program(prog.fd, json=True)
    finally:
        prog.close()
    return _print([rec], flags, single=True)


def _stream(scanner: _native.Scanner, flags: dict[str, bool]) -> int:
    """The whole host, printed batch by batch: memory stays bounded by a batch. The
    first batch is read before anything is printed, so an error prints only itself."""
    chunk = scanner.next_batch(1024)
    if not flags["json"]:
        while chunk:
            _out(_native.format_plain(chunk, metadata_only=flags["metadata"]))
            chunk = scanner.next_batch(1024)
        return 0
    parts = 0
    _out("[")
    while chunk:
        # A list's items rendered alone (`single` joins them with commas, without
        # brackets); pretty-printing depends only on depth, so a chunk renders the
        # same wherever it stands in the list.
        if flags["pretty"]:
            text = _native.format_json(chunk, pretty=True)[1:].removesuffix("\n]")
        else:
            text = _native.format_json(chunk, single=True)
        _out(("," if parts else "") + text)
        parts += 1
        chunk = scanner.next_batch(1024)
    _out("\n]\n" if flags["pretty"] and parts else "]\n")
    return 0


def _print(
    recs: list[_native.ProgramInfo], flags: dict[str, bool], single: bool
) -> int:
    if flags["json"]:
        _out(_native.format_json(recs, single=single, pretty=flags["pretty"]) + "\n")
    else:
        _out(_native.format_plain(recs, metadata_only=flags["metadata"]))
    return 0


def _prog_load(obj: str, path: str, *, all_: bool) -> int:
    if all_:
        with _core.load_object(obj, pin_dir=path) as o:
            for w in o.warnings:
                print(f"Warning: {w}", file=sys.stderr)
        return 0
    with _core.load_object(obj) as o:
        for w in o.warnings:
            print(f"Warning: {w}", file=sys.stderr)
        progs = list(o.programs.values())
        if not progs:
            return _fail(f"object {obj} has no programs")
        progs[0].pin(path)
    return 0


def _metadata(obj: str, flags: dict[str, bool]) -> int:
    items, warning = _native.object_metadata(
        Path(obj).read_bytes(), _core.object_name(obj)
    )
    if warning is not None:
        # Metadata that no tool can read is a failure to report, not an empty answer.
        print(f"Error: {obj}: {warning}", file=sys.stderr)
        return 1
    if flags["json"]:
        text = "{" + ",".join(f"{json.dumps(n)}:{j}" for n, _, j, _, _ in items) + "}"
        _out((_indented(text) if flags["pretty"] else text) + "\n")
    else:
        _out("".join(f"{_printable(n)} = {p}\n" for n, _, _, p, _ in items))
    return 0


def _indented(text: str) -> str:
    return json.dumps(json.loads(text), indent=4)


def _printable(s: str) -> str:
    return "".join(c if c.isprintable() else "?" for c in s)


def _feature(flags: dict[str, bool]) -> int:
    feats = dict(_native.features())
    feats["bpffs_mounted"] = _bpffs_mounted()
    feats["map_census"] = _census_works()
    if flags["json"]:
        _out(json.dumps(feats, indent=4 if flags["pretty"] else None) + "\n")
    else:
        for k, v in feats.items():
            _out(f"{k}: {'yes' if v else 'no'}\n")
    return 0


def _census_works() -> bool:
    """Whether scans can take their map census (a BPF map iterator) here."""
    try:
        _native.map_census()
    except (OSError, ValueError):  # refused, or a kernel without what it reads
        return False
    return True


def _bpffs_mounted() -> bool:
    try:
        with open("/proc/self/mounts") as f:
            return any(line.split()[2] == "bpf" for line in f if len(line.split()) > 2)
    except OSError:
        return False
