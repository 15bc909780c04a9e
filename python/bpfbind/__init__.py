"""bpfbind: load eBPF objects with their metadata bound to every program, bind maps, and
read metadata back from any running program, from asyncio, trio or plain code."""

from typing import TYPE_CHECKING, Any

from . import sync
from ._aio import (
    MapStream,
    MetadataStream,
    bind_map,
    find_metadata,
    load_object,
    map_items,
    map_keys,
    stream_metadata,
)
from ._core import BpfObject, Fd, Id, create_map, open_map, open_program
from ._events import EnableStats, PerfBuffer, RingBuffer, enable_stats
from ._links import Links, attach, attach_all, scan_links, stream_iter
from ._native import IterReader, Link, Map, Program, ProgramInfo, __version__
from ._spec import MapSpec, ObjectSpec, ProgramSpec, SpecError, open_object
from .errors import (
    BindMapUnsupported,
    BpfError,
    BpfNotFoundError,
    BpfPermissionError,
    CoreRelocationError,
    InvalidArgumentError,
    ObjectFormatError,
    ReadOnlyError,
    UnsupportedFeatureError,
    VerifierError,
)

__all__ = [
    "AttachType",
    "BindMapUnsupported",
    "BpfError",
    "BpfNotFoundError",
    "BpfObject",
    "BpfPermissionError",
    "CoreRelocationError",
    "EnableStats",
    "Fd",
    "Id",
    "InvalidArgumentError",
    "IterReader",
    "Link",
    "Links",
    "Map",
    "MapSpec",
    "MapStream",
    "MapType",
    "MetadataStream",
    "ObjectFormatError",
    "ObjectSpec",
    "PerfBuffer",
    "ProgType",
    "Program",
    "ProgramInfo",
    "ProgramSpec",
    "ReadOnlyError",
    "RingBuffer",
    "SpecError",
    "UnsupportedFeatureError",
    "VerifierError",
    "__version__",
    "attach",
    "attach_all",
    "bind_map",
    "create_map",
    "enable_stats",
    "find_metadata",
    "load_object",
    "map_items",
    "map_keys",
    "open_map",
    "open_object",
    "open_program",
    "scan_links",
    "stream_iter",
    "stream_metadata",
    "sync",
]

if TYPE_CHECKING:
    from ._uapi import AttachType, MapType, ProgType


def __getattr__(name: str) -> Any:
    # The enums are built on first use: `import bpfbind` stays as cheap as it was.
    if name in ("AttachType", "MapType", "ProgType"):
        from . import _uapi

        return getattr(_uapi, name)
    raise AttributeError(f"module 'bpfbind' has no attribute {name!r}")
