"""The async API (asyncio and trio, through anyio): loads run on bpfbind's native
threads, scans and lookups in worker threads, binds between objects inline (one short
syscall at most); a cancelled call leaves no fd or kernel object behind."""

from __future__ import annotations

import os
from collections import deque
from collections.abc import Callable, Mapping
from typing import Any

from . import _core, _native
from ._core import BpfObject, Closing, MapRef, ProgRef, Source
from ._native import Map, Program, ProgramInfo
from ._run import run

__all__ = [
    "MetadataStream",
    "bind_map",
    "find_metadata",
    "load_object",
    "stream_metadata",
]


async def load_object(
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
    """Loads a BPF object and binds its metadata maps to every program (see
    `bpfbind.sync.load_object`). Use as ``async with await load_object(...) as obj``.

    The load runs on bpfbind's native threads and wakes the event loop through an
    eventfd. Cancelled, it leaves nothing behind: a load still running closes what
    it created when it ends."""
    import anyio

    args = _core.load_args(
        source, pin_dir, pin_maps, name, bind, initial, btf_path, replace
    )
    job = _native.start_load(**args)
    try:
        await anyio.wait_readable(job)
    except BaseException:
        job.cancel()
        raise
    return BpfObject(job.result(), args["pin_dir"])


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


class MetadataStream(Closing):
    """An async iterator over scan records, read `batch` programs at a time in a worker
    thread. Memory is bounded by one batch: the next is read only when this one is
    consumed. Records hold no fds; leaving early or cancelling only drops the caches."""

    def __init__(
        self,
        scanner: _native.Scanner,
        batch: int,
        progress: Callable[[int], object] | None = None,
    ) -> None:
        if batch < 1:
            raise ValueError("batch must be at least 1")
        self._scanner = scanner
        self._batch = batch
        self._buf: deque[ProgramInfo] = deque()
        self._done = False
        self._count = 0
        self._progress = progress

    @property
    def count(self) -> int:
        """Programs read from the kernel so far (a batch ahead of those yielded)."""
        return self._count

    def __aiter__(self) -> MetadataStream:
        return self

    async def __anext__(self) -> ProgramInfo:
        if not self._buf:
            if self._done:
                raise StopAsyncIteration
            chunk = await run(lambda: self._scanner.next_batch(self._batch))
            if not chunk:
                self._done = True
                self._scanner.close()
                raise StopAsyncIteration
            self._count += len(chunk)
            if self._progress is not None:
                self._progress(self._count)
            self._buf.extend(chunk)
        return self._buf.popleft()

    def close(self) -> None:
        self._done = True
        self._buf.clear()
        self._scanner.close()


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
