"""Python skeletons: `bpfbind gen skeleton OBJ` writes a module with a class per object,
typed attributes for its programs and maps, and typed views of its data sections.

Before load, `rodata`, `data` and `bss` fields can be set and are written into the maps;
after load the views are mmaps of the maps themselves: `rodata` and `metadata` read-only
(frozen maps), `data` and `bss` shared with the programs. This module is the runtime the
generated modules import, kept small; the generator is `bpfbind._skelgen`, imported only
to generate."""

from __future__ import annotations

import base64
import keyword
import mmap
import struct
from collections.abc import Callable, Coroutine, Iterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar, TypeVar, overload

from ._core import BpfObject, Closing
from ._core import load_object as _load_object
from ._native import Map
from ._spec import ObjectSpec
from .errors import ReadOnlyError

if TYPE_CHECKING:
    from ._native import TypeDesc
    from ._skelgen import generate, main, write_skeleton

__all__ = [
    "Namespace",
    "ReadOnlyError",
    "SectionView",
    "Skeleton",
    "StructView",
    "generate",
    "main",
    "write_skeleton",
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

    def _array(self, off: int, desc: TypeDesc) -> list[Any]:
        elem, n = desc["elem"], desc["len"]
        size = _size_of(elem)
        return [self._value(off + i * size, elem) for i in range(n)]

    def _set_array(self, off: int, desc: TypeDesc, values: Sequence[Any]) -> None:
        elem, n = desc["elem"], desc["len"]
        if len(values) != n:
            raise ValueError(f"expected {n} elements, got {len(values)}")
        size = _size_of(elem)
        for i, v in enumerate(values):
            self._set_value(off + i * size, elem, v)

    def _value(self, off: int, desc: TypeDesc) -> Any:
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

    def _set_value(self, off: int, desc: TypeDesc, value: Any) -> None:
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

    def __init__(self, sec: _Section, base: int, desc: TypeDesc) -> None:
        super().__init__(sec, base)
        self._desc = desc

    def __getitem__(self, name: str) -> Any:
        for fname, bit_off, bits, fdesc in _named_fields(self._desc):
            if fname == name and not bits:
                return self._value(bit_off // 8, fdesc)
        raise KeyError(name)


def _named_fields(
    desc: TypeDesc, bit_base: int = 0
) -> Iterator[tuple[str, int, int, TypeDesc]]:
    """A struct's or union's fields by the names C reaches them with: the fields of an
    anonymous struct or union member stand among their parent's, at their offsets in
    the parent (an unnamed bitfield, padding, has no name to reach)."""
    for fname, bit_off, bits, fdesc in desc["fields"]:
        if fname:
            yield fname, bit_base + bit_off, bits, fdesc
        elif fdesc["kind"] in ("struct", "union"):
            yield from _named_fields(fdesc, bit_base + bit_off)


def _size_of(desc: TypeDesc) -> int:
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

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {' '.join(sorted(self.__dict__))}>"


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
        self._closed = False

    @classmethod
    def _object_bytes(cls) -> bytes:
        if cls.OBJECT is not None:
            return cls.OBJECT
        if cls.OBJECT_PATH is None:
            raise TypeError(f"{cls.__name__} names no object")
        return Path(cls.OBJECT_PATH).read_bytes()

    def _section(self, name: str) -> _Section:
        # Build facts and the externs the loader fills take no writes; neither is
        # among the spec's editable sections.
        if name in (".metadata", ".kconfig"):
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
        self._closed = False
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
            self._closed = True

    def __repr__(self) -> str:
        if self.obj is not None:
            state = "loaded"
        else:
            state = "closed" if self._closed else "not loaded"
        return (
            f"<{type(self).__name__} {self.OBJECT_NAME} "
            f"programs={list(self.spec.programs)} maps={list(self.spec.maps)} {state}>"
        )


def _ident(name: str, taken: set[str] | None = None) -> str:
    """A Python identifier for a C or section name: invalid characters become `_`,
    leading underscores that would be mangled one `_`, keywords and the runtime's own
    attributes get a trailing `_`, clashes a numeric suffix."""
    out = "".join(c if c.isalnum() or c == "_" else "_" for c in name.lstrip("."))
    if not out or out[0].isdigit():
        out = "_" + out
    if out.startswith("__") and not out.endswith("__"):
        # A class body mangles such a name (`_Cls__name`): users could not reach it.
        out = "_" + out.lstrip("_")
    if (
        keyword.iskeyword(out)
        or keyword.issoftkeyword(out)
        or out in _RESERVED
        or hasattr(StructView, out)  # `_int` would replace the view's own reader
    ):
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


def b64(*chunks: str) -> bytes:
    """The embedded object of a generated module."""
    return base64.b64decode("".join(chunks))


def __getattr__(name: str) -> Any:
    # The generator's names, for callers of `bpfbind.skel.generate`: loaded on first
    # use, so that a generated module importing this runtime never loads the generator.
    if name in ("generate", "main", "write_skeleton"):
        from . import _skelgen

        return getattr(_skelgen, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
