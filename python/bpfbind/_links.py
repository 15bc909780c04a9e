"""Links: attaching programs from async code, every program of an object at once
(`attach_all`, as a libbpf skeleton's attach does), iterators read as streams, and the
host's links (BPF_LINK_GET_NEXT_ID) as bpftool's records."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Iterable, Iterator
from typing import TYPE_CHECKING, Any

from . import _native
from ._core import Closing
from ._native import IterReader, Link, Program
from ._run import run, run_owned

if TYPE_CHECKING:
    from ._core import BpfObject

__all__ = [
    "Link",
    "Links",
    "attach",
    "attach_all",
    "scan_links",
    "stream_iter",
]


class Links(Closing):
    """Links by program name, detached together by ``close()``, ``with`` or
    ``async with``."""

    __slots__ = ("_links",)

    def __init__(self, links: dict[str, Link]) -> None:
        self._links = links

    def __getitem__(self, name: str) -> Link:
        return self._links[name]

    def __iter__(self) -> Iterator[str]:
        return iter(self._links)

    def __len__(self) -> int:
        return len(self._links)

    def __contains__(self, name: object) -> bool:
        return name in self._links

    def items(self) -> Iterable[tuple[str, Link]]:
        """(program name, link) pairs, in the object's program order."""
        return self._links.items()

    @property
    def closed(self) -> bool:
        """Whether every link is closed."""
        return all(link.closed for link in self._links.values())

    def close(self) -> None:
        """Detaches every program (in reverse order of attachment)."""
        for link in reversed(list(self._links.values())):
            link.close()

    async def aclose(self) -> None:
        """`close()` in a worker thread: detaching can wait for RCU grace periods."""
        await _shielded(self.close)

    def __repr__(self) -> str:
        return f"<Links {sorted(self._links)}>"


def attach_all(obj: BpfObject) -> Links:
    """Attaches every program of `obj` whose section names its target (kprobe/func,
    tp/cat/name, raw_tp/name, fentry/..., iter/..., uprobe/binary:func, ksyscall/name),
    as a libbpf skeleton's ``attach()`` does; programs whose section names none (xdp,
    tc, cgroup, socket, a bare "kprobe") are left for `Program.attach`. On an error,
    what was attached is detached again."""
    links: dict[str, Link] = {}
    try:
        for name, prog in obj.programs.items():
            section = prog.section
            if section is None or _native.section_target_kind(section) is None:
                continue
            links[name] = prog.attach()
    except BaseException:
        Links(links).close()
        raise
    return Links(links)


async def attach(prog: Program, target: str | None = None, **kwargs: Any) -> Link:
    """`Program.attach` in a worker thread (probe look-ups read ELF files and tracefs).
    Cancelled, it leaves nothing attached: a link made after the cancellation is
    closed."""
    return await run_owned(lambda: prog.attach(target, **kwargs), _close)


def _close(link: Link) -> None:
    link.close()


async def _close_in_thread(link: Link) -> None:
    """What ``async with link`` ends with: a perf event's or probe's release waits for
    RCU grace periods in the kernel (tens of milliseconds), off the event loop."""
    await _shielded(link.close)


async def _shielded(close: Callable[[], None]) -> None:
    """Runs `close` in a worker thread, shielded: a cancellation (or a deadline already
    past) must not stop a detach from happening, only be delivered after it."""
    import anyio

    with anyio.CancelScope(shield=True):
        await run(close)


def scan_links(
    *, id: int | None = None, pinned: str | None = None
) -> list[dict[str, Any]]:
    """Every link on the host (or the one with `id`, or pinned at `pinned`) with the
    fields ``bpftool -j link show`` prints: id, type, prog_id and the type's own."""
    return _native.scan_links(id=id, path=pinned)


async def stream_iter(link: Link, chunk: int = 65536) -> AsyncIterator[bytes]:
    """The output of an iterator link, read `chunk` bytes at a time in a worker thread
    (each read runs the iterator program over the next objects)."""
    reader: IterReader = await run_owned(link.open_iter, IterReader.close)
    try:
        while data := await run(lambda: reader.read(chunk)):
            yield data
    finally:
        reader.close()
