"""Ring buffers and perf buffers as async iterators (asyncio and trio, through anyio):
the event loop waits on one epoll fd for all of a reader's buffers, records are read in
batches inline (no syscall, no thread), and cancelling a read closes the reader. Also
`enable_stats()`, BPF_ENABLE_STATS as a context manager."""

from __future__ import annotations

from collections import deque
from typing import Any

from . import _native
from ._core import Closing

__all__ = ["EnableStats", "PerfBuffer", "RingBuffer", "enable_stats"]


class _Reader(Closing):
    __slots__ = ("_buf", "_chunk", "_poller", "_tagged")

    def __init__(
        self, poller: _native.RingPoller | _native.PerfPoller, chunk: int, tagged: bool
    ) -> None:
        if chunk < 1:
            raise ValueError("chunk must be at least 1")
        self._poller = poller
        self._chunk = chunk
        self._tagged = tagged
        self._buf: deque[Any] = deque()

    def __aiter__(self) -> _Reader:
        return self

    async def __anext__(self) -> Any:
        if self._buf:
            return self._buf.popleft()
        if self._poller.closed:
            raise StopAsyncIteration
        self._buf.extend(await self.read_batch())
        return self._buf.popleft()

    async def read_batch(self, max: int | None = None) -> list[Any]:
        """Waits until at least one record is there, then returns every record there
        (``max`` at most, else the reader's chunk). Cancelled, it closes the reader."""
        import anyio

        n = self._chunk if max is None else max
        if self._buf:
            out = [self._buf.popleft() for _ in range(min(n, len(self._buf)))]
            return out
        try:
            while True:
                got = self._poller.read(n, self._tagged)
                if got:
                    return got
                await anyio.wait_readable(self._poller)
        except BaseException:
            self.close()
            raise

    def poll(self, timeout: float | None = None, max: int | None = None) -> list[Any]:
        """The blocking form of `read_batch`: waits at most ``timeout`` seconds (None:
        for ever, 0: not at all) with the GIL released; an empty list on timeout."""
        n = self._chunk if max is None else max
        if self._buf:
            return [self._buf.popleft() for _ in range(min(n, len(self._buf)))]
        got = self._poller.read(n, self._tagged)
        if got or timeout == 0:
            return got
        if self._poller.wait(timeout):
            return self._poller.read(n, self._tagged)
        return []

    def fileno(self) -> int:
        """The epoll fd, readable while a record waits (for other event loops)."""
        return self._poller.fileno()

    @property
    def closed(self) -> bool:
        """Whether `close()` has run."""
        return self._poller.closed

    def close(self) -> None:
        """Drops unread records, unmaps the buffers and closes their fds."""
        self._buf.clear()
        self._poller.close()


class RingBuffer(_Reader):
    """Records of one or more BPF ring buffers (``BpfObject.ring_buffer``), as
    ``bytes`` or values decoded by a BTF type; with several buffers, each record is a
    (map name, record) pair. The kernel's ring is the only buffer: a reader that stops
    reading makes the program's ``bpf_ringbuf_output`` fail (the program counts it)."""

    __slots__ = ()

    @property
    def names(self) -> list[str]:
        """The ring buffers read, in the order given."""
        return self._poller.names  # type: ignore[union-attr]

    def pending(self) -> list[int]:
        """Bytes written to each ring and not read yet."""
        return self._poller.pending()  # type: ignore[union-attr]


class PerfBuffer(_Reader):
    """Samples of a perf event array (``BpfObject.perf_buffer``): one buffer per online
    CPU; each sample is ``bytes`` (padded by the kernel so that records stay 8-aligned)
    or decoded by a BTF type, or a (cpu, sample) pair with ``tagged``. ``lost`` counts
    the samples the kernel dropped on full buffers, as its lost records report them."""

    __slots__ = ()

    @property
    def lost(self) -> int:
        """Samples the kernel dropped on full buffers, so far."""
        return self._poller.lost  # type: ignore[union-attr]

    @property
    def ncpus(self) -> int:
        """How many CPUs have a buffer."""
        return self._poller.ncpus  # type: ignore[union-attr]


class EnableStats(Closing):
    """BPF_ENABLE_STATS held: while open, the kernel counts every program's runs and
    run time (``ProgramInfo.run_cnt``, ``run_time_ns``). Use with ``with`` or
    ``async with``; needs CAP_SYS_ADMIN."""

    __slots__ = ("_handle",)

    def __init__(self) -> None:
        self._handle = _native.StatsHandle()

    @property
    def closed(self) -> bool:
        """Whether the stats fd is closed."""
        return self._handle.closed

    def close(self) -> None:
        """Closes the stats fd: counting stops unless another holder keeps it on."""
        self._handle.close()


def enable_stats() -> EnableStats:
    """Counts run counts and run times of every program until closed::

    with bpfbind.enable_stats():
        prog.test_run(data, repeat=100)
        bpfbind.sync.program_info(prog).run_cnt   # 100
    """
    return EnableStats()
