"""The async API (asyncio and trio, through anyio): loads run on bpfbind's native
threads, scans and lookups in worker threads, binds between objects inline (one short
syscall at most); a cancelled call leaves no fd or kernel object behind."""

from __future__ import annotations

from collections import deque
from collections.abc import Awaitable, Callable, Coroutine
from typing import Any, Generic, ParamSpec, Protocol, Self, TypeVar

from . import _core, _native
from ._core import BpfObject, Closing, MapRef, ProgRef, Source
from ._native import Map, Program, ProgramInfo
from ._run import run

__all__ = [
    "MapStream",
    "MetadataStream",
    "bind_map",
    "find_metadata",
    "load_object",
    "map_items",
    "map_keys",
    "stream_metadata",
]


P = ParamSpec("P")
R = TypeVar("R")
T = TypeVar("T")


def _keywords_of(
    blocking: Callable[P, R],
) -> Callable[[Callable[..., Awaitable[R]]], Callable[P, Coroutine[Any, Any, R]]]:
    """Declares an async function's parameters once, as those of its blocking form: type
    checkers take them from it, and `inspect.signature` (``help()``) follows
    ``__wrapped__`` to it."""

    def declare(f: Callable[..., Awaitable[R]]) -> Callable[P, Coroutine[Any, Any, R]]:
        f.__wrapped__ = blocking  # type: ignore[attr-defined]
        return f  # type: ignore[return-value]

    return declare


@_keywords_of(_core.load_object)
async def load_object(source: Source, **keywords: Any) -> BpfObject:
    """Loads a BPF object and binds its metadata maps to every program, with the
    keywords of `bpfbind.sync.load_object`. Use as
    ``async with await load_object(...) as obj``.

    The load runs on bpfbind's native threads and wakes the event loop through an
    eventfd. Cancelled, it leaves nothing behind: a load still running closes what
    it created when it ends."""
    import anyio

    opts = _core.load_options(source, **keywords)
    job = _native.start_load(opts)
    try:
        await anyio.wait_readable(job)
    except BaseException:
        job.cancel()
        raise
    return BpfObject(job.result(), opts.pin_dir)


async def bind_map(prog: ProgRef, map: MapRef, *, flags: int = 0) -> None:
    """BPF_PROG_BIND_MAP (see `bpfbind.sync.bind_map`).

    Between a `Program` and a `Map` this is one syscall of about a microsecond, made
    inline: a thread hop would cost a hundred times more. Named by fd, id or path, the
    handles are opened (several syscalls and /proc reads) in a worker thread."""
    if type(prog) is Program and type(map) is Map:  # both classes are final
        _bind(prog, map, flags)
        return
    await run(lambda: _core.bind_map(prog, map, flags=flags))


async def find_metadata(prog: ProgRef) -> dict[str, Any]:
    """One program's metadata: `prog` is a Program, an fd, an `Id` or a pinned path."""
    return await run(lambda: _core.find_metadata(prog))


_bind = _native.bind_map


class _Reader(Protocol[T]):
    """A native reader: a scanner or a map cursor."""

    def next_batch(self, n: int) -> list[T]: ...
    def close(self) -> None: ...


class _Batches(Closing, Generic[T]):
    """An async iterator over what a native reader gives, read `n` at a time in a worker
    thread: the next batch is read only when this one is consumed."""

    def __init__(self, reader: _Reader[T], n: int, what: str) -> None:
        if n < 1:
            raise ValueError(f"{what} must be at least 1")
        self._reader = reader
        self._n = n
        self._buf: deque[T] = deque()
        self._done = False

    def __aiter__(self) -> Self:
        return self

    async def __anext__(self) -> T:
        if not self._buf:
            if self._done:
                raise StopAsyncIteration
            chunk = await run(lambda: self._reader.next_batch(self._n))
            if not chunk:
                self.close()
                raise StopAsyncIteration
            self._read(chunk)
            self._buf.extend(chunk)
        return self._buf.popleft()

    def _read(self, chunk: list[T]) -> None:
        """Called with each batch as it arrives."""

    def close(self) -> None:
        self._done = True
        self._buf.clear()
        self._reader.close()


class MetadataStream(_Batches[ProgramInfo]):
    """An async iterator over scan records, read `batch` programs at a time in a worker
    thread. Memory is bounded by one batch: the next is read only when this one is
    consumed. Records hold no fds; leaving early or cancelling only drops the caches."""

    def __init__(
        self,
        scanner: _native.Scanner,
        batch: int,
        progress: Callable[[int], object] | None = None,
    ) -> None:
        super().__init__(scanner, batch, "batch")
        self._count = 0
        self._progress = progress

    @property
    def count(self) -> int:
        """Programs read from the kernel so far (a batch ahead of those yielded)."""
        return self._count

    def _read(self, chunk: list[ProgramInfo]) -> None:
        self._count += len(chunk)
        if self._progress is not None:
            self._progress(self._count)

    def close(self) -> None:
        """Ends the stream: later reads stop, the scan's caches are dropped."""
        super().close()


def stream_metadata(
    *,
    ids: list[int] | None = None,
    name: str | None = None,
    prog_type: str | int | None = None,
    with_metadata_only: bool = False,
    batch: int = 256,
    memlock: bool = False,
    progress: Callable[[int], object] | None = None,
    pids: bool = False,
) -> MetadataStream:
    """Every program loaded on the host (or those selected) with its info and decoded
    metadata, in id order::

        async with stream_metadata(with_metadata_only=True) as stream:
            async for rec in stream:
                print(rec.id, rec.name, rec.metadata)

    ``bytes_memlock`` (bpftool's figure, read from /proc per program) is None unless
    ``memlock`` is set: it costs three syscalls per program. ``progress(n)`` is called
    after each batch with the programs read so far (also ``stream.count``).
    ``pids`` (the processes holding each program) is None unless ``pids`` is set:
    one pass over every process's fds, retaken every 5 s of a long stream.
    """
    return MetadataStream(
        _core._scanner(ids, name, prog_type, with_metadata_only, memlock, pids),
        batch,
        progress,
    )


class MapStream(_Batches[Any]):
    """An async iterator over a map's elements, read `chunk` at a time in a worker
    thread (by BPF_MAP_LOOKUP_BATCH where the map type has it). Memory is bounded by one
    chunk; the map's fd stays with its `Map`."""

    def __init__(self, cursor: _native.MapCursor, chunk: int) -> None:
        super().__init__(cursor, chunk, "chunk")
        self._cursor = cursor

    @property
    def batched(self) -> bool:
        """Whether the walk reads by batch commands (False: one element at a time)."""
        return self._cursor.batched

    def close(self) -> None:
        """Ends the walk: later reads stop."""
        super().close()


def map_items(
    map: Map, *, batch: bool = True, raw: bool = False, chunk: int = 4096
) -> MapStream:
    """The (key, value) pairs of a map, as `Map.items()` reads them, for ``async for``;
    each chunk is read in a worker thread, so a big map never blocks the loop::

        async with bpfbind.map_items(obj.maps["flows"]) as items:
            async for key, value in items:
                ...
    """
    return MapStream(map.cursor(batch=batch, values=True, raw=raw), chunk)


def map_keys(map: Map, *, raw: bool = False, chunk: int = 4096) -> MapStream:
    """The keys of a map, as `Map.keys()` reads them, for ``async for``."""
    return MapStream(map.cursor(batch=False, values=False, raw=raw), chunk)
