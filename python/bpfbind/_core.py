"""The Python face of the native core: `BpfObject`, references to programs and maps by
object, fd, id or pinned path, and the blocking forms of every call (`bpfbind.sync`)."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator, Mapping
from types import TracebackType
from typing import TYPE_CHECKING, Any, Self, TypeVar, Union

from . import _native
from ._native import Map, Program, ProgramInfo
from .errors import InvalidArgumentError

if TYPE_CHECKING:
    from ._events import PerfBuffer, RingBuffer
    from ._links import Links
    from ._spec import ObjectSpec

__all__ = [
    "BpfObject",
    "Closing",
    "Fd",
    "Id",
    "MapRef",
    "ProgRef",
    "bind_map",
    "create_map",
    "find_metadata",
    "load_object",
    "open_map",
    "open_program",
    "scan",
]


T = TypeVar("T")


class Id(int):
    """A kernel id, to tell it apart from an fd: ``bind_map(Id(12), Id(40))``."""


class Fd(int):
    """A file descriptor of a program or map, duplicated when opened:
    ``open_program(Fd(5))``. A bare int is refused: it could be an id as well."""


ProgRef = Union[Program, Id, Fd, str, "os.PathLike[str]"]
MapRef = Union[Map, Id, Fd, str, "os.PathLike[str]"]


class Closing:
    """Closes on leaving ``with`` and ``async with`` blocks; subclasses define
    ``close()`` and, where closing can wait, ``aclose()``."""

    __slots__ = ()

    def close(self) -> None:
        """Releases what the object holds; closing again does nothing."""
        raise NotImplementedError

    async def aclose(self) -> None:
        """`close()` from async code."""
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

    __slots__ = {
        "_native": "The native object.",
        "_pin_dir": "Where the load pinned the programs.",
        "maps": "The object's maps by name.",
        "programs": "The object's programs by name.",
    }

    def __init__(
        self, native: _native.Object, pin_dir: str | os.PathLike[str] | None = None
    ) -> None:
        self._native = native
        self._pin_dir = pin_dir
        self.programs: Mapping[str, Program] = {p.name: p for p in native.programs}
        self.maps: Mapping[str, Map] = {m.name: m for m in native.maps}
        if native.warnings:
            import logging  # only here: it costs `import bpfbind` a third more

            # e.g. metadata left unbound on a kernel without fd_array_cnt/PROG_BIND_MAP
            for w in native.warnings:
                logging.getLogger("bpfbind").warning("%s: %s", native.name, w)

    @property
    def name(self) -> str:
        """The object's name."""
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
        """The load's warnings, one line each (also logged at load)."""
        return self._native.warnings

    @property
    def btf_id(self) -> int | None:
        """The kernel id of the object's BTF (`bpftool btf dump id N`); None without
        BTF or once closed."""
        return self._native.btf_id

    @property
    def closed(self) -> bool:
        """Whether every program and map fd of the object is closed."""
        return self._native.closed

    def unpin(self) -> None:
        """Removes the pins the load made under ``pin_dir`` (each only if it still pins
        this object's program), then the directory if that leaves it empty."""
        if self._pin_dir is None:
            return
        for name, prog in self.programs.items():
            path = os.path.join(self._pin_dir, name)
            if os.path.lexists(path):
                prog.unpin(path)
        try:
            os.rmdir(self._pin_dir)
        except OSError:
            return  # other pins live there, or it is gone already

    def ring_buffer(
        self, *names: str, record_type: str | None = None, chunk: int = 4096
    ) -> RingBuffer:
        """A reader of the ring buffer maps ``names`` (one epoll fd for all of them)::

            async with obj.ring_buffer("events", record_type="struct event") as rb:
                async for rec in rb:      # dict by BTF; bytes without record_type
                    ...

        With several names, each record comes as (map name, record). Records are read
        ``chunk`` at a time; a cancelled read closes the reader."""
        from ._events import RingBuffer

        if not names:
            raise ValueError("give the name of at least one ring buffer map")
        maps = [self.maps[n] for n in names]
        poller = _native.RingPoller(maps, self._native, record_type)
        return RingBuffer(poller, chunk, len(names) > 1)

    def perf_buffer(
        self,
        name: str,
        *,
        pages: int = 8,
        record_type: str | None = None,
        chunk: int = 4096,
        tagged: bool = False,
    ) -> PerfBuffer:
        """A reader of the perf event array ``name``: a BPF-output perf event with
        ``pages`` pages of buffer on every online CPU, stored in the array for the
        program's ``bpf_perf_event_output``. ``tagged`` yields (cpu, sample) pairs;
        ``lost`` counts what the kernel dropped. Closing removes the events."""
        from ._events import PerfBuffer

        poller = _native.PerfPoller(self.maps[name], pages, self._native, record_type)
        return PerfBuffer(poller, chunk, tagged)

    def attach_all(self) -> Links:
        """Attaches every program whose section names its target (see
        `bpfbind.attach_all`); ``async with`` on the result detaches them all."""
        from ._links import attach_all

        return attach_all(self)

    def close(self) -> None:
        """Closes every fd of the object; what is pinned stays in the kernel."""
        self._native.close()

    async def aclose(self) -> None:
        # Closing waits for calls in flight on the object's fds: inline when none is,
        # in a worker thread otherwise, never blocking the loop.
        """`close()` that waits, off the event loop, for calls still using the fds."""
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


def load_options(
    source: Source,
    name: str | None = None,
    initial: Mapping[str, bytes] | None = None,
    **keywords: Any,
) -> _native.LoadOptions:
    """`load_object()`'s arguments as the one request the sync and async loads take;
    the other keywords (pin_dir, pin_maps, bind, btf_path, replace) go to the native
    `LoadOptions`, which checks them. An ObjectSpec brings its bytes, its name and the
    changes made to it; a path is read when the load runs."""
    from ._spec import ObjectSpec

    edits: dict[str, Any] = {}
    init = dict(initial) if initial is not None else None
    if isinstance(source, ObjectSpec):
        edits = source.load_args()
        from_spec = edits.pop("initial")
        init = {**(from_spec or {}), **init} if init is not None else from_spec
        where: dict[str, Any] = {"data": source.data, "name": name or source.name}
    elif isinstance(source, bytes | bytearray | memoryview):
        where = {"data": bytes(source), "name": name or "bpfbind"}
    else:
        path = os.fspath(source)
        where = {"path": path, "name": name or object_name(path)}
    return _native.LoadOptions(**where, **edits, initial=init, **keywords)


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
    replace: bool = False,
) -> BpfObject:
    """Loads a BPF object and binds its metadata maps to every program.

    ``pin_dir`` pins every program as ``pin_dir/<name>`` (``replace=True`` pins over
    earlier pins there, each atomically: a new pin is renamed over the old one, so a
    re-run never meets ``File exists`` and no moment exists without a pin; a failed
    load leaves the old pins in place); ``pin_maps`` is where maps
    declared ``LIBBPF_PIN_BY_NAME`` are pinned (and reused), /sys/fs/bpf by default as
    in libbpf. ``bind`` forces a binding
    path: "auto", "bind_map" (no fd_array) or "none". ``initial`` replaces the initial
    value of data sections by name (``{".rodata": bytes}``), as skeletons do.
    CO-RE relocations are resolved against the running kernel's BTF, or against the raw
    BTF file ``btf_path`` (for kernels without /sys/kernel/btf/vmlinux)."""
    opts = load_options(
        source,
        name,
        initial,
        pin_dir=pin_dir,
        pin_maps=pin_maps,
        bind=bind,
        btf_path=btf_path,
        replace=replace,
    )
    return BpfObject(_native.load_object(opts), opts.pin_dir)


def _open(opener: Callable[..., T], ref: Any, handle: type[Program | Map]) -> T:
    if isinstance(ref, handle):
        return opener(fd=ref.fd)
    if isinstance(ref, Id):
        return opener(id=int(ref))
    if isinstance(ref, Fd):
        return opener(fd=int(ref))
    what = "program" if handle is Program else "map"
    if isinstance(ref, int):
        raise TypeError(
            f"a bare int names no {what}: say bpfbind.Id({ref}) for the kernel id "
            f"or bpfbind.Fd({ref}) for a file descriptor"
        )
    if not isinstance(ref, str | os.PathLike):
        raise TypeError(
            f"a {what} is a {handle.__name__}, an Id, an Fd or a pinned path, "
            f"not {type(ref).__name__}"
        )
    return opener(path=os.fspath(ref))


def open_program(ref: ProgRef) -> Program:
    """A new Program handle for an `Fd` (duplicated), an `Id`, or a pinned path."""
    return _open(_native.open_program, ref, Program)


def open_map(ref: MapRef | None = None, *, name: str | None = None) -> Map:
    """A new Map handle for an fd (duplicated), an `Id`, a pinned path, or the kernel
    name of a map (``open_map(name="events")``: the one live map of that name)."""
    if name is not None:
        if ref is not None:
            raise InvalidArgumentError("give a map or a name, not both")
        return _native.open_map(name=name)
    if ref is None:
        raise InvalidArgumentError("give a map (fd, Id, path) or a name")
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


def program_info(prog: ProgRef, *, pids: bool = False) -> ProgramInfo:
    """What bpftool's ``prog show`` reports of one program. With ``pids``, ``pids``
    lists the processes holding it (this one too when it holds an fd of it; the
    handle opened for the call does not count)."""
    holders = _native.program_holders() if pids else None
    if isinstance(prog, Program):
        return _native.read_program(prog.fd, holders=holders)
    p = open_program(prog)
    try:
        return _native.read_program(p.fd, holders=holders)
    finally:
        p.close()


def _scanner(
    ids: list[int] | None,
    name: str | None,
    prog_type: str | int | None,
    with_metadata_only: bool,
    memlock: bool = False,
    pids: bool = False,
) -> _native.Scanner:
    return _native.Scanner(
        ids=list(ids) if ids is not None else None,
        name=name,
        prog_type=_prog_type_number(prog_type),
        with_metadata_only=with_metadata_only,
        memlock=memlock,
        pids=pids,
    )


def _prog_type_number(t: str | int | None) -> int | None:
    """A `ProgType`, its name ("xdp") or its number, as a number."""
    if t is None:
        return None
    from ._uapi import ProgType, number

    return number(ProgType, t)


def iter_scan(
    *,
    ids: list[int] | None = None,
    name: str | None = None,
    prog_type: str | int | None = None,
    with_metadata_only: bool = False,
    batch: int = 256,
    memlock: bool = False,
    progress: Callable[[int], object] | None = None,
    pids: bool = False,
) -> Iterator[ProgramInfo]:
    """Every loaded program (or those selected), in id order, `batch` at a time.
    ``bytes_memlock`` is read (a /proc file per program) only with ``memlock``;
    ``pids`` (the processes holding each program) only with ``pids``, one pass over
    every process's fds per scan. ``progress(n)`` is called after each batch with the
    records read so far."""
    s = _scanner(ids, name, prog_type, with_metadata_only, memlock, pids)
    done = 0
    try:
        while chunk := s.next_batch(batch):
            done += len(chunk)
            if progress is not None:
                progress(done)
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
    progress: Callable[[int], object] | None = None,
    pids: bool = False,
) -> list[ProgramInfo]:
    """All loaded programs (or those selected) as a list; ``pids`` and ``memlock`` as
    for `iter_scan`; ``progress(n)`` is called after each batch with the records read
    so far."""
    s = _scanner(ids, name, prog_type, with_metadata_only, memlock, pids)
    out: list[ProgramInfo] = []
    try:
        # Whole batches: no per-record generator step.
        while chunk := s.next_batch(batch):
            out += chunk
            if progress is not None:
                progress(len(out))
    finally:
        s.close()
    return out


def create_map(
    map_type: int | str,
    key_size: int,
    value_size: int,
    max_entries: int,
    name: str = "",
    flags: int = 0,
) -> Map:
    """A new map (BPF_MAP_CREATE) to bind to programs or share between them;
    ``map_type`` is a `MapType`, its name (``"array"``) or its number."""
    from ._uapi import MapType, number

    return _native.create_map(
        number(MapType, map_type), key_size, value_size, max_entries, name, flags
    )
