"""The blocking API: the same calls as `bpfbind`'s async ones, for code without an event
loop. The GIL is released around every syscall."""

from ._core import bind_map, find_metadata, iter_scan, load_object, program_info, scan
from ._links import attach_all, scan_links

__all__ = [
    "attach_all",
    "bind_map",
    "find_metadata",
    "iter_scan",
    "load_object",
    "program_info",
    "scan",
    "scan_links",
]
