"""The `bpfbind` command: bpftool's grammar (`prog show`/`load`/`loadall`, prefixes,
`help`, `-j` errors) and output, plus offline `metadata`, `feature probe`, `gen` and
`build`. Each command is one `Cmd` entry of `COMMANDS`; the parsing is generic."""

from __future__ import annotations

import errno
import sys
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from . import Id, Map, ProgramInfo, __version__, _core, show
from .errors import BpfError, BpfNotFoundError

# bpftool's exit status for every error (it returns -1).
EXIT_ERROR = 255


class UsageError(Exception):
    """The command line does not say what to do; the message says what is wrong."""


@dataclass(frozen=True)
class Opt:
    """An option of one command: ``names`` ("-o", "--output"), a value named
    ``metavar`` (None: a flag)."""

    names: tuple[str, ...]
    dest: str
    metavar: str | None = None
    help: str = ""


@dataclass(frozen=True)
class Cmd:
    """A command: a group of subcommands (``sub``, ``default`` run when the group is
    given alone) or a leaf with ``run``, its positional ``params`` (``optional`` ones
    after them), and its ``options``. ``grammar`` replaces the synopsis of a leaf that
    parses its own words (``free``); ``raw`` leaves get argv untouched."""

    name: str
    summary: str
    run: Callable[[Call], int] | None = None
    params: tuple[str, ...] = ()
    optional: tuple[str, ...] = ()
    options: tuple[Opt, ...] = ()
    sub: tuple[Cmd, ...] = ()
    default: str | None = None
    aliases: tuple[str, ...] = ()
    grammar: str = ""
    free: bool = False
    extra: bool = False
    raw: bool = False
    details: str = ""

    def synopsis(self) -> str:
        if self.grammar:
            return self.grammar
        parts = list(self.params) + [f"[{p}]" for p in self.optional]
        for o in self.options:
            parts.append(f"[{o.names[0]}{' ' + o.metavar if o.metavar else ''}]")
        if self.extra:
            parts.append("[-- ARG...]")
        return " ".join(parts)


@dataclass
class Call:
    """One parsed command line, as a command's ``run`` gets it."""

    path: str
    args: dict[str, str] = field(default_factory=dict)
    words: list[str] = field(default_factory=list)
    opts: dict[str, Any] = field(default_factory=dict)
    extra: list[str] = field(default_factory=list)
    json: bool = False
    pretty: bool = False
    metadata: bool = False
    no_pids: bool = False
    raw: list[str] = field(default_factory=list)


def _out(text: str) -> None:
    sys.stdout.write(text)
    sys.stdout.flush()


def _note(text: str) -> None:
    print(text, file=sys.stderr)


# --- the commands ---------------------------------------------------------------------


def _prog_show(c: Call) -> int:
    flags = {"json": c.json, "pretty": c.pretty, "metadata": c.metadata}
    # Upstream bpftool's pids; --metadata shows none, --no-pids prints Debian's output.
    pids = not (c.no_pids or c.metadata)
    rest = c.words
    match rest:
        case []:
            return _stream(show.iter_batches(pids=pids), flags)
        case ["id", ident]:
            if not ident.isdigit():
                raise UsageError(f"can't parse {ident} as ID")
            rec = show.program(_core.Id(int(ident)), pids=pids)
            return _print([rec], flags, single=True)
        case ["pinned", path]:
            return _print([show.program(path, pids=pids)], flags, single=True)
        case ["name", name]:
            batches = show.iter_batches(name=name, pids=pids)
        case ["tag", tag]:
            batches = show.iter_batches(tag=tag, pids=pids)
        case [("id" | "pinned" | "name" | "tag") as what]:
            value = "PATH" if what == "pinned" else what.upper()
            raise UsageError(f"prog show {what}: missing {value}")
        case [what, *_] if what not in ("id", "pinned", "name", "tag"):
            raise UsageError(
                f"prog show: expected id, pinned, name or tag, got '{what}'"
            )
        case _:
            raise UsageError(f"prog show: unexpected argument '{rest[2]}'")
    # Like bpftool: one match prints an object, several a list; so collect (a name or
    # tag selects few programs).
    recs = [rec for chunk in batches for rec in chunk]
    if not recs:
        raise _Failure(f"no program with {rest[0]} {rest[1]} found")
    return _print(recs, flags, single=len(recs) == 1)


def _link_show(c: Call) -> int:
    """bpftool's `link show`: every link, or one by id or pinned path."""
    match c.words:
        case []:
            text = show.format_link_show(json=c.json, pretty=c.pretty)
        case ["id", ident]:
            if not ident.isdigit():
                raise UsageError(f"can't parse {ident} as ID")
            try:
                text = show.format_link_show(
                    id=int(ident), json=c.json, pretty=c.pretty
                )
            except BpfNotFoundError as e:
                # bpftool's link show returns -errno there, not -1: 254 for ENOENT.
                _error(str(e), c.json)
                return 256 - errno.ENOENT
        case ["pinned", path]:
            text = show.format_link_show(path=path, json=c.json, pretty=c.pretty)
        case [("id" | "pinned") as key]:
            value = "PATH" if key == "pinned" else "ID"
            raise UsageError(f"link show {key}: missing {value}")
        case _:
            got = " ".join(c.words)
            raise UsageError(f"link show: expected id or pinned, got '{got}'")
    _out(text + "\n" if c.json else text)
    return 0


class _Failure(Exception):
    """A command that ran and failed, with the message to print."""


# `prog show --metadata` on a terminal counts on stderr past this many programs.
PROGRESS_AFTER = 2000


class _Progress:
    """A count of the programs scanned, on stderr when it is a terminal and the scan is
    long; the line is erased at the end so that the output stays as it is."""

    def __init__(self, enabled: bool) -> None:
        self.enabled = enabled and sys.stderr.isatty()
        self.shown = False
        self.done = 0

    def add(self, n: int) -> None:
        self.done += n
        if self.enabled and self.done >= PROGRESS_AFTER:
            sys.stderr.write(f"\rbpfbind: {self.done} programs scanned")
            sys.stderr.flush()
            self.shown = True

    def end(self) -> None:
        if self.shown:
            sys.stderr.write("\r\x1b[K")
            sys.stderr.flush()


def _stream(batches: Iterator[list[ProgramInfo]], flags: dict[str, bool]) -> int:
    """The whole host, printed batch by batch: memory stays bounded by a batch. The
    first batch is read before anything is printed, so an error prints only itself."""
    progress = _Progress(flags["metadata"])
    try:
        return _stream_batches(batches, flags, progress)
    finally:
        progress.end()


def _stream_batches(
    batches: Iterator[list[ProgramInfo]], flags: dict[str, bool], progress: _Progress
) -> int:
    chunk = next(batches, [])
    progress.add(len(chunk))
    if not flags["json"]:
        while chunk:
            _out(show.format_plain(chunk, metadata_only=flags["metadata"]))
            chunk = next(batches, [])
            progress.add(len(chunk))
        return 0
    parts = 0
    _out("[")
    while chunk:
        # A list's items rendered alone (`single` joins them with commas, without
        # brackets); pretty-printing depends only on depth, so a chunk renders the
        # same wherever it stands in the list.
        meta = flags["metadata"]
        if flags["pretty"]:
            text = show.format_json(chunk, pretty=True, metadata_only=meta)
            text = text[1:].removesuffix("\n]")
        else:
            text = show.format_json(chunk, single=True, metadata_only=meta)
        _out(("," if parts else "") + text)
        parts += 1
        chunk = next(batches, [])
        progress.add(len(chunk))
    _out("\n]\n" if flags["pretty"] and parts else "]\n")
    return 0


def _print(recs: list[ProgramInfo], flags: dict[str, bool], single: bool) -> int:
    if flags["json"]:
        text = show.format_json(
            recs, single=single, pretty=flags["pretty"], metadata_only=flags["metadata"]
        )
        _out(text + "\n")
    else:
        _out(show.format_plain(recs, metadata_only=flags["metadata"]))
    return 0


def _open_maps(rest: list[str], what: str) -> list[Map]:
    """The maps `id ID`, `pinned PATH` or `name NAME` select (a name may select several,
    or none)."""
    match rest:
        case ["id", ident]:
            if not ident.isdigit():
                raise UsageError(f"can't parse {ident} as ID")
            return [_core.open_map(Id(int(ident)))]
        case ["pinned", path]:
            return [_core.open_map(path)]
        case ["name", name]:
            return show.maps(name=name)
        case [("id" | "pinned" | "name") as key]:
            value = "PATH" if key == "pinned" else key.upper()
            raise UsageError(f"{what} {key}: missing {value}")
        case []:
            raise UsageError(f"{what}: missing id, pinned or name")
    raise UsageError(f"{what}: expected id, pinned or name, got '{' '.join(rest)}'")


def _map_show(c: Call) -> int:
    """bpftool's `map show`: every map, or those selected; one map prints an object."""
    rest = c.words
    if rest:
        maps = _open_maps(rest, "map show")
        if not maps:
            return EXIT_ERROR  # bpftool: a name nothing has prints nothing, fails
        single = len(maps) == 1
    else:
        maps = show.maps()
        single = False
    try:
        texts = show.format_map_show(maps, json=c.json)
    finally:
        for m in maps:
            m.close()
    if not c.json:
        _out("".join(texts))
        return 0
    doc = texts[0] if single else "[" + ",".join(texts) + "]"
    _out((show.pretty_json(doc) if c.pretty else doc) + "\n")
    return 0


def _map_dump(c: Call) -> int:
    """bpftool's `map dump`: every entry, as hex bytes and, for maps with BTF, typed."""
    rest = c.words
    maps = _open_maps(rest, "map dump")
    if not maps:
        raise _Failure(f"no map with {rest[0]} {rest[1]} found")
    try:
        text, status = show.format_map_dump(maps, json=c.json, pretty=c.pretty)
    finally:
        for m in maps:
            m.close()
    _out(text)
    return status


def _warn(o: _core.BpfObject) -> None:
    for w in o.warnings:
        _note(f"Warning: {w}")


def _prog_load(c: Call) -> int:
    obj, path = c.args["OBJ"], c.args["PATH"]
    with _core.load_object(obj) as o:
        _warn(o)
        progs = list(o.programs.values())
        if not progs:
            raise _Failure(f"object {obj} has no programs")
        progs[0].pin(path)
    return 0


def _prog_loadall(c: Call) -> int:
    with _core.load_object(c.args["OBJ"], pin_dir=c.args["DIR"]) as o:
        _warn(o)
    return 0


def _metadata(c: Call) -> int:
    obj = c.args["OBJ"]
    items, warning = show.object_metadata(obj)
    if warning is not None:
        # Metadata that no tool can read is a failure to report, not an empty answer.
        raise _Failure(f"{obj}: {warning}")
    if c.json:
        # bpftool's value text, as `prog show -j` prints it, in bpftool's layout.
        members = [(i.name, i.json) for i in items]
        _out(show.json_object(members, pretty=c.pretty) + "\n")
    else:
        _out("".join(f"{show.printable_name(i.name)} = {i.plain}\n" for i in items))
    return 0


def _feature(c: Call) -> int:
    feats = show.features()
    if c.json:
        members = [(k, "true" if v else "false") for k, v in feats.items()]
        _out(show.json_object(members, pretty=c.pretty) + "\n")
    else:
        for k, v in feats.items():
            _out(f"{k}: {'yes' if v else 'no'}\n")
    return 0


def _gen_skeleton(c: Call) -> int:
    from ._skelgen import write_skeleton

    out = write_skeleton(
        c.args["OBJ"],
        output=c.opts.get("output"),
        name=c.opts.get("name"),
        reference=bool(c.opts.get("reference")),
    )
    if c.opts.get("output") is None:
        _note(f"gen skeleton: wrote {out}")
    return 0


def _gen_vmlinux(c: Call) -> int:
    from .build import VMLINUX_BTF, vmlinux_header

    text = vmlinux_header(c.opts.get("btf") or VMLINUX_BTF)
    output = c.opts.get("output")
    if output is None:
        _out(text)
        return 0
    tmp = Path(f"{output}.tmp")
    tmp.write_text(text)
    tmp.replace(output)
    return 0


def _build(c: Call) -> int:
    from .build import compile_program

    compile_program(
        c.args["SOURCE"],
        c.opts.get("output"),
        clang=c.opts.get("clang"),
        cflags=c.extra,
        echo=lambda argv: _note("build: " + " ".join(argv)),
    )
    return 0


def _exporter(c: Call) -> int:
    """Its own options (argparse): the exporter is a long-running service."""
    try:
        from .exporter import main as exporter_main
    except ImportError as e:
        if e.name is None or not e.name.startswith("prometheus_client"):
            raise
        raise _Failure(
            "the exporter needs prometheus_client: pip install 'bpfbind[exporter]'"
        ) from None
    return exporter_main(c.raw)


_OUTPUT = Opt(("-o", "--output"), "output", "FILE", "file to write")


def _output(default: str, metavar: str = "FILE", what: str = "file") -> Opt:
    """The -o option of a command that writes somewhere by default."""
    text = f"{what} to write (default: {default})"
    return Opt(_OUTPUT.names, _OUTPUT.dest, metavar, text)


COMMANDS = Cmd(
    "bpfbind",
    "load BPF objects with their metadata bound; show programs as bpftool does",
    sub=(
        Cmd(
            "prog",
            "programs: show, load, loadall",
            default="show",
            sub=(
                Cmd(
                    "show",
                    "loaded programs as bpftool prints them, with their metadata",
                    _prog_show,
                    aliases=("list",),
                    free=True,
                    grammar="[id ID | pinned PATH | name NAME | tag TAG]",
                    details=(
                        "--metadata prints each program's first line and its "
                        "metadata only;\nwith -j, each program's id, type, name, tag "
                        "and metadata.\nEach program's holders are printed as upstream "
                        "bpftool prints them\n(pids NAME(PID), \"pids\" in JSON); "
                        "--no-pids leaves them out, as Debian's\nbpftool does."
                    ),
                ),
                Cmd(
                    "load",
                    "load an object and pin its first program at PATH",
                    _prog_load,
                    params=("OBJ", "PATH"),
                ),
                Cmd(
                    "loadall",
                    "load an object and pin every program as DIR/<name>",
                    _prog_loadall,
                    params=("OBJ", "DIR"),
                ),
            ),
        ),
        Cmd(
            "link",
            "links: show",
            default="show",
            sub=(
                Cmd(
                    "show",
                    "links as bpftool prints them",
                    _link_show,
                    aliases=("list",),
                    free=True,
                    grammar="[id ID | pinned PATH]",
                ),
            ),
        ),
        Cmd(
            "map",
            "maps: show, dump",
            default="show",
            sub=(
                Cmd(
                    "show",
                    "loaded maps as bpftool prints them",
                    _map_show,
                    aliases=("list",),
                    free=True,
                    grammar="[id ID | pinned PATH | name NAME]",
                ),
                Cmd(
                    "dump",
                    "a map's entries as bpftool dumps them (typed by BTF)",
                    _map_dump,
                    free=True,
                    grammar="{id ID | pinned PATH | name NAME}",
                ),
            ),
        ),
        Cmd(
            "metadata",
            "an object file's metadata, offline (no kernel needed)",
            _metadata,
            params=("OBJ",),
        ),
        Cmd(
            "feature",
            "what the kernel offers bpfbind",
            default="probe",
            sub=(Cmd("probe", "probe the running kernel", _feature),),
        ),
        Cmd(
            "gen",
            "generate code: Python skeletons, vmlinux.h",
            sub=(
                Cmd(
                    "skeleton",
                    "a typed Python module for an object (the object embedded)",
                    _gen_skeleton,
                    params=("OBJ",),
                    options=(
                        _output("NAME_skel.py"),
                        Opt(("--name",), "name", "NAME",
                            "object name (default: the file name up to its first dot)"),
                        Opt(("--reference",), "reference", None,
                            "read the object from its path at run time instead of "
                            "embedding it"),
                    ),
                ),
                Cmd(
                    "vmlinux",
                    "the kernel's types as a C header, for CO-RE programs",
                    _gen_vmlinux,
                    options=(
                        _output("standard output"),
                        Opt(("--btf",), "btf", "FILE",
                            "BTF to read (default: /sys/kernel/btf/vmlinux)"),
                    ),
                ),
            ),
        ),
        Cmd(
            "build",
            "compile a BPF C program with clang (14-22) for bpfbind to load",
            _build,
            params=("SOURCE",),
            options=(
                _output("SOURCE with .o for .c", "OBJ", "object"),
                Opt(("--clang",), "clang", "CLANG",
                    "the clang to run (default: $CLANG, clang, or the newest "
                    "clang-NN)"),
            ),
            extra=True,
            details="Arguments after -- go to clang (-DNAME=VALUE, -I DIR, ...).",
        ),
        Cmd(
            "exporter",
            "serve every program as Prometheus metrics (bpfbind exporter --help)",
            _exporter,
            raw=True,
            grammar="[--listen ADDR:PORT] [--textfile PATH] [--interval S] ...",
        ),
    ),
)

GLOBAL = """\
Options: -j|--json  JSON output (errors too: {"error": "..."} on stdout)
         -p|--pretty  indented JSON (implies -j)
         --metadata  prog show: programs' metadata only
         --no-pids  prog show: no processes holding each program (Debian's bpftool)
         -V|--version, -h|--help
Commands and keywords may be abbreviated to an unambiguous prefix (bpfbind p s).
"""


def usage(path: Sequence[Cmd]) -> str:
    """The help of the command at the end of ``path`` (root first)."""
    names = " ".join(c.name for c in path)
    cmd = path[-1]
    if not cmd.sub:
        lines = [f"Usage: {names} {cmd.synopsis()}".rstrip(), f"  {cmd.summary}"]
        for o in cmd.options:
            spec = ", ".join(o.names) + (f" {o.metavar}" if o.metavar else "")
            lines.append(f"  {spec:<18} {o.help}")
        if cmd.details:
            lines.append(cmd.details)
        return "\n".join(lines) + "\n"
    if len(path) == 1:
        lines = ["Usage: bpfbind [OPTIONS] COMMAND"]
    else:
        words = " | ".join(s.name for s in cmd.sub)
        lines = [f"Usage: {names} {{ {words} | help }}"]

    def walk(c: Cmd, trail: str) -> None:
        for s in c.sub:
            if s.sub:
                walk(s, f"{trail} {s.name}")
            else:
                lines.append(f"  {trail} {s.name} {s.synopsis()}".rstrip())

    walk(cmd, names)
    if cmd.default:
        lines.append(f"'{names}' alone means '{names} {cmd.default}'.")
    if len(path) == 1:
        lines += ["  bpfbind --version", "", GLOBAL.rstrip()]
    return "\n".join(lines) + "\n"


def _lookup(group: Cmd, word: str, trail: str) -> Cmd:
    """The subcommand ``word`` names: exactly, or as the prefix of only one."""
    for s in group.sub:
        if word == s.name or word in s.aliases:
            return s
    hits = [
        s for s in group.sub if any(n.startswith(word) for n in (s.name, *s.aliases))
    ]
    if len(hits) == 1:
        return hits[0]
    choices = ", ".join(s.name for s in group.sub)
    if hits:
        raise UsageError(
            f"{trail}: '{word}' is ambiguous: {', '.join(s.name for s in hits)}"
        )
    raise UsageError(f"{trail}: unknown command '{word}' (expected {choices}, help)")


_GLOBAL_FLAGS = {
    "-j": "json",
    "--json": "json",
    "-p": "pretty",
    "--pretty": "pretty",
    "--metadata": "metadata",
    "--no-pids": "no_pids",
}


@dataclass
class _Parsed:
    path: list[Cmd]
    call: Call
    help: bool = False


def parse(argv: Sequence[str]) -> _Parsed:
    """The command line -> the command to run (or whose help to print) and its call."""
    call = Call(path="")
    path = [COMMANDS]
    words: list[str] = []
    version = False
    helpflag = False
    it = iter(argv)
    for a in it:
        if path[-1].raw:
            call.raw.append(a)
            continue
        if a == "--":
            call.extra = list(it)
            break
        if a in _GLOBAL_FLAGS:
            setattr(call, _GLOBAL_FLAGS[a], True)
            if a in ("-p", "--pretty"):
                call.json = True
            continue
        if a in ("-V", "--version") and len(path) == 1:
            version = True
            continue
        if a in ("-h", "--help"):
            helpflag = True
            continue
        if path[-1].sub and not (a == "help" and not words):
            if a.startswith("-") and len(a) > 1:
                raise UsageError(f"unknown option {a}")
            trail = " ".join(c.name for c in path[1:]) or "bpfbind"
            path.append(_lookup(path[-1], a, trail))
            continue
        words.append(a)
    if version:
        call.opts["version"] = True
    cmd = path[-1]
    call.path = " ".join(c.name for c in path[1:])
    if helpflag or (words == ["help"] and not cmd.raw):
        return _Parsed(path, call, help=True)
    if cmd.sub:
        if cmd.default is not None and not words:
            path.append(_lookup(cmd, cmd.default, call.path))
            cmd = path[-1]
            call.path = " ".join(c.name for c in path[1:])
        elif len(path) == 1 and not words:
            return _Parsed(path, call, help=True)
        else:
            raise UsageError(
                f"{call.path}: missing COMMAND (one of "
                f"{', '.join(s.name for s in cmd.sub)})"
            )
    if call.extra and not cmd.extra:
        raise UsageError(f"{call.path}: takes no arguments after --")
    if not cmd.raw:
        _leaf_words(cmd, words, call)
    return _Parsed(path, call)


def _leaf_words(cmd: Cmd, words: list[str], call: Call) -> None:
    positional: list[str] = []
    it = iter(words)
    for w in it:
        if w.startswith("-") and len(w) > 1 and not cmd.free:
            name, eq, inline = w.partition("=")
            opt = next((o for o in cmd.options if name in o.names), None)
            if opt is None:
                raise UsageError(f"{call.path}: unknown option {name}")
            if opt.metavar is None:
                if eq:
                    raise UsageError(f"{call.path}: {name} takes no value")
                call.opts[opt.dest] = True
                continue
            value = inline if eq else next(it, None)
            if value is None:
                raise UsageError(f"{call.path}: missing {opt.metavar} after {name}")
            call.opts[opt.dest] = value
            continue
        positional.append(w)
    if cmd.free:
        call.words = positional
        return
    for i, p in enumerate(cmd.params):
        if i >= len(positional):
            raise UsageError(
                f"{call.path}: missing {p} (usage: bpfbind {call.path} "
                f"{cmd.synopsis()})"
            )
        call.args[p] = positional[i]
    more = positional[len(cmd.params):]
    for p, v in zip(cmd.optional, more, strict=False):
        call.args[p] = v
    if len(more) > len(cmd.optional):
        raise UsageError(
            f"{call.path}: unexpected argument '{more[len(cmd.optional)]}'"
        )


def _error(msg: str, as_json: bool) -> int:
    if as_json:
        _out(show.json_object([("error", show.json_string(msg))]) + "\n")
    else:
        _note(f"Error: {msg}")
    return EXIT_ERROR


def main(argv: Sequence[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    as_json = any(a in ("-j", "--json", "-p", "--pretty") for a in args)
    try:
        parsed = parse(args)
    except UsageError as e:
        return _error(str(e), as_json)
    call = parsed.call
    if call.opts.pop("version", False):
        _out(f"bpfbind {__version__}\n")
        return 0
    if parsed.help:
        _out(usage(parsed.path))
        return 0
    run = parsed.path[-1].run
    assert run is not None
    try:
        return run(call)
    except (UsageError, _Failure) as e:
        return _error(str(e), call.json)
    except BrokenPipeError:
        return 0
    except BpfError as e:
        msg = e.strerror if e.errno is not None and e.strerror else str(e)
        return _error(msg, call.json)
    except (OSError, ValueError) as e:
        return _error(str(e), call.json)
