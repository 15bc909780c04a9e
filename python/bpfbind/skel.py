"""Python skeletons: `bpfbind gen skeleton OBJ` writes a module with a class per object,
typed attributes for its programs and maps, and typed views of its data sections.

Before load, `rodata`, `data` and `bss` fields can be set and are written into the maps;
after load the views are mmaps of the maps themselves: `rodata` and `metadata` read-only
(frozen maps), `data` and `bss` shared with the programs. This module holds both the
generator and the runtime the generated modules import."""

from __future__ import annotations

import argparse
import base64
import json
import keyword
import mmap
import os
import struct
import textwrap
from collections.abc import Callable, Coroutine, Sequence
from pathlib import Path
from typing import Any, ClassVar, TypeVar, overload

from . import _native
from ._core import BpfObject, Closing, object_name
from ._core import load_object as _load_object
from ._native import Map
from ._spec import ObjectSpec
from .errors import ReadOnlyError

__all__ = [
    "Namespace",
    "ReadOnlyError",
    "SectionView",
    "Skeleton",
    "StructView",
    "generate",
    "main",
]

BPF_F_MMAPABLE = 0x400


class _Section:
    """The bytes behind a section view: the object's initial value before load, the
    map's mmap after (or the map itself where it cannot be mmapped)."""

    def __init__(
        self,
        name: str,
        initial: bytearray,
        settable: bool,
        on_write: Callable[[], None] | None = None,
    ) -> None:
        self.name = name
        # Before load: the ObjectSpec's own buffer, so writes are what the load writes.
        self.initial = initial
        self.buf: bytearray | mmap.mmap = initial
        self.size = len(initial)
        self.settable = settable
        self.loaded = False
        self.on_write = on_write
        self.map: Map | None = None

    def attach(self, m: Map, frozen: bool) -> None:
        self.map = m
        self.loaded = True
        self.settable = not frozen
        if m.flags & BPF_F_MMAPABLE:
            prot = mmap.PROT_READ if frozen else mmap.PROT_READ | mmap.PROT_WRITE
            self.buf = mmap.mmap(m.fd, self.size, mmap.MAP_SHARED, prot)
        else:
            self.buf = bytearray(self.size)
            self._pull()

    def _pull(self) -> None:
        assert self.map is not None
        value = self.map.lookup(b"\0\0\0\0", raw=True)
        if value is not None and isinstance(self.buf, bytearray):
            self.buf[:] = value

    def read(self) -> bytearray | mmap.mmap:
        if self.loaded and self.map is not None and not isinstance(self.buf, mmap.mmap):
            self._pull()
        return self.buf

    def write(self, off: int, data: bytes) -> None:
        if not self.settable:
            state = "frozen after load" if self.loaded else "read-only"
            raise ReadOnlyError(f"{self.name} is {state}")
        if off < 0 or off + len(data) > self.size:
            raise ValueError(f"write past the end of {self.name}")
        self.buf[off : off + len(data)] = data
        if not self.loaded and self.on_write is not None:
            self.on_write()
        if self.loaded and self.map is not None and not isinstance(self.buf, mmap.mmap):
            self.map.update(b"\0\0\0\0", bytes(self.buf))

    def close(self) -> None:
        if isinstance(self.buf, mmap.mmap):
            self.buf.close()
        self.buf = self.initial
        self.loaded = False
        self.map = None


_INT_FORMATS = {1: "b", 2: "h", 4: "i", 8: "q"}
_FLOAT_FORMATS = {4: "f", 8: "d"}


class StructView:
    """Typed fields over a section's bytes at `base`; generated subclasses add the
    properties. Reads are live: after load they see what the programs wrote."""

    __slots__ = ("_base", "_sec")

    def __init__(self, sec: _Section, base: int = 0) -> None:
        self._sec = sec
        self._base = base

    def _int(self, off: int, size: int, signed: bool) -> int:
        buf = self._sec.read()
        start = self._base + off
        if size in _INT_FORMATS:
            fmt = "<" + (_INT_FORMATS[size] if signed else _INT_FORMATS[size].upper())
            return int(struct.unpack_from(fmt, buf, start)[0])
        return int.from_bytes(buf[start : start + size], "little", signed=signed)

    def _set_int(self, off: int, size: int, signed: bool, value: int) -> None:
        self._sec.write(
            self._base + off, int(value).to_bytes(size, "little", signed=signed)
        )

    def _bool(self, off: int, size: int) -> bool:
        return self._int(off, size, False) != 0

    def _set_bool(self, off: int, size: int, value: bool) -> None:
        self._set_int(off, size, False, 1 if value else 0)

    def _float(self, off: int, size: int) -> float:
        fmt = "<" + _FLOAT_FORMATS[size]
        return float(struct.unpack_from(fmt, self._sec.read(), self._base + off)[0])

    def _set_float(self, off: int, size: int, value: float) -> None:
        self._sec.write(
            self._base + off, struct.pack("<" + _FLOAT_FORMATS[size], value)
        )

    def _bits(self, off: int, bit_off: int, bits: int, size: int, signed: bool) -> int:
        raw = self._int(off, size, False) >> bit_off
        raw &= (1 << bits) - 1
        if signed and raw >> (bits - 1):
            raw -= 1 << bits
        return raw

    def _set_bits(
        self, off: int, bit_off: int, bits: int, size: int, signed: bool, value: int
    ) -> None:
        lo, hi = (
            (-(1 << (bits - 1)), (1 << (bits - 1)) - 1)
            if signed
            else (0, (1 << bits) - 1)
        )
        if not lo <= value <= hi:
            raise OverflowError(f"{value} does not fit in {bits} bits")
        mask = ((1 << bits) - 1) << bit_off
        word = self._int(off, size, False) & ~mask
        word |= (value << bit_off) & mask
        self._set_int(off, size, False, word)

    def _chars(self, off: int, n: int) -> str:
        start = self._base + off
        raw = bytes(self._sec.read()[start : start + n])
        return raw.split(b"\0", 1)[0].decode("utf-8", "surrogateescape")

    def _set_chars(self, off: int, n: int, value: str | bytes) -> None:
        raw = (
            value.encode("utf-8", "surrogateescape")
            if isinstance(value, str)
            else value
        )
        if len(raw) >= n:
            raise ValueError(f"{len(raw)} bytes do not fit in char[{n}] with its NUL")
        self._sec.write(self._base + off, raw.ljust(n, b"\0"))

    def _bytes(self, off: int, n: int) -> bytes:
        start = self._base + off
        return bytes(self._sec.read()[start : start + n])

    def _set_bytes(self, off: int, n: int, value: bytes) -> None:
        if len(value) != n:
            raise ValueError(f"expected {n} bytes, got {len(value)}")
        self._sec.write(self._base + off, value)

    def _array(self, off: int, desc: dict[str, Any]) -> list[Any]:
        elem, n = desc["elem"], desc["len"]
        size = _size_of(elem)
        return [self._value(off + i * size, elem) for i in range(n)]

    def _set_array(self, off: int, desc: dict[str, Any], values: Sequence[Any]) -> None:
        elem, n = desc["elem"], desc["len"]
        if len(values) != n:
            raise ValueError(f"expected {n} elements, got {len(values)}")
        size = _size_of(elem)
        for i, v in enumerate(values):
            self._set_value(off + i * size, elem, v)

    def _value(self, off: int, desc: dict[str, Any]) -> Any:
        kind = desc["kind"]
        if kind in ("int", "char"):
            return self._int(off, desc["size"], desc.get("signed", True))
        if kind == "enum":
            return self._int(off, desc["size"], desc["signed"])
        if kind == "bool":
            return self._bool(off, desc["size"])
        if kind == "float":
            return self._float(off, desc["size"])
        if kind == "chars":
            return self._chars(off, desc["len"])
        if kind == "array":
            return self._array(off, desc)
        if kind in ("struct", "union"):
            return _GenericStruct(self._sec, self._base + off, desc)
        return self._bytes(off, desc["size"])

    def _set_value(self, off: int, desc: dict[str, Any], value: Any) -> None:
        kind = desc["kind"]
        if kind in ("int", "char", "enum"):
            self._set_int(off, desc["size"], desc.get("signed", True), int(value))
        elif kind == "bool":
            self._set_bool(off, desc["size"], bool(value))
        elif kind == "float":
            self._set_float(off, desc["size"], float(value))
        elif kind == "chars":
            self._set_chars(off, desc["len"], value)
        elif kind == "array":
            self._set_array(off, desc, value)
        else:
            raise TypeError(f"cannot assign a whole {kind}; set its fields")

    def _struct(self, off: int, cls: type[_V]) -> _V:
        return cls(self._sec, self._base + off)


_V = TypeVar("_V", bound=StructView)


class _GenericStruct(StructView):
    """A struct inside an array: fields by item access (``arr[0]["x"]``)."""

    __slots__ = ("_desc",)

    def __init__(self, sec: _Section, base: int, desc: dict[str, Any]) -> None:
        super().__init__(sec, base)
        self._desc = desc

    def __getitem__(self, name: str) -> Any:
        for fname, bit_off, bits, fdesc in self._desc["fields"]:
            if fname == name and not bits:
                return self._value(bit_off // 8, fdesc)
        raise KeyError(name)


def _size_of(desc: dict[str, Any]) -> int:
    if desc["kind"] in ("chars", "array"):
        return int(desc["len"]) * _size_of(desc["elem"])
    return int(desc["size"])


class SectionView(StructView):
    """The variables of one data section."""

    __slots__ = ()
    SECTION: ClassVar[str] = ""


class Namespace:
    """Programs or maps of a loaded skeleton, by attribute."""

    def __init__(self, items: dict[str, Any]) -> None:
        self.__dict__.update(items)


_S = TypeVar("_S", bound="Skeleton")


class _AsyncLoad:
    """``await Skel.load()`` opens a new skeleton and loads it; ``await skel.load()``
    loads one whose fields were set first. Typed by the class it is read from, so
    ``await ProgSkel.load()`` is a ``ProgSkel``, with its typed sections."""

    @overload
    def __get__(
        self, obj: None, owner: type[_S]
    ) -> Callable[[], Coroutine[Any, Any, _S]]: ...
    @overload
    def __get__(
        self, obj: _S, owner: type[_S]
    ) -> Callable[[], Coroutine[Any, Any, _S]]: ...
    def __get__(
        self, obj: _S | None, owner: type[_S]
    ) -> Callable[[], Coroutine[Any, Any, _S]]:
        target = obj if obj is not None else owner()
        return target._load_async


class _SyncLoad:
    """``Skel.load_sync()`` / ``skel.load_sync()``: the same without an event loop."""

    @overload
    def __get__(self, obj: None, owner: type[_S]) -> Callable[[], _S]: ...
    @overload
    def __get__(self, obj: _S, owner: type[_S]) -> Callable[[], _S]: ...
    def __get__(self, obj: _S | None, owner: type[_S]) -> Callable[[], _S]:
        target = obj if obj is not None else owner()
        return target._load_blocking


class Skeleton(Closing):
    """Base of generated skeletons. A subclass sets OBJECT_NAME and OBJECT (ELF bytes)
    or OBJECT_PATH, and builds its views in ``__init__`` with ``_section``."""

    OBJECT_NAME: ClassVar[str] = ""
    OBJECT: ClassVar[bytes | None] = None
    OBJECT_PATH: ClassVar[str | None] = None

    load: ClassVar[_AsyncLoad] = _AsyncLoad()
    load_sync: ClassVar[_SyncLoad] = _SyncLoad()

    def __init__(self) -> None:
        self._image = self._object_bytes()
        # The object as bpfbind.open_object gives it: views write its data sections,
        # and `spec.maps` / `spec.programs` take the other changes before load.
        self.spec = ObjectSpec(self._image, self.OBJECT_NAME)
        self._sections: dict[str, _Section] = {}
        self.obj: BpfObject | None = None

    @classmethod
    def _object_bytes(cls) -> bytes:
        if cls.OBJECT is not None:
            return cls.OBJECT
        if cls.OBJECT_PATH is None:
            raise TypeError(f"{cls.__name__} names no object")
        return Path(cls.OBJECT_PATH).read_bytes()

    def _section(self, name: str) -> _Section:
        if name == ".metadata":
            m = next(m for m in self.spec._layout["maps"] if m["section"] == name)
            initial = bytearray(m["initial"] or bytes(m["value_size"]))
            sec = _Section(name, initial, False)
        else:
            sec = _Section(
                name,
                self.spec.section_bytes(name),
                True,
                lambda: self.spec.mark_dirty(name),
            )
        self._sections[name] = sec
        return sec

    def _load_blocking(self: _S) -> _S:
        if self.obj is not None:
            raise RuntimeError("this skeleton is already loaded")
        obj = _load_object(self.spec)
        try:
            by_section = {m.section: m for m in obj.maps.values() if m.section}
            for name, sec in self._sections.items():
                m = by_section[name]
                sec.attach(m, m.frozen)
            self.programs = Namespace({_ident(p): v for p, v in obj.programs.items()})
            self.maps = Namespace({_ident(n): v for n, v in obj.maps.items()})
        except BaseException:
            for sec in self._sections.values():
                sec.close()
            obj.close()
            raise
        self.obj = obj
        return self

    async def _load_async(self: _S) -> _S:
        from ._run import run_owned

        return await run_owned(self._load_blocking, Skeleton.close)

    @property
    def metadata_dict(self) -> dict[str, Any]:
        """The object's metadata as `BpfObject.metadata` gives it (after load)."""
        if self.obj is None:
            raise RuntimeError("not loaded")
        return self.obj.metadata

    def close(self) -> None:
        """Unmaps the views and closes every fd; views read the initial values again."""
        for sec in self._sections.values():
            sec.close()
        if self.obj is not None:
            self.obj.close()
            self.obj = None


# ---------------------------------------------------------------- the generator


def _ident(name: str, taken: set[str] | None = None) -> str:
    """A Python identifier for a C or section name: invalid characters become `_`,
    keywords get a trailing `_`, clashes a numeric suffix."""
    out = "".join(c if c.isalnum() or c == "_" else "_" for c in name.lstrip("."))
    if not out or out[0].isdigit():
        out = "_" + out
    if keyword.iskeyword(out) or keyword.issoftkeyword(out) or out in _RESERVED:
        out += "_"
    if taken is not None:
        base, n = out, 2
        while out in taken:
            out = f"{base}_{n}"
            n += 1
        taken.add(out)
    return out


# Attributes of the runtime classes a field must not shadow.
_RESERVED = {
    "load",
    "load_sync",
    "close",
    "obj",
    "programs",
    "maps",
    "metadata_dict",
    "spec",
}


def _q(s: str) -> str:
    """A double-quoted Python string literal (what ruff's formatter would write)."""
    return json.dumps(s)


class _Gen:
    def __init__(self, cls_prefix: str) -> None:
        self.prefix = cls_prefix
        self.readonly = False
        self.uses: set[str] = set()
        self.consts: dict[str, str] = {}
        self.classes: list[str] = []
        self.enums: dict[str, str] = {}
        self.structs: dict[str, str] = {}
        self.class_names: set[str] = set()

    def const(self, desc: dict[str, Any]) -> str:
        """A module-level name for a type descriptor the runtime walks (arrays)."""
        text = _compact(desc)
        if text not in self.consts:
            self.consts[text] = f"_T{len(self.consts)}"
        return self.consts[text]

    def class_name(self, base: str) -> str:
        return _ident(base, self.class_names)

    def enum_class(self, desc: dict[str, Any]) -> str:
        self.uses.add("enum")
        key = repr(desc)
        if key in self.enums:
            return self.enums[key]
        name = self.class_name(self.prefix + "_" + (desc["name"] or "enum"))
        taken: set[str] = set()
        lines = [f"class {name}(enum.IntEnum):"]
        for vname, value in desc["values"]:
            lines.append(f"    {_ident(vname, taken)} = {value}")
        if not desc["values"]:
            lines.append("    pass")
        self.classes.append("\n".join(lines))
        self.enums[key] = name
        return name

    def py_type(self, desc: dict[str, Any]) -> str:
        kind = desc["kind"]
        if kind in ("int", "char"):
            return "int"
        if kind == "bool":
            return "bool"
        if kind == "float":
            return "float"
        if kind == "enum":
            self.uses.add("enum")
            return f"{self.enum_class(desc)} | int"
        if kind == "chars":
            return "str"
        if kind == "array":
            elem = desc["elem"]
            if elem["kind"] in ("struct", "union"):
                self.uses.add("Any")
                return "list[Any]"
            return f"list[{self.py_type(elem)}]"
        if kind in ("struct", "union"):
            return self.struct_class(desc)
        return "bytes"

    def struct_class(self, desc: dict[str, Any]) -> str:
        key = repr(desc)
        if key in self.structs:
            return self.structs[key]
        name = self.class_name(self.prefix + "_" + (desc["name"] or desc["kind"]))
        self.structs[key] = name
        body = self.fields(
            [
                (f, bit_off // 8, bit_off % 8, bits, d)
                for f, bit_off, bits, d in desc["fields"]
            ]
        )
        doc = f'    """{desc["kind"]} {desc["name"] or "(anonymous)"}"""'
        self.classes.append(
            f"class {name}(_skel.StructView):\n{doc}\n\n    __slots__ = ()\n" + body
        )
        return name

    def fields(self, fields: list[tuple[str, int, int, int, dict[str, Any]]]) -> str:
        taken: set[str] = set()
        out: list[str] = []
        for fname, off, bit_off, bits, desc in fields:
            if not fname:
                continue
            attr = _ident(fname, taken)
            out.append(self.accessor(attr, fname, off, bit_off, bits, desc))
        return "".join(out)

    def accessor(
        self,
        attr: str,
        cname: str,
        off: int,
        bit_off: int,
        bits: int,
        d: dict[str, Any],
    ) -> str:
        kind = d["kind"]
        ty = self.py_type(d)
        setter: str | None
        if bits:
            size = d.get("size", 4)
            signed = bool(d.get("signed", False))
            ty = "int"
            get = f"self._bits({off}, {bit_off}, {bits}, {size}, {signed})"
            setter = (
                f"self._set_bits({off}, {bit_off}, {bits}, {size}, {signed}, value)"
            )
        elif kind in ("int", "char"):
            signed = bool(d.get("signed", True))
            get = f"self._int({off}, {d['size']}, {signed})"
            setter = f"self._set_int({off}, {d['size']}, {signed}, value)"
        elif kind == "enum":
            cls = self.enum_class(d)
            raw = f"self._int({off}, {d['size']}, {d['signed']})"
            get = f"_skel_enum({cls}, {raw})"
            setter = f"self._set_int({off}, {d['size']}, {d['signed']}, int(value))"
        elif kind == "bool":
            get = f"self._bool({off}, {d['size']})"
            setter = f"self._set_bool({off}, {d['size']}, value)"
        elif kind == "float":
            get = f"self._float({off}, {d['size']})"
            setter = f"self._set_float({off}, {d['size']}, value)"
        elif kind == "chars":
            get = f"self._chars({off}, {d['len']})"
            setter = f"self._set_chars({off}, {d['len']}, value)"
        elif kind == "array":
            self.uses.add("cast")
            get = f"cast({_q(ty)}, self._array({off}, {self.const(d)}))"
            setter = f"self._set_array({off}, {self.const(d)}, value)"
        elif kind in ("struct", "union"):
            get = f"self._struct({off}, {ty})"
            setter = None
        else:
            get = f"self._bytes({off}, {d['size']})"
            setter = f"self._set_bytes({off}, {d['size']}, value)"
        text = (
            f"\n    @property\n    def {attr}(self) -> {ty}:\n"
            f'        """`{cname}` at offset {off}."""\n'
            f"        return {get}\n"
        )
        if setter is not None and not self.readonly:
            text += (
                f"\n    @{attr}.setter\n    def {attr}(self, value: {ty}) -> None:\n"
                f"        {setter}\n"
            )
        return text


def _compact(desc: dict[str, Any]) -> str:
    """A descriptor as a Python literal (sorted keys: the output is reproducible)."""
    if isinstance(desc, dict):
        inner = ", ".join(f"{k!r}: {_compact(desc[k])}" for k in sorted(desc))
        return "{" + inner + "}"
    if isinstance(desc, list | tuple):
        items = [_compact(x) for x in desc]
        if isinstance(desc, tuple):
            return "(" + ", ".join(items) + ("," if len(items) == 1 else "") + ")"
        return "[" + ", ".join(items) + "]"
    if isinstance(desc, str):
        return _q(desc)
    return repr(desc)


def generate(
    data: bytes, name: str, *, object_path: str | None = None, source: str = ""
) -> str:
    """The skeleton module for an object's bytes. With ``object_path`` the module reads
    the object from there (relative to the module) instead of embedding it."""
    layout = _native.object_layout(data, name)
    base = _ident(name)
    cls_name = "".join(p[:1].upper() + p[1:] for p in base.split("_") if p) or "Object"
    gen = _Gen(cls_name)
    views: list[tuple[str, str, str]] = []
    view_attrs: set[str] = set(_RESERVED)
    for section, variables in layout["sections"].items():
        vcls = gen.class_name(f"{cls_name}_{_ident(section)}")
        fields = [(v, off, 0, 0, d) for v, off, _size, d in variables]
        # Metadata is a build-time fact: its view takes no writes, before or after load.
        gen.readonly = section == ".metadata"
        body = gen.fields(fields)
        gen.readonly = False
        gen.classes.append(
            f"class {vcls}(_skel.SectionView):\n"
            f'    """The variables of `{section}`."""\n\n'
            f"    __slots__ = ()\n    SECTION: ClassVar[str] = {_q(section)}\n" + body
        )
        views.append((_ident(section, view_attrs), vcls, section))
    prog_attrs: set[str] = set()
    progs = [(_ident(p["name"], prog_attrs), p) for p in layout["programs"]]
    map_attrs: set[str] = set()
    maps = [(_ident(m["name"], map_attrs), m) for m in layout["maps"]]

    out = [
        f'"""Skeleton of {source or name}, generated by `bpfbind gen skeleton`. '
        'Do not edit."""',
        "",
        "from __future__ import annotations",
        "",
    ]
    typing_names = sorted({"ClassVar"} | (gen.uses & {"Any", "cast"}))
    if "enum" in gen.uses:
        out += ["import enum"]
        typing_names = sorted({*typing_names, "TypeVar"})
    out += [f"from typing import {', '.join(typing_names)}", ""]
    if object_path is not None:
        out[out.index("from __future__ import annotations") + 2 : 0] = [
            "from pathlib import Path"
        ]
    handles = [n for n, used in (("Map", maps), ("Program", progs)) if used]
    if handles:
        out += [f"from bpfbind import {', '.join(handles)}"]
    out += ["from bpfbind import skel as _skel", ""]
    if "enum" in gen.uses:
        out += [
            '_E = TypeVar("_E", bound=enum.IntEnum)',
            "",
            "",
            "def _skel_enum(cls: type[_E], value: int) -> _E | int:",
            "    try:",
            "        return cls(value)",
            "    except ValueError:",
            "        return value",
            "",
        ]
    if gen.consts:
        out += ["# Type descriptors of arrays, walked by the runtime."]
        out += [f"{n}: Any = {text}" for text, n in gen.consts.items()]
        out += [""]
        if "Any" not in typing_names:
            i = next(i for i, line in enumerate(out) if line.startswith("from typing"))
            out[i] = f"from typing import {', '.join(sorted({*typing_names, 'Any'}))}"
    for c in gen.classes:
        out += ["", c.rstrip(), ""]
    out += ["", f"class {cls_name}Programs(_skel.Namespace):"]
    out += [f"    {a}: Program  # {p['section']}" for a, p in progs] or ["    pass"]
    out += ["", "", f"class {cls_name}Maps(_skel.Namespace):"]
    out += [f"    {a}: Map  # {m['kernel_name']}" for a, m in maps] or ["    pass"]
    out += ["", "", f"class {cls_name}Skel(_skel.Skeleton):"]
    out += [f'    """Programs, maps and data sections of {name}."""', ""]
    out += [f"    OBJECT_NAME: ClassVar[str] = {_q(name)}"]
    if object_path is not None:
        out += [
            "    OBJECT_PATH: ClassVar[str | None] = str(",
            f"        Path(__file__).parent / {_q(object_path)}",
            "    )",
        ]
    else:
        b64 = base64.b64encode(data).decode()
        chunks = textwrap.wrap(b64, 76)
        out += [
            "    OBJECT: ClassVar[bytes | None] = _skel.b64(",
            *[f'        "{c}"' for c in chunks],
            "    )",
        ]
    out += ["", f"    programs: {cls_name}Programs", f"    maps: {cls_name}Maps"]
    out += [f"    {attr}: {vcls}" for attr, vcls, _ in views]
    out += ["", "    def __init__(self) -> None:", "        super().__init__()"]
    out += [
        f"        self.{attr} = {vcls}(self._section({sec!r}))"
        for attr, vcls, sec in views
    ]
    return "\n".join(out) + "\n"


def b64(*chunks: str) -> bytes:
    """The embedded object of a generated module."""
    return base64.b64decode("".join(chunks))


def main(argv: Sequence[str]) -> int:
    """`bpfbind gen skeleton OBJ [-o FILE] [--name NAME] [--reference]`."""
    ap = argparse.ArgumentParser(prog="bpfbind gen skeleton")
    ap.add_argument("object")
    ap.add_argument("-o", "--output", help="file to write (default: NAME_skel.py)")
    ap.add_argument(
        "--name", help="object name (default: the file name up to its first dot)"
    )
    ap.add_argument(
        "--reference",
        action="store_true",
        help="read the object from its path at run time instead of embedding it",
    )
    args = ap.parse_args(list(argv))
    write_skeleton(args.object, args.output, args.name, args.reference)
    return 0


def write_skeleton(
    obj: str | os.PathLike[str],
    output: str | os.PathLike[str] | None = None,
    name: str | None = None,
    reference: bool = False,
) -> Path:
    """Writes the skeleton of the object file ``obj`` (to ``NAME_skel.py`` unless
    ``output`` says where) and returns the path written."""
    path = Path(obj)
    data = path.read_bytes()
    name = name or object_name(path)
    out = Path(output or f"{_ident(name)}_skel.py")
    ref = None
    if reference:
        ref = os.path.relpath(path.resolve(), out.resolve().parent)
    text = generate(data, name, object_path=ref, source=path.name)
    out.write_text(text)
    return out
