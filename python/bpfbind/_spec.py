"""`open_object()`: an object parsed but not loaded, to configure before load (libbpf's
open/load split): map sizes and flags, which programs load and what they attach to, and
the initial values of `.rodata`/`.data`/`.bss` variables, typed by the object's BTF.
`load_object(spec)` loads it with those changes; nothing reaches the kernel before."""

from __future__ import annotations

import os
import struct
from collections.abc import Iterator, Mapping, MutableMapping
from typing import TYPE_CHECKING, Any, Union

from . import _native
from .errors import BpfError

if TYPE_CHECKING:
    from ._native import MapLayout, ObjectLayout, ProgramLayout, TypeDesc

__all__ = [
    "MapSpec",
    "ObjectSpec",
    "ProgramSpec",
    "SpecError",
    "Variables",
    "open_object",
]

# The map fields libbpf lets a caller set before load (bpf_map__set_*).
_MAP_FIELDS = {
    "max_entries": 32,
    "value_size": 32,
    "key_size": 32,
    "map_flags": 32,
    "numa_node": 32,
    "map_extra": 64,
}


class SpecError(BpfError, ValueError):
    """A change to an ObjectSpec that the object cannot take: an unknown name, a value
    out of range for its type, a field of a map that follows its section."""


class UnknownNameError(SpecError, KeyError):
    """No map, program or variable of that name in the object."""

    def __str__(self) -> str:
        return str(self.args[1] if len(self.args) > 1 else self.args[0])


def _unknown(what: str, name: str, known: Iterator[str]) -> UnknownNameError:
    names = ", ".join(sorted(known)) or "none"
    return UnknownNameError(22, f"the object has no {what} {name!r} (it has: {names})")


def _map_field(field: str, doc: str) -> Any:
    """A MapSpec property of one creation field: the object's value until set."""
    return property(
        lambda self: self._get(field), lambda self, v: self._set(field, v), doc=doc
    )


class MapSpec:
    """A map as it will be created; set `max_entries`, `value_size`, `key_size`,
    `map_flags`, `numa_node` or `map_extra` before load."""

    __slots__ = {
        "_edits": "Fields set before load.",
        "_fields": "Fields as the object has them.",
        "map_type": "The kernel's map type number (`bpfbind.MapType`).",
        "name": "The map's name in the object.",
        "section": "The data section the map holds (`.rodata`, ...), else None.",
    }

    def __init__(self, layout: MapLayout) -> None:
        self.name: str = layout["name"]
        self.section: str | None = layout["section"]
        self.map_type: int = layout["map_type"]
        self._fields: dict[str, int] = {
            "max_entries": layout["max_entries"],
            "value_size": layout["value_size"],
            "key_size": layout["key_size"],
            "map_flags": layout["flags"],
            "numa_node": layout["numa_node"],
            "map_extra": layout["map_extra"],
        }
        self._edits: dict[str, int] = {}

    def _get(self, field: str) -> int:
        return self._edits.get(field, self._fields[field])

    def _set(self, field: str, value: int) -> None:
        if isinstance(value, bool) or not isinstance(value, int):
            raise SpecError(22, f"map {self.name!r}: {field} must be an int")
        bits = _MAP_FIELDS[field]
        if not 0 <= value < 1 << bits:
            raise SpecError(
                22, f"map {self.name!r}: {field} {value} is outside 0..2**{bits}-1"
            )
        if self.section is not None and field != "map_flags":
            raise SpecError(
                22,
                f"map {self.name!r} holds the section {self.section}: its {field} "
                "follows the section",
            )
        self._edits[field] = value

    max_entries = _map_field("max_entries", "The most entries the map will hold.")
    value_size = _map_field("value_size", "Bytes of a value.")
    key_size = _map_field("key_size", "Bytes of a key.")
    map_flags = _map_field("map_flags", "`map_flags` of the creation (BPF_F_*).")
    numa_node = _map_field(
        "numa_node", "The NUMA node to allocate on (with BPF_F_NUMA_NODE)."
    )
    map_extra = _map_field(
        "map_extra", "`map_extra` of the creation (a bloom filter's hash count, ...)."
    )

    def __repr__(self) -> str:
        fields = " ".join(f"{k}={self._get(k)}" for k in _MAP_FIELDS)
        return f"<MapSpec {self.name} type={self.map_type} {fields}>"


class ProgramSpec:
    """A program as it will be loaded; set `autoload` (False leaves it out, as
    SEC("?...") does) or `attach_target` before load."""

    __slots__ = {
        "_attach_target": "The attach target to load with.",
        "_autoload": "Whether the program will load.",
        "name": "The program's name in the object.",
        "section": "The ELF section it is in.",
        "type": "The program type the section gives, as bpftool names it.",
    }

    def __init__(self, layout: ProgramLayout) -> None:
        self.name: str = layout["name"]
        self.section: str = layout["section"]
        self.type: str = layout["type"]
        self._autoload: bool = layout["autoload"]
        self._attach_target: str | None = layout["attach_target"]

    @property
    def autoload(self) -> bool:
        """Whether the program loads (False: left out, as SEC("?...") programs are)."""
        return self._autoload

    @autoload.setter
    def autoload(self, value: bool) -> None:
        if not isinstance(value, bool):
            raise SpecError(22, f"program {self.name!r}: autoload must be a bool")
        self._autoload = value

    @property
    def attach_target(self) -> str | None:
        """The kernel function or program it attaches to, for tracing and ext types."""
        return self._attach_target

    @attach_target.setter
    def attach_target(self, value: str) -> None:
        if not isinstance(value, str) or not value or "\0" in value:
            raise SpecError(
                22, f"program {self.name!r}: attach_target must be a non-empty name"
            )
        self._attach_target = value

    def __repr__(self) -> str:
        return (
            f"<ProgramSpec {self.name} section={self.section!r} "
            f"autoload={self._autoload} attach_target={self._attach_target!r}>"
        )


_INT = {1: "b", 2: "h", 4: "i", 8: "q"}


def _encode(desc: TypeDesc, value: Any, where: str) -> bytes:
    """`value` as the bytes of a BTF type described by object_layout's `desc`."""
    kind = desc["kind"]
    size = desc.get("size", 0)
    if kind == "char":
        if isinstance(value, str | bytes) and len(value) == 1:
            value = ord(value)
        if isinstance(value, bool) or not isinstance(value, int):
            raise SpecError(22, f"{where}: expects a character or an int")
        if not -128 <= value <= 255:
            raise SpecError(22, f"{where}: {value} does not fit a char")
        return (value & 0xFF).to_bytes(1, "little")
    if kind in ("int", "enum", "bool"):
        if kind == "enum" and isinstance(value, str):
            values = dict(desc["values"])
            if value not in values:
                raise SpecError(22, f"{where}: {desc['name']!r} has no {value!r}")
            value = values[value]
        if kind == "bool" and not isinstance(value, bool):
            raise SpecError(22, f"{where}: expects a bool, got {value!r}")
        if kind != "bool" and (isinstance(value, bool) or not isinstance(value, int)):
            raise SpecError(22, f"{where}: expects an int, got {value!r}")
        signed = bool(desc.get("signed", False))
        bits = 8 * size
        lo, hi = (-(1 << (bits - 1)), 1 << (bits - 1)) if signed else (0, 1 << bits)
        if not lo <= int(value) < hi:
            raise SpecError(
                22, f"{where}: {value} does not fit {size} bytes ({lo}..{hi - 1})"
            )
        return int(value).to_bytes(size, "little", signed=signed)
    if kind == "float":
        if not isinstance(value, int | float) or isinstance(value, bool):
            raise SpecError(22, f"{where}: expects a float, got {value!r}")
        return struct.pack("<" + {4: "f", 8: "d"}[size], float(value))
    if kind == "chars":
        n = desc["len"]
        raw = value.encode() if isinstance(value, str) else value
        if not isinstance(raw, bytes | bytearray):
            raise SpecError(22, f"{where}: expects str or bytes, got {value!r}")
        if len(raw) > n:
            raise SpecError(22, f"{where}: {len(raw)} bytes do not fit char[{n}]")
        return bytes(raw) + bytes(n - len(raw))
    if kind == "array":
        n, elem = desc["len"], desc["elem"]
        if not isinstance(value, list | tuple) or len(value) != n:
            raise SpecError(22, f"{where}: expects a list of {n} elements")
        return b"".join(_encode(elem, v, f"{where}[{i}]") for i, v in enumerate(value))
    if kind in ("struct", "union"):
        raise SpecError(
            22, f"{where}: set a {kind}'s fields through a skeleton, or as bytes"
        )
    if isinstance(value, bytes | bytearray) and len(value) == size:
        return bytes(value)
    raise SpecError(22, f"{where}: expects {size} bytes")


def _decode(desc: TypeDesc, raw: bytes) -> Any:
    kind = desc["kind"]
    size = desc.get("size", 0)
    if kind in ("int", "enum", "char"):
        signed = bool(desc.get("signed", False)) or kind == "char"
        v = int.from_bytes(raw[:size], "little", signed=signed)
        if kind == "enum":
            for name, value in desc["values"]:
                if value == v:
                    return name
        return v
    if kind == "bool":
        return raw[:size] != bytes(size)
    if kind == "float":
        return struct.unpack("<" + {4: "f", 8: "d"}[size], raw[:size])[0]
    if kind == "chars":
        return raw.split(b"\0", 1)[0].decode(errors="replace")
    if kind == "array":
        elem = desc["elem"]
        step = len(raw) // desc["len"] if desc["len"] else 0
        n = desc["len"]
        return [_decode(elem, raw[i * step : (i + 1) * step]) for i in range(n)]
    return bytes(raw)


class Variables(MutableMapping[str, Any]):
    """The `.rodata`, `.data` and `.bss` variables of an object by name (the
    `bpf_metadata_` ones included, `.metadata` excluded: build facts stay as built),
    their initial values typed by BTF. Setting one writes the initial value the map is
    created with."""

    def __init__(self, spec: ObjectSpec, layout: ObjectLayout) -> None:
        self._spec = spec
        self._vars: dict[str, tuple[str, int, int, TypeDesc]] = {}
        ambiguous: set[str] = set()
        for section, vars_ in layout["sections"].items():
            if section == ".metadata" or section == ".kconfig":
                continue
            for name, off, size, desc in vars_:
                if name in self._vars:
                    ambiguous.add(name)
                self._vars[name] = (section, off, size, desc)
        for name in ambiguous:
            del self._vars[name]
        self._ambiguous = ambiguous

    def _lookup(self, name: str) -> tuple[str, int, int, TypeDesc]:
        if name in self._ambiguous:
            raise SpecError(
                22, f"variable {name!r} is defined in more than one data section"
            )
        try:
            return self._vars[name]
        except KeyError:
            raise _unknown("variable", name, iter(self._vars)) from None

    def __getitem__(self, name: str) -> Any:
        section, off, size, desc = self._lookup(name)
        return _decode(desc, bytes(self._spec._sections[section][off : off + size]))

    def __setitem__(self, name: str, value: Any) -> None:
        section, off, size, desc = self._lookup(name)
        raw = _encode(desc, value, f"variable {name!r}")
        assert len(raw) == size
        buf = self._spec._sections[section]
        buf[off : off + size] = raw
        self._spec._dirty.add(section)

    def __delitem__(self, name: str) -> None:
        raise SpecError(22, "variables cannot be removed from an object")

    def __iter__(self) -> Iterator[str]:
        return iter(self._vars)

    def __len__(self) -> int:
        return len(self._vars)

    def section_of(self, name: str) -> str:
        """The data section holding `name`."""
        return self._lookup(name)[0]


class _Named(Mapping[str, Any]):
    def __init__(self, what: str, items: dict[str, Any]) -> None:
        self._what = what
        self._items = items

    def __getitem__(self, name: str) -> Any:
        try:
            return self._items[name]
        except KeyError:
            raise _unknown(self._what, name, iter(self._items)) from None

    def __iter__(self) -> Iterator[str]:
        return iter(self._items)

    def __len__(self) -> int:
        return len(self._items)


class ObjectSpec:
    """A parsed object, not loaded. `maps`, `programs` and `variables` take changes;
    `bpfbind.load_object(spec)` (or `sync.load_object`) loads it with them. A spec can
    be loaded more than once."""

    def __init__(self, data: bytes, name: str) -> None:
        self.data = data
        self.name = name
        layout = _native.object_layout(data, name)
        self.maps: Mapping[str, MapSpec] = _Named(
            "map", {m["name"]: MapSpec(m) for m in layout["maps"]}
        )
        self.programs: Mapping[str, ProgramSpec] = _Named(
            "program", {p["name"]: ProgramSpec(p) for p in layout["programs"]}
        )
        self._sections: dict[str, bytearray] = {
            m["section"]: bytearray(m["initial"] or bytes(m["value_size"]))
            for m in layout["maps"]
            if m["section"] and m["section"] not in (".metadata", ".kconfig")
        }
        self._dirty: set[str] = set()
        self._layout = layout
        self.variables = Variables(self, layout)

    def section_bytes(self, section: str) -> bytearray:
        """The initial value of a data section, as it will be written (skeletons edit
        it through typed views)."""
        try:
            return self._sections[section]
        except KeyError:
            raise _unknown("data section", section, iter(self._sections)) from None

    def mark_dirty(self, section: str) -> None:
        """Says that `section_bytes(section)` was changed in place."""
        self.section_bytes(section)
        self._dirty.add(section)

    def load_args(self) -> dict[str, Any]:
        """The native load's edit arguments."""
        maps = {n: dict(m._edits) for n, m in self.maps.items() if m._edits}
        autoload = {
            n: p.autoload
            for n, p in self.programs.items()
            if p.autoload != _layout_prog(self._layout, n)["autoload"]
        }
        targets = {
            n: p.attach_target
            for n, p in self.programs.items()
            if p.attach_target is not None
            and p.attach_target != _layout_prog(self._layout, n)["attach_target"]
        }
        return {
            "initial": {s: bytes(self._sections[s]) for s in self._dirty} or None,
            "map_edits": maps or None,
            "autoload": autoload or None,
            "attach_target": targets or None,
        }

    def __repr__(self) -> str:
        return (
            f"<ObjectSpec {self.name} programs={list(self.programs)} "
            f"maps={list(self.maps)}>"
        )


def _layout_prog(layout: ObjectLayout, name: str) -> ProgramLayout:
    for p in layout["programs"]:
        if p["name"] == name:
            return p
    raise KeyError(name)


Opened = Union[str, "os.PathLike[str]", bytes, bytearray, memoryview]


def open_object(source: Opened, *, name: str | None = None) -> ObjectSpec:
    """Parses a BPF object (a path or its bytes) without loading it. Raises
    ObjectFormatError for a malformed object."""
    from ._core import object_name

    if isinstance(source, bytes | bytearray | memoryview):
        return ObjectSpec(bytes(source), name or "bpfbind")
    path = os.fspath(source)
    with open(path, "rb") as f:
        data = f.read()
    return ObjectSpec(data, name or object_name(path))
