"""Every consumer of an object's BTF sees the same shape in every variable of every test
object: the skeleton layout (`object_layout`), the value decoder (`object_metadata`,
`obj.metadata`, `Map.lookup`), bpftool's text of both (`-j` and plain), the typed views
(`spec.variables`, generated skeletons) and, for map keys and values, decoder and text.

Where the layout says `chars` the decoder gives a str and the text a quoted string,
unless the bytes fail bpftool's test (printable ASCII up to a NUL that is present): then
both give the numbers, while the typed views still read a str. Where the layout says
`array` every consumer gives a list, typedef'd chars included (bpftool does not look
through a typedef of the element). tests/bpf/char_types.bpf.c holds the disguises."""

from __future__ import annotations

import json
import re
import types
from collections import Counter
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

import bpfbind
from bpfbind import _native, show
from bpfbind.errors import InvalidArgumentError, UnsupportedFeatureError
from bpfbind.skel import _RESERVED, StructView, _GenericStruct, _ident
from bpfbind.skel import generate as generate_skeleton

if TYPE_CHECKING:
    from bpfbind._native import ObjectLayout, TypeDesc

# Sections whose variables the loader fills (externs) rather than the object.
_FILLED = (".kconfig",)
# Map types whose entries are read by key, and of those the ones holding every key.
_KEYED = {1, 2, 5, 6, 9, 10}
_ARRAYS = {2, 6}
_PER_CPU = {5, 6, 10}


def _layouts(bpf_objs: Mapping[str, Path]) -> Iterator[tuple[str, bytes, ObjectLayout]]:
    """(name, bytes, layout) of every test object bpfbind can open."""
    for name, path in sorted(bpf_objs.items()):
        data = path.read_bytes()
        try:
            layout = _native.object_layout(data, name)
        except UnsupportedFeatureError:
            continue  # refused_link: calls into another object, never opened alone
        yield name, data, layout


def _initial(layout: ObjectLayout, section: str) -> bytes:
    m = next(m for m in layout["maps"] if m["section"] == section)
    return m["initial"] or bytes(m["value_size"])


def _size(desc: TypeDesc) -> int:
    if desc["kind"] in ("chars", "array"):
        return int(desc["len"]) * _size(desc["elem"])
    return int(desc["size"])


def _bpftool_str(raw: bytes) -> bool:
    """bpftool's test for showing a char array as a string."""
    for b in raw:
        if b == 0:
            return True
        if not 0x20 <= b <= 0x7E:
            return False
    return False


def _c_str(raw: bytes) -> str:
    return raw.split(b"\0", 1)[0].decode("utf-8", "replace")


def _scalar(desc: TypeDesc, value: Any, where: str, text: bool) -> None:
    kind = desc["kind"]
    if kind == "enum":
        names = [n for n, _ in desc["values"]]
        # A name or a number; a skeleton's IntEnum is both.
        number = isinstance(value, int) and type(value) is not bool
        assert value in names or number, f"{where}: enum gave {value!r}"
    elif kind == "bool":
        assert type(value) is bool, f"{where}: bool gave {value!r}"
    elif kind == "float":
        assert isinstance(value, float | int) and type(value) is not bool, where
    elif kind in ("int", "char"):
        assert type(value) is int, f"{where}: {kind} gave {value!r}"
    else:
        # Types the layout keeps as bytes (what no consumer types): numbers in the text.
        assert isinstance(value, bytes | list | int) or text, f"{where}: {value!r}"


def check_decoded(
    desc: TypeDesc, value: Any, raw: bytes, where: str, tally: Counter[str], text: bool
) -> None:
    """`value`, as the decoder (or, with `text`, bpftool's text) gives the bytes `raw`,
    has the shape the layout's `desc` says."""
    kind = desc["kind"]
    if kind == "chars":
        if _bpftool_str(raw):
            assert value == _c_str(raw), f"{where}: chars gave {value!r}"
            tally["str"] += 1
        else:
            assert isinstance(value, list), f"{where}: unprintable chars gave {value!r}"
            assert len(value) == desc["len"], where
            tally["unprintable"] += 1
    elif kind == "array":
        assert isinstance(value, list), f"{where}: the layout's array gave {value!r}"
        assert len(value) == desc["len"], where
        step = _size(desc["elem"])
        for i, v in enumerate(value):
            part = raw[i * step : (i + 1) * step]
            check_decoded(desc["elem"], v, part, f"{where}[{i}]", tally, text)
        tally["array"] += 1
    elif kind in ("struct", "union"):
        assert isinstance(value, dict), f"{where}: the layout's {kind} gave {value!r}"
        assert list(value) == list(dict.fromkeys(f[0] for f in desc["fields"])), where
        for fname, bit_off, bits, fdesc in desc["fields"]:
            field = value[fname]
            if bits:
                # bpftool shows a bitfield in hex: a JSON string with -j, bare in plain.
                assert type(field) is int or (text and field.startswith("0x")), where
                continue
            off = bit_off // 8
            part = raw[off : off + _size(fdesc)]
            check_decoded(fdesc, field, part, f"{where}.{fname}", tally, text)
        tally[kind] += 1
    else:
        _scalar(desc, value, where, text)
    tally["checked"] += 1


# bpftool's plain text is JSON but for bitfields, bare hex numbers.
_BARE_HEX = re.compile(r"(?<=[:,\[])(\s*)(0x[0-9a-f]+)(?=\s*[,\]}])")


def parse_plain(text: str) -> Any:
    return json.loads(_BARE_HEX.sub(r'\1"\2"', text))


def check_view(desc: TypeDesc, value: Any, raw: bytes, where: str) -> None:
    """A typed view's `value` (spec.variables, a skeleton) has the layout's shape: a
    layout's chars always read as a str, its arrays as lists."""
    kind = desc["kind"]
    if kind == "chars":
        assert isinstance(value, str), f"{where}: chars read as {value!r}"
        assert value == _c_str(raw) or not _bpftool_str(raw), where
    elif kind == "array":
        assert isinstance(value, list), f"{where}: the layout's array read {value!r}"
        assert len(value) == desc["len"], where
        step = _size(desc["elem"])
        for i, v in enumerate(value):
            check_view(desc["elem"], v, raw[i * step : (i + 1) * step], f"{where}[{i}]")
    elif kind in ("struct", "union"):
        if isinstance(value, bytes):  # spec.variables leaves them to skeletons
            assert value == raw, where
            return
        _check_struct_view(desc, value, raw, where)
    else:
        _scalar(desc, value, where, text=False)


def _c_fields(
    desc: TypeDesc, base: int = 0
) -> Iterator[tuple[str, int, int, TypeDesc]]:
    """The fields C code reaches by name: an anonymous struct or union member's fields
    as the parent's (the decoder and the text show them under "")."""
    for fname, bit_off, bits, fdesc in desc["fields"]:
        if fname:
            yield fname, base + bit_off, bits, fdesc
        elif fdesc["kind"] in ("struct", "union"):
            yield from _c_fields(fdesc, base + bit_off)


def _check_struct_view(desc: TypeDesc, value: Any, raw: bytes, where: str) -> None:
    assert isinstance(value, StructView), f"{where}: {desc['kind']} read {value!r}"
    taken: set[str] = set()
    for fname, bit_off, bits, fdesc in _c_fields(desc):
        attr = _ident(fname, taken)
        # A struct inside an array is generic: its fields by item access, no bitfields.
        if isinstance(value, _GenericStruct):
            if bits:
                continue
            field = value[fname]
        else:
            field = getattr(value, attr)
        if bits:
            assert type(field) is int, f"{where}.{fname}"
            continue
        off = bit_off // 8
        check_view(fdesc, field, raw[off : off + _size(fdesc)], f"{where}.{fname}")


def _skeleton(data: bytes, name: str) -> Any:
    module = types.ModuleType(f"{name}_skel")
    exec(compile(generate_skeleton(data, name), module.__name__, "exec"), vars(module))
    cls = next(v for k, v in vars(module).items() if k.endswith("Skel"))
    return cls()


def _view_attrs(layout: ObjectLayout) -> dict[str, str]:
    """Section -> the skeleton's attribute for its view, as the generator names them."""
    taken = set(_RESERVED)
    return {section: _ident(section, taken) for section in layout["sections"]}


def _metadata_var(layout: ObjectLayout, name: str, convention: str) -> tuple[str, Any]:
    """(section, (variable, offset, size, type)) of a metadata item."""
    if convention == "section":
        section, var = ".metadata", name
    else:
        section, var = ".rodata", "bpf_metadata_" + name
    found = [v for v in layout["sections"][section] if v[0] == var]
    assert len(found) == 1, (section, var)
    return section, found[0]


def test_layout_decoder_text_and_views_agree_without_a_kernel(
    bpf_objs: Mapping[str, Path],
) -> None:
    """Every variable of every object: the metadata through the decoder and both texts
    of `object_metadata`, the others through spec.variables, all through the skeleton's
    views; each against the layout."""
    tally: Counter[str] = Counter()
    views: Counter[str] = Counter()
    objects = 0
    for name, data, layout in _layouts(bpf_objs):
        objects += 1
        items, _warning = _native.object_metadata(data, name)
        for key, value, as_json, plain, convention in items:
            section, (var, off, size, desc) = _metadata_var(layout, key, convention)
            raw = _initial(layout, section)[off : off + size]
            where = f"{name} {section} {var}"
            check_decoded(desc, value, raw, where, tally, text=False)
            check_decoded(desc, json.loads(as_json), raw, f"{where} -j", tally, True)
            check_decoded(desc, parse_plain(plain), raw, f"{where} plain", tally, True)
            tally["metadata"] += 1
        spec = bpfbind.open_object(data, name=name)
        for var in spec.variables:
            section = spec.variables.section_of(var)
            _v, off, size, desc = next(
                v for v in layout["sections"][section] if v[0] == var
            )
            raw = bytes(spec.section_bytes(section)[off : off + size])
            check_view(desc, spec.variables[var], raw, f"{name} spec {var}")
            views["spec"] += 1
        skel = _skeleton(data, name)
        for section, attr in _view_attrs(layout).items():
            if section in _FILLED:
                continue  # filled at load: the view reads zeros before
            view = getattr(skel, attr)
            taken: set[str] = set()
            for var, off, size, desc in layout["sections"][section]:
                raw = _initial(layout, section)[off : off + size]
                value = getattr(view, _ident(var, taken))
                check_view(desc, value, raw, f"{name} skeleton {section} {var}")
                views["skeleton"] += 1
    assert objects >= 45, objects
    # hostile_meta alone has a thousand; kinds and char_types every shape.
    assert tally["metadata"] >= 1050, tally
    assert tally["str"] >= 3000 and tally["unprintable"] >= 15, tally
    assert tally["array"] >= 24 and tally["struct"] >= 9 and tally["union"] >= 3, tally
    assert views["spec"] >= 90 and views["skeleton"] >= 1100, views


def _mark_chars(desc: TypeDesc, buf: bytearray, off: int) -> int:
    """Writes "a" at the start of every chars region of a variable (so that each
    decodes as a string), leaving the rest; how many it wrote."""
    kind = desc["kind"]
    if kind == "chars":
        buf[off : off + _size(desc)] = b"a".ljust(_size(desc), b"\0")
        return 1
    if kind == "array":
        step = _size(desc["elem"])
        return sum(
            _mark_chars(desc["elem"], buf, off + i * step) for i in range(desc["len"])
        )
    if kind in ("struct", "union"):
        marked = 0
        for _f, bit_off, bits, fdesc in desc["fields"]:
            if not bits:
                marked += _mark_chars(fdesc, buf, off + bit_off // 8)
                if kind == "union" and marked:
                    break  # members overlap: one string per union
        return marked
    return 0


def _open_marked(data: bytes, name: str, layout: ObjectLayout) -> tuple[Any, int]:
    """The object opened with "a" in every chars region of its writable sections."""
    spec = bpfbind.open_object(data, name=name)
    marked = 0
    for section, variables in layout["sections"].items():
        if section in (".metadata", *_FILLED):
            continue
        buf = spec.section_bytes(section)
        for _v, off, _n, desc in variables:
            marked += _mark_chars(desc, buf, off)
        spec.mark_dirty(section)
    return spec, marked


def _load(spec: Any, pin_dir: Path) -> Any:
    """Only the maps, where the object allows it (a prog array initialised with its
    programs, struct_ops, does not); else as the object says; None if neither loads."""
    autoload = {n: p.autoload for n, p in spec.programs.items()}
    for p in spec.programs.values():
        p.autoload = False
    for attempt in range(2):
        try:
            return bpfbind.sync.load_object(spec, pin_maps=pin_dir / str(attempt))
        except (OSError, ValueError):
            for n, p in spec.programs.items():
                p.autoload = autoload[n]
    return None


def same_shape(decoded: Any, text: Any, where: str) -> int:
    """The decoder's value and bpftool's text of it agree: str for str, list for list,
    the same keys; a number in the decoder may be a hex string (bitfield) in the text.
    How many strings they agreed on."""
    if isinstance(decoded, str):
        assert text == decoded, f"{where}: decoder {decoded!r}, text {text!r}"
        return 1
    if isinstance(decoded, list):
        assert isinstance(text, list) and len(text) == len(decoded), where
        return sum(
            same_shape(d, t, f"{where}[{i}]")
            for i, (d, t) in enumerate(zip(decoded, text, strict=True))
        )
    if isinstance(decoded, dict):
        assert isinstance(text, dict) and list(text) == list(decoded), where
        return sum(same_shape(decoded[k], text[k], f"{where}.{k}") for k in decoded)
    if type(decoded) is int and isinstance(text, str):
        assert text.startswith("0x") and int(text, 16) >= 0, where
        return 0
    assert type(text) is type(decoded), f"{where}: decoder {decoded!r}, text {text!r}"
    return 0


def _dumps(m: Any) -> tuple[list[Any], list[Any]]:
    """A map's `map dump` entries: (-j's formatted ones, plain ones)."""
    as_json, _status = show.format_map_dump([m], json=True)
    plain, _status = show.format_map_dump([m])
    return [e["formatted"] for e in json.loads(as_json)], parse_plain(plain)


def _holds_float(desc: TypeDesc) -> bool:
    if desc["kind"] == "float":
        return True
    if "elem" in desc:
        return _holds_float(desc["elem"])
    return any(_holds_float(f[3]) for f in desc.get("fields", []))


def _check_data_map(
    name: str, m: Any, layout: ObjectLayout, tally: Counter[str]
) -> bytes:
    """Each variable of a data section's map against the layout; the map's bytes."""
    section = m.section
    raw = m.lookup(0, raw=True)
    decoded = m.lookup(0)
    variables = layout["sections"][section]
    try:
        (formatted,), (plain,) = _dumps(m)
    except InvalidArgumentError as e:
        # bpftool has no text for a FLOAT: its dump of such a section stops there.
        assert "(FLOAT)" in str(e) and any(_holds_float(v[3]) for v in variables)
        texts = {}
    else:
        texts = {
            "-j": {k: v for d in formatted["value"][section] for k, v in d.items()},
            "plain": {k: v for d in plain["value"][section] for k, v in d.items()},
        }
    assert list(decoded) == [v[0] for v in variables], (name, section)
    for var, off, size, desc in variables:
        where = f"{name} {section} {var}"
        part = raw[off : off + size]
        check_decoded(desc, decoded[var], part, where, tally, text=False)
        for how, text in texts.items():
            check_decoded(desc, text[var], part, f"{where} {how}", tally, text=True)
        tally["variables"] += 1
    return bytes(raw)


def _check_typed_map(name: str, m: Any, tally: Counter[str]) -> None:
    """Key and value types of a map: the decoder's entries and both dumps agree."""
    per_cpu = m.map_type in _PER_CPU
    if m.map_type not in _ARRAYS:
        zeros = bytes(m.value_size)
        m.update(bytes(m.key_size), [zeros] * m.ncpus if per_cpu else zeros)
    entries = m.items()
    formatted, plain = _dumps(m)
    assert len(entries) == len(formatted) == len(plain), name
    for (key, value), as_json, as_plain in zip(entries, formatted, plain, strict=True):
        where = f"{name} map {m.name}"
        for text in (as_json, as_plain):
            tally["str"] += same_shape(key, text["key"], f"{where} key")
            if per_cpu:
                texts = [v["value"] for v in text["values"]]
                tally["str"] += same_shape(value, texts, f"{where} values")
            else:
                tally["str"] += same_shape(value, text["value"], f"{where} value")
    tally["maps"] += 1


@pytest.mark.kernel
def test_loaded_maps_decode_as_the_layout_says(
    bpf_objs: Mapping[str, Path], pin_dir: Path
) -> None:
    """With "a" in every chars region, every variable of every data section as the
    loaded map gives it (`Map.lookup`, `map dump` -j and plain, `obj.metadata`) has
    the layout's shape, each chars a string; every BTF-typed map's keys and values
    read alike through the decoder and the dumps."""
    tally: Counter[str] = Counter()
    marked = loaded = 0
    for name, data, layout in _layouts(bpf_objs):
        spec, n = _open_marked(data, name, layout)
        obj = _load(spec, pin_dir / name)
        if obj is None:
            continue  # externs the kernel lacks on purpose, a map it refuses
        loaded += 1
        marked += n
        with obj:
            sections: dict[str, bytes] = {}
            for m in obj.maps.values():
                if not m.has_btf:
                    continue
                if m.section is not None:
                    sections[m.section] = _check_data_map(name, m, layout, tally)
                elif m.map_type in _KEYED:
                    _check_typed_map(name, m, tally)
            in_section = {v[0] for v in layout["sections"].get(".metadata", [])}
            for key, value in obj.metadata.items():
                convention = "section" if key in in_section else "rodata"
                section, (_v, off, size, desc) = _metadata_var(layout, key, convention)
                raw = sections[section][off : off + size]
                where = f"{name} metadata {key}"
                check_decoded(desc, value, raw, where, tally, text=False)
                tally["metadata"] += 1
    assert loaded >= 40, loaded
    assert tally["variables"] >= 1100, tally
    # Every marked chars region read as a string by the decoder and both texts.
    assert tally["str"] >= 3 * marked and marked >= 30, (marked, tally)
    assert tally["maps"] >= 8 and tally["metadata"] >= 1040, tally
