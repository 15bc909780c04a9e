"""bpfbind: load eBPF objects with their metadata bound to every program, bind maps, and
read metadata back from any running program, from asyncio, trio or plain code."""

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
from ._core import BpfObject, Id, open_map, open_program
from ._events import EnableStats, PerfBuffer, RingBuffer, enable_stats
from ._native import Map, Program, ProgramInfo, __version__, create_map
from ._spec import MapSpec, ObjectSpec, ProgramSpec, SpecError, open_object
from .errors import (
    BindMapUnsupported,
    BpfError,
    BpfNotFoundError,
    BpfPermissionError,
    CoreRelocationError,
    ObjectFormatError,
    UnsupportedFeatureError,
    VerifierError,
)

__all__ = [
    "BindMapUnsupported",
    "BpfError",
    "BpfNotFoundError",
    "BpfObject",
    "BpfPermissionError",
    "CoreRelocationError",
    "EnableStats",
    "Id",
    "Map",
    "MapSpec",
    "MapStream",
    "MetadataStream",
    "ObjectFormatError",
    "ObjectSpec",
    "PerfBuffer",
    "Program",
    "ProgramInfo",
    "ProgramSpec",
    "RingBuffer",
    "SpecError",
    "UnsupportedFeatureError",
    "VerifierError",
    "__version__",
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
    "stream_metadata",
    "sync",
]
