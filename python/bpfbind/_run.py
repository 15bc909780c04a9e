"""Running blocking native calls off the event loop (asyncio or trio, through anyio),
with a per-loop thread limit and no result leaked when the caller is cancelled."""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import TYPE_CHECKING, TypeVar

# anyio is imported on first use: `import bpfbind` stays cheap for sync-only users.
if TYPE_CHECKING:
    import anyio
    import anyio.lowlevel

T = TypeVar("T")

_LIMITER: anyio.lowlevel.RunVar[anyio.CapacityLimiter] | None = None


def limiter() -> anyio.CapacityLimiter:
    """The limiter of the running event loop: at most a few bpf(2) workers at once."""
    global _LIMITER
    import anyio
    import anyio.lowlevel

    if _LIMITER is None:
        _LIMITER = anyio.lowlevel.RunVar("bpfbind_limiter")
    try:
        return _LIMITER.get()
    except LookupError:
        lim = anyio.CapacityLimiter(max(4, 2 * (os.cpu_count() or 1)))
        _LIMITER.set(lim)
        return lim


async def run(fn: Callable[[], T]) -> T:
    """Runs ``fn`` in a worker thread; cancelling the caller waits for it."""
    import anyio.to_thread

    return await anyio.to_thread.run_sync(fn, limiter=limiter())


async def run_owned(fn: Callable[[], T], close: Callable[[T], object]) -> T:
    """Runs ``fn`` in a worker thread and hands its result to the caller; if the caller
    was cancelled while the worker ran, the result is closed instead of leaked."""
    import anyio.lowlevel
    import anyio.to_thread

    # The worker keeps its result here too: a cancelled run_sync waits for the worker,
    # then raises without the result, which would live on until the garbage collector
    # found it (fds and links with it).
    made: list[T] = []

    def work() -> T:
        result = fn()
        made.append(result)
        return result

    try:
        result = await anyio.to_thread.run_sync(work, limiter=limiter())
        await anyio.lowlevel.checkpoint_if_cancelled()
    except BaseException:
        for r in made:
            close(r)
        raise
    return result
