"""bpftool's views as text: programs as `bpftool prog show` prints them (plain, `-j`,
`-p`), maps as `bpftool map show`/`map dump` print them, an object file's metadata as
`bpftool prog show` would print it once loaded, and what the running kernel supports.
The `bpfbind` command prints these."""

from __future__ import annotations

import os
from collections.abc import Iterable, Iterator, Sequence
from typing import Any, NamedTuple

from . import _native
from ._core import Id, ProgRef, object_name, open_map, open_program
from ._native import Map, Program, ProgramInfo
from .errors import BpfNotFoundError

__all__ = [
    "MetadataText",
    "features",
    "format_json",
    "format_link_show",
    "format_map_dump",
    "format_map_show",
    "format_plain",
    "iter_batches",
    "json_object",
    "json_string",
    "maps",
    "object_metadata",
    "pretty_json",
    "printable_name",
    "program",
]


def iter_batches(
    *,
    name: str | None = None,
    tag: str | None = None,
    batch: int = 1024,
    pids: bool = False,
) -> Iterator[list[ProgramInfo]]:
    """Every loaded program (or those of a name or a 16-hex-digit tag), `batch` at a
    time, in id order, read for `format_json` and `format_plain`: with bpftool's text of
    each metadata value and ``bytes_memlock``."""
    s = _native.Scanner(name=name, tag=tag, json=True, memlock=True, pids=pids)
    try:
        while chunk := s.next_batch(batch):
            yield chunk
    finally:
        s.close()


def program(ref: ProgRef, *, pids: bool = False) -> ProgramInfo:
    """One program (a `Program`, an `Id`, an `Fd` or a pinned path), read as
    `iter_batches` reads them; `pids` adds the processes holding it, taken before it is
    opened here, as bpftool takes them (this call's own fd is none of them)."""
    holders = _native.program_holders() if pids else None
    if isinstance(ref, Program):
        return _native.read_program(ref.fd, json=True, holders=holders)
    p = open_program(ref)
    try:
        return _native.read_program(p.fd, json=True, holders=holders)
    finally:
        p.close()


def format_plain(records: Sequence[ProgramInfo], *, metadata_only: bool = False) -> str:
    """bpftool's plain `prog show` text; ``metadata_only`` keeps the metadata lines
    (`bpftool prog show --metadata`)."""
    return _native.format_plain(list(records), metadata_only=metadata_only)


def format_json(
    records: Sequence[ProgramInfo],
    *,
    single: bool = False,
    pretty: bool = False,
    metadata_only: bool = False,
) -> str:
    """bpftool's `prog show -j` JSON: a list, or with ``single`` one object (several
    records: the objects joined by commas, for a caller writing a list piecewise);
    ``pretty`` indents as `-p`; ``metadata_only`` keeps each program's id, type, name,
    tag and metadata."""
    return _native.format_json(
        list(records), single=single, pretty=pretty, metadata_only=metadata_only
    )


def json_object(members: Iterable[tuple[str, str]], *, pretty: bool = False) -> str:
    """A JSON object of (name, JSON text of the value) pairs, the names escaped as
    `prog show -j` escapes them; ``pretty`` indents as `-p`."""
    return _native.json_object(list(members), pretty=pretty)


def json_string(text: str) -> str:
    """``text`` as a JSON string, escaped as `prog show -j` escapes names."""
    return _native.json_string(text)


def printable_name(name: str) -> str:
    """A name as `prog show` prints it in plain text: control characters as ``?``."""
    return _native.printable_name(name)


class MetadataText(NamedTuple):
    """One metadata variable of an object file: its name (prefix stripped), value,
    bpftool's `-j` and plain text of the value, and its convention ("section" for
    `.metadata`, "rodata" for `bpf_metadata_*` of `.rodata`)."""

    name: str
    value: Any
    json: str
    plain: str
    convention: str


def object_metadata(
    path: str | os.PathLike[str], *, name: str | None = None
) -> tuple[list[MetadataText], str | None]:
    """The metadata of an object file, read without loading it, and the warning of an
    object whose metadata no tool could read (None when there is none)."""
    with open(path, "rb") as f:
        data = f.read()
    items, warning = _native.object_metadata(data, name or object_name(path))
    return [MetadataText(*i) for i in items], warning


def features() -> dict[str, bool]:
    """What the running kernel offers that bpfbind uses: prog_bind_map, fd_array_cnt,
    global_data, mmapable_arrays, btf, then bpffs_mounted (a bpffs in this mount
    namespace), map_census (scans can take their census of maps here) and
    pids_iterator (`prog show` finds the holders of programs by a BPF iterator)."""
    feats = dict(_native.features())
    feats["bpffs_mounted"] = _bpffs_mounted()
    feats["map_census"] = _census_works()
    feats["pids_iterator"] = _pids_iterator_works()
    return feats


def _pids_iterator_works() -> bool:
    try:
        _native.program_holders("iterator")
    except (OSError, ValueError):  # refused, or a kernel without what it reads
        return False
    return True


def _census_works() -> bool:
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


def maps(*, name: str | None = None) -> list[Map]:
    """Every live map (or those of a kernel name), opened, in id order; maps that go
    away while they are listed are left out. The caller closes them."""
    ids = _native.map_ids() if name is None else _native.map_ids_named(name)
    out = []
    for i in ids:
        try:
            out.append(open_map(Id(i)))
        except BpfNotFoundError:
            continue  # gone since it was listed
    return out


def format_map_show(maps: Sequence[Map], *, json: bool = False) -> list[str]:
    """bpftool's `map show` text of each map (plain), or its JSON object (`json`)."""
    return _native.format_map_show(list(maps), json)


def format_map_dump(
    maps: Sequence[Map], *, json: bool = False, pretty: bool = False
) -> tuple[str, int]:
    """bpftool's `map dump` of the maps, and the exit status bpftool gives it (a map
    that cannot be walked fails): hex bytes, and typed values for maps with BTF."""
    return _native.format_map_dump(list(maps), json, pretty)


def pretty_json(text: str) -> str:
    """Compact JSON indented as bpftool's `-p` indents it."""
    return _native.pretty_json(text)


def format_link_show(
    *,
    id: int | None = None,
    path: str | None = None,
    json: bool = False,
    pretty: bool = False,
) -> str:
    """bpftool's `link show` of every link, or of the one with this id or pin."""
    return _native.show_links(id=id, path=path, json=json, pretty=pretty)
