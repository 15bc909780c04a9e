"""What a user of the installed wheel writes: the public API, typed. The wheel test runs
`mypy --strict` on it against site-packages, then runs it against the kernel.

    python user_code.py OBJ.bpf.o PIN_DIR    # PIN_DIR in bpffs, created and removed
"""

from __future__ import annotations

import asyncio
import json
import shutil
import sys
from pathlib import Path
from typing import Any

import anyio

import bpfbind
from bpfbind import errors, sync

BPF_MAP_TYPE_ARRAY = 2


async def load_and_read(obj_path: Path, pin_dir: Path) -> dict[str, Any]:
    """Load with metadata bound, bind one more map, read metadata back three ways."""
    async with await bpfbind.load_object(obj_path, pin_dir=pin_dir) as obj:
        metadata: dict[str, Any] = obj.metadata
        prog: bpfbind.Program = next(iter(obj.programs.values()))
        extra: bpfbind.Map = bpfbind.create_map(
            BPF_MAP_TYPE_ARRAY, 4, 4, 1, name="user_extra"
        )
        try:
            await bpfbind.bind_map(prog, extra)
            if extra.id not in prog.used_maps():
                raise AssertionError(f"map {extra.id} not in {prog.used_maps()}")
        finally:
            extra.close()
        pinned = await bpfbind.find_metadata(pin_dir / prog.name)
        by_id = await bpfbind.find_metadata(bpfbind.Id(prog.id))
        seen: dict[int, dict[str, Any]] = {}
        async with bpfbind.stream_metadata(with_metadata_only=True) as stream:
            async for rec in stream:
                info: bpfbind.ProgramInfo = rec
                seen[info.id] = info.metadata
        views = [pinned, by_id, seen.get(prog.id)]
        if not metadata or any(v != metadata for v in views):
            raise AssertionError(f"loaded {metadata}, read back {views}")
        return metadata


def load_blocking(obj_path: Path) -> tuple[str, list[int]]:
    """The same without an event loop: how the metadata was bound, the scan's ids."""
    with sync.load_object(obj_path) as obj:
        ids = [p.id for p in obj.programs.values()]
        return obj.binding, [rec.id for rec in sync.scan(ids=ids)]


def refused(data: bytes) -> str:
    """Errors keep errno and the bpf command; a malformed object says where."""
    try:
        sync.load_object(data).close()
    except errors.ObjectFormatError as e:
        return f"ObjectFormatError section={e.section!r} offset={e.offset}"
    except bpfbind.VerifierError as e:
        return f"VerifierError {e.program}: {len(e.log)} bytes of log"
    except bpfbind.BpfError as e:
        return f"{type(e).__name__} errno={e.errno} command={e.command}"
    return "loaded"


def main(argv: list[str]) -> int:
    if len(argv) != 2:
        print(__doc__, file=sys.stderr)
        return 2
    obj_path, pin_root = Path(argv[0]), Path(argv[1])
    pin_root.mkdir()
    try:
        report: dict[str, Any] = {"version": bpfbind.__version__}
        report["asyncio"] = asyncio.run(load_and_read(obj_path, pin_root / "asyncio"))
        report["trio"] = anyio.run(
            load_and_read, obj_path, pin_root / "trio", backend="trio"
        )
        report["binding"], report["scanned"] = load_blocking(obj_path)
        report["garbage"] = refused(b"\x7fELF not really")
    finally:
        shutil.rmtree(pin_root)
    print(json.dumps(report))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
