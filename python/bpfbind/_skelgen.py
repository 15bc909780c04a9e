"""The skeleton generator behind `bpfbind gen skeleton`: an object's layout as a Python
module of typed views over `bpfbind.skel`'s runtime. Imported only to generate."""

from __future__ import annotations

import argparse
import base64
import json
import os
import textwrap
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from . import _native
from ._core import object_name
from .skel import _RESERVED, _ident, _named_fields

if TYPE_CHECKING:
    from ._native import TypeDesc

__all__ = ["generate", "main", "write_skeleton"]


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

    def const(self, desc: TypeDesc) -> str:
        """A module-level name for a type descriptor the runtime walks (arrays)."""
        text = _compact(desc)
        if text not in self.consts:
            self.consts[text] = f"_T{len(self.consts)}"
        return self.consts[text]

    def class_name(self, base: str) -> str:
        return _ident(base, self.class_names)

    def enum_class(self, desc: TypeDesc) -> str:
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

    def py_type(self, desc: TypeDesc) -> str:
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

    def struct_class(self, desc: TypeDesc) -> str:
        key = repr(desc)
        if key in self.structs:
            return self.structs[key]
        name = self.class_name(self.prefix + "_" + (desc["name"] or desc["kind"]))
        self.structs[key] = name
        body = self.fields(
            [
                (f, bit_off // 8, bit_off % 8, bits, d)
                for f, bit_off, bits, d in _named_fields(desc)
            ]
        )
        doc = f'    """{desc["kind"]} {desc["name"] or "(anonymous)"}"""'
        self.classes.append(
            f"class {name}(_skel.StructView):\n{doc}\n\n    __slots__ = ()\n" + body
        )
        return name

    def fields(self, fields: list[tuple[str, int, int, int, TypeDesc]]) -> str:
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
        d: TypeDesc,
    ) -> str:
        kind = d["kind"]
        ty = self.py_type(d)
        setter: str | None = None
        # Most kinds read with `self._<name>(off, args)` and write with
        # `self._set_<name>(off, args, value)`.
        call: tuple[str, str] | None = None
        if bits:
            size = d.get("size", 4)
            signed = bool(d.get("signed", False))
            ty = "int"
            call = ("bits", f"{bit_off}, {bits}, {size}, {signed}")
        elif kind in ("int", "char"):
            call = ("int", f"{d['size']}, {bool(d.get('signed', True))}")
        elif kind == "enum":
            cls = self.enum_class(d)
            raw = f"self._int({off}, {d['size']}, {d['signed']})"
            get = f"_skel_enum({cls}, {raw})"
            setter = f"self._set_int({off}, {d['size']}, {d['signed']}, int(value))"
        elif kind in ("bool", "float"):
            call = (kind, f"{d['size']}")
        elif kind == "chars":
            call = ("chars", f"{d['len']}")
        elif kind == "array":
            self.uses.add("cast")
            call = ("array", self.const(d))
        elif kind in ("struct", "union"):
            get = f"self._struct({off}, {ty})"
        else:
            call = ("bytes", f"{d['size']}")
        if call is not None:
            name, args = call
            get = f"self._{name}({off}, {args})"
            setter = f"self._set_{name}({off}, {args}, value)"
            if kind == "array" and not bits:
                get = f"cast({_q(ty)}, {get})"
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


def _compact(desc: object) -> str:
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
        # Metadata is a build-time fact, .kconfig what the loader found: their views
        # take no writes, before or after load.
        gen.readonly = section in (".metadata", ".kconfig")
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
    out += [f'    """The programs of {name}, loaded."""', ""]
    out += [f"    {a}: Program  # {p['section']}" for a, p in progs]
    out += ["", "", f"class {cls_name}Maps(_skel.Namespace):"]
    out += [f'    """The maps of {name}, created."""', ""]
    out += [f"    {a}: Map  # {m['kernel_name']}" for a, m in maps]
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
