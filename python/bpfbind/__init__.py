"""bpfbind: load eBPF objects with their metadata bound to every program, bind maps, and
read metadata back from any running program, from asyncio, trio or plain code."""

from . import sync
from ._aio import MetadataStream, bind_map, find_metadata, load_object, stream_metadata
from ._core import BpfObject, Id, open_map, open_program
from ._links import Links, attach, attach_all, scan_links, stream_iter
from ._native import (
    IterReader,
    Link,
    Map,
    Program,
    ProgramInfo,
    __version__,
    create_map,
)
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
    "Id",
    "IterReader",
    "Link",
    "Links",
    "Map",
    "MapSpec",
    "MetadataStream",
    "ObjectFormatError",
    "ObjectSpec",
    "Program",
    "ProgramInfo",
    "ProgramSpec",
    "SpecError",
    "UnsupportedFeatureError",
    "VerifierError",
    "__version__",
    "attach",
    "attach_all",
    "bind_map",
    "create_map",
    "find_metadata",
    "load_object",
    "open_map",
    "open_object",
    "open_program",
    "scan_links",
    "stream_iter",
    "stream_metadata",
    "sync",
]
