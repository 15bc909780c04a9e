"""`MapType`, `ProgType` and `AttachType`: IntEnums of the kernel's numbers, built from
the one table the native core uses (src/sys/uapi.rs), and the conversion of the names,
enums and numbers callers give into numbers."""

from __future__ import annotations

import errno
from enum import IntEnum

from . import _native
from .errors import InvalidArgumentError

__all__ = ["AttachType", "MapType", "ProgType", "number"]


def _members(table: list[tuple[str, int]]) -> dict[str, int]:
    return {name.upper(): value for name, value in table}


MapType = IntEnum(  # type: ignore[misc]
    "MapType", _members(_native.MAP_TYPE_NUMBERS), module=__name__
)
MapType.__doc__ = "enum bpf_map_type: ``MapType.ARRAY`` is BPF_MAP_TYPE_ARRAY (2)."
ProgType = IntEnum(  # type: ignore[misc]
    "ProgType", _members(_native.PROG_TYPE_NUMBERS), module=__name__
)
ProgType.__doc__ = "enum bpf_prog_type: ``ProgType.XDP`` is BPF_PROG_TYPE_XDP (6)."
AttachType = IntEnum(  # type: ignore[misc]
    "AttachType", _members(_native.ATTACH_TYPE_NUMBERS), module=__name__
)
AttachType.__doc__ = "enum bpf_attach_type: ``AttachType.XDP`` is BPF_XDP (37)."


def number(kind: type[IntEnum], value: int | str) -> int:
    """The number of ``value``, an enum member, a number, or a name in any case
    (``"array"``, ``"ARRAY"``); an unknown name is an `InvalidArgumentError` (a
    ValueError) naming the choices."""
    if isinstance(value, str):
        try:
            return int(kind[value.upper()])
        except KeyError:
            choices = ", ".join(m.name.lower() for m in kind)
            raise InvalidArgumentError(
                errno.EINVAL, f"unknown {kind.__name__} {value!r}; one of {choices}"
            ) from None
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(f"a {kind.__name__} is a name, a number or a {kind.__name__}")
    return int(value)
