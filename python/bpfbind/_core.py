"""The Python face of the native core: `BpfObject`, references to programs and maps by
object, fd, id or pinned path, and the blocking forms of every call (`bpfbind.sync`)."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator, Mapping
from types import TracebackType
from typing import TYPE_CHECKING, Any, Self, TypeVar, Union

from . import _native
from ._native import Map, Program, ProgramInfo

if TYPE_CHECKING:
    from ._links import Links
    from ._spec import ObjectSpec

__all__ = [
    "BpfObject",
    "Closing",
    "Id",
    "MapRef",
    "ProgRef",
    "bind_map",
    "find_metadata",
    "load_object",
    "open_map",
    "open_program",
    "scan",
]


T = TypeVar("T")


class Id(int):
    """A kernel id, to tell it apart from an fd: ``bind_map(Id(12), Id(40))``."""


ProgRef = Union[Program, int, str, "os.PathLike[str]"]
MapRef = Union[Map, int, str, "os.PathLike[str]"]


class Closing:
    """Closes on leaving ``with`` and ``async with`` blocks; subclasses define
    ``close()`` and, where closing can wait, ``aclose()``."""

    __slots__ = ()

    def close(self) -> None:
        raise NotImplementedError

    async def aclose(self) -> None:
        self.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()


class BpfObject(Closing):
    """A loaded object: its programs and maps by name, and its metadata.

    Close it (``close()``, ``with``, or ``async with``) to release every fd; what is
    pinned stays in the kernel."""

    __slots__ = ("_native", "maps", "programs")

    def __init__(self, native: _native.Object) -> None:
        self._native = native
        self.programs: Mapping[str, Program] = {p.name: p for p in native.programs}
        self.maps: Mapping[str, Map] = {m.name: m for m in native.maps}
        if native.warnings:
            import logging  # only here: it costs `import bpfbind` a third more

            # e.g. metadata left unbound on a kernel without fd_array_cnt/PROG_BIND_MAP
            for w in native.warnings:
                logging.getLogger("bpfbind").warning("%s: %s", native.name, w)

    @property
    def name(self) -> str:
        return self._native.name

    @property
    def metadata(self) -> dict[str, Any]:
        """Metadata of both conventions (``.metadata`` variables and ``bpf_metadata_*``
        variables of ``.rodata``), prefix stripped."""
        return self._native.metadata

    @property
    def binding(self) -> str:
        """How metadata maps were bound: "fd_array", "bind_map", "unbound" or "none"."""
        return self._native.binding

    @property
    def warnings(self) -> list[str]:
        return self._native.warnings

    @property
    def closed(self) -> bool:
        return self._native.closed

    def attach_all(self) -> Links:
        """Attaches every program whose section names its target (see
        `bpfbind.attach_all`); ``async with`` on the result detaches them all."""
        from ._links import attach_all

        return attach_all(self)

    def close(self) -> None:
        self._native.close()

    async def aclose(self) -> None:
        # Closing waits for calls in flight on the object's fds: inline when none is,
        # in a worker thread otherwise, never blocking the loop.
        if not self._native.try_close():
            from ._run import run

            await run(self._native.close)

    def __repr__(self) -> str:
        state = " closed" if self.closed else ""
        return (
            f"<BpfObject {self.name} programs={list(self.programs)} "
            f"maps={list(self.maps)}{state}>"
        )


Source = Union[str, "os.PathLike[str]", bytes, bytearray, memoryview, "ObjectSpec"]


def load_args(
    source: Source,
    pin_dir: str | os.PathLike[str] | None,
    pin_maps: str | os.PathLike[str] | None,
    name: str | None,
    bind: str,
    initial: Mapping[str, bytes] | None,
    btf_path: str | os.PathLike[str] | None = None,
) -> dict[str, Any]:
    """The native load's arguments, checked: shared by the sync and async loads. An
    ObjectSpec brings its bytes, its name and the changes made to it."""
    if bind not in ("auto", "bind_map", "none"):
        raise ValueError(f"bind must be 'auto', 'bind_map' or 'none', not {bind!r}")
    args: dict[str, Any] = {
        "pin_dir": os.fspath(pin_dir) if pin_dir is not None else None,
        "pin_maps": os.fspath(pin_maps) if pin_maps is not None else None,
        "no_fd_array": bind != "auto",
        "no_bind_map": bind == "none",
        "initial": dict(initial) if initial is not None else None,
        "btf_path": os.fspath(btf_path) if btf_path is not None else None,
    }
    from ._spec import ObjectSpec

    if isinstance(source, ObjectSpec):
        edits = source.load_args()
        if initial is not None:
            edits["initial"] = {**(edits["initial"] or {}), **initial}
        args.update(edits, data=source.data, name=name or source.name)
    elif isinstance(source, bytes | bytearray | memoryview):
        args.update(data=bytes(source), name=name or "bpfbind")
    else:
        path = os.fspath(source)
        args.update(path=path, name=name or object_name(path))
    return args


def object_name(path: str | os.PathLike[str]) -> str:
    """libbpf's object name: the file name up to its first dot (multi.bpf.o: multi)."""
    return os.path.basename(os.fspath(path)).split(".", 1)[0]


def load_object(
    source: Source,
    *,
    pin_dir: str | os.PathLike[str] | None = None,
    pin_maps: str | os.PathLike[str] | None = None,
    name: str | None = None,
    bind: str = "auto",
    initial: Mapping[str, bytes] | None = None,
    btf_path: str | os.PathLike[str] | None = None,
) -> BpfObject:
    """Loads a BPF object and binds its metadata maps to every program.

    ``pin_dir`` pins every program as ``pin_dir/<name>``; ``pin_maps`` is where maps
    declared ``LIBBPF_PIN_BY_NAME`` are pinned (and reused), /sys/fs/bpf by default as
    in libbpf. ``bind`` forces a binding
    path: "auto", "bind_map" (no fd_array) or "none". ``initial`` replaces the initial
    value of data sections by name (``{".rodata": bytes}``), as skeletons do.
    CO-RE relocations are resolved against the running kernel's BTF, or against the raw
    BTF file ``btf_path`` (for kernels without /sys/kernel/btf/vmlinux)."""
    args = load_args(source, pin_dir, pin_maps, name, bind, initial, btf_path)
    if "path" in args:
        with open(args.pop("path"), "rb") as f:
            args["data"] = f.read()
    return BpfObject(_native.load_object(**args))


def _open(opener: Callable[..., T], ref: Any, handle: type[Program | Map]) -> T:
    if isinstance(ref, handle):
        return opener(fd=ref.fd)
    if isinstance(ref, Id):
        return opener(id=int(ref))
    if isinstance(ref, int):
        return opener(fd=ref)
    return opener(path=os.fspath(ref))


def open_program(ref: ProgRef) -> Program:
    """A new Program handle for an fd (duplicated), an `Id`, or a pinned path."""
    return _open(_native.open_program, ref, Program)


def open_map(ref: MapRef) -> Map:
    """A new Map handle for an fd (duplicated), an `Id`, or a pinned path."""
    return _open(_native.open_map, ref, Map)


def bind_map(prog: ProgRef, map: MapRef, *, flags: int = 0) -> None:
    """BPF_PROG_BIND_MAP: the program holds the map from now on. Binding again
    succeeds. A `Program` records the bind in ``used_maps()``."""
    own_prog = not isinstance(prog, Program)
    own_map = not isinstance(map, Map)
    p = open_program(prog) if own_prog else prog
    try:
        m = open_map(map) if own_map else map
        try:
            _native.bind_map(p, m, flags)  # type: ignore[arg-type]
        finally:
            if own_map:
                m.close()  # type: ignore[union-attr]
    finally:
        if own_prog:
            p.close()  # type: ignore[union-attr]


def find_metadata(prog: ProgRef) -> dict[str, Any]:
    """One program's metadata, both conventions."""
    return program_info(prog).metadata


def program_info(prog: ProgRef) -> ProgramInfo:
    """What bpftool's ``prog show`` reports of one program."""
    if isinstance(prog, Program):
        return _native.read_program(prog.fd)
    p = open_program(prog)
    try:
        return _native.read_program(p.fd)
    finally:
        p.close()


def _scanner(
    ids: list[int] | None,
    name: str | None,
    prog_type: str | int | None,
    with_metadata_only: bool,
    memlock: bool = False,
) -> _native.Scanner:
    return _native.Scanner(
        ids=list(ids) if ids is not None else None,
        name=name,
        prog_type=_prog_type_number(prog_type),
        with_metadata_only=with_metadata_only,
        memlock=memlock,
    )


def _prog_type_number(t: str | int | None) -> int | None:
    if t is None or isinstance(t, int):
        return t
    try:
        return _native.PROG_TYPES.index(t)
    except ValueError:
        raise ValueError(f"unknown program type {t!r}") from None


def iter_scan(
    *,
    ids: list[int] | None = None,
    name: str | None = None,
    prog_type: str | int | None = None,
    with_metadata_only: bool = False,
    batch: int = 256,
    memlock: bool = False,
) -> Iterator[ProgramInfo]:
    """Every loaded program (or those selected), in id order, `batch` at a time.
    ``bytes_memlock`` is read (a /proc file per program) only with ``memlock``."""
    s = _scanner(ids, name, prog_type, with_metadata_only, memlock)
    try:
        while chunk := s.next_batch(batch):
            yield from chunk
    finally:
        s.close()


def scan(
    *,
    ids: list[int] | None = None,
    name: str | None = None,
    prog_type: str | int | None = None,
    with_metadata_only: bool = False,
    batch: int = 256,
    memlock: bool = False,
) -> list[ProgramInfo]:
    """All loaded programs (or those selected) as a list."""
    s = _scanner(ids, name, prog_type, with_metadata_only, memlock)
    out: list[ProgramInfo] = []
    try:
        # Whole batches: no per-record generator step.
        while chunk := s.next_batch(batch):
            out += chunk
    finally:
        s.close()
    return out
