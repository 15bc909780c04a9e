"""`bpfbind exporter`: every program on the host as Prometheus metrics, its metadata as
labels. A prometheus_client collector, a renderer for it, HTTP and textfile outputs.

The collector works in any prometheus_client registry. Its families also carry their
samples' text, so `render()` writes a scrape of 10,000 programs several times faster
than `generate_latest()`, byte for byte the same (tests/test_exporter.py checks it).
Needs the `exporter` extra: ``pip install bpfbind[exporter]``."""

from __future__ import annotations

import argparse
import contextlib
import ctypes
import gzip
import logging
import math
import operator
import os
import platform
import re
import signal
import socket
import sys
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Collection, Iterable, Iterator, Sequence
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from operator import attrgetter, itemgetter
from typing import Any

from prometheus_client.metrics_core import Metric
from prometheus_client.process_collector import ProcessCollector
from prometheus_client.registry import Collector, CollectorRegistry
from prometheus_client.samples import Sample

from . import _native
from .errors import BpfError

__all__ = [
    "CONTENT_TYPE",
    "ProgramCollector",
    "enable_stats",
    "label_name",
    "main",
    "render",
    "write_textfile",
]

log = logging.getLogger("bpfbind.exporter")

# The classic text format: every Prometheus 2.x and node_exporter reads it.
CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"

# Labels of bpf_program_info that are not metadata; `job` and `instance` are the ones
# Prometheus itself attaches to every target (a metadata key of that name would be
# renamed exported_job by the server, so it is prefixed here instead).
_FIXED = frozenset({"id", "name", "type", "tag", "job", "instance"})
_INVALID = re.compile(r"[^a-zA-Z0-9_]")
_CAMEL = re.compile(r"(?<=[a-z0-9])(?=[A-Z])")

# Per program: (metric name, type, help, value of a record). Counters are named without
# `_total`, as prometheus_client names counter families; samples get the suffix.
_PROGRAM_METRICS: tuple[tuple[str, str, str, str], ...] = (
    (
        "bpf_program_run_count",
        "counter",
        "Times the program ran (counted while BPF stats are enabled).",
        "run_cnt",
    ),
    (
        "bpf_program_run_time_seconds",
        "counter",
        "Time the program ran (counted while BPF stats are enabled).",
        "run_time",
    ),
    (
        "bpf_program_recursion_misses",
        "counter",
        "Runs the kernel skipped because the program was already running on the CPU.",
        "recursion_misses",
    ),
    (
        "bpf_program_bytes_xlated",
        "gauge",
        "Size of the program's instructions after the verifier, in bytes.",
        "bytes_xlated",
    ),
    (
        "bpf_program_bytes_jited",
        "gauge",
        "Size of the program's JIT-compiled code, in bytes.",
        "bytes_jited",
    ),
    (
        "bpf_program_loaded_at_seconds",
        "gauge",
        "When the program was loaded, in seconds since the epoch.",
        "loaded_at",
    ),
    (
        "bpf_program_maps",
        "gauge",
        "Maps the program holds, metadata maps included.",
        "maps",
    ),
)

_INFO = (
    "bpf_program_info",
    "gauge",
    "One series per loaded program, = 1: its id, name, type, tag and metadata as "
    "labels.",
)
# Every per-program family, bpf_program_info first: the order of an entry's lines.
_FAMILIES = (_INFO, *((n, t, h) for n, t, h, _ in _PROGRAM_METRICS))
_SAMPLE_NAMES = tuple(n + "_total" if t == "counter" else n for n, t, _ in _FAMILIES)

_BATCH = 1024


def label_name(key: str) -> str:
    """The label a metadata key becomes: snake_case (`gitCommit` -> `git_commit`, the
    lint Prometheus applies), other characters than [a-zA-Z0-9_] made `_`, no leading
    digit; a key equal to a fixed label (id, name, type, tag, job, instance) or starting
    with `__` (reserved to Prometheus) gets the prefix `metadata_`."""
    s = _INVALID.sub("_", _CAMEL.sub("_", key)).lower()
    if not s or s[0].isdigit():
        s = "_" + s
    if s in _FIXED or s.startswith("__"):
        s = "metadata_" + s
    return s


def _escape(v: str) -> str:
    # The text format's label value escapes; anything else (UTF-8) stands as it is.
    if "\\" in v or '"' in v or "\n" in v:
        return v.replace("\\", r"\\").replace("\n", r"\n").replace('"', r"\"")
    return v


def _number(v: float) -> str:
    """prometheus_client's floatToGoString(v) (Go's shortest form), at a fraction of
    its cost for the small integers most values are."""
    if type(v) is int and -1_000_000 < v < 1_000_000:
        return f"{v}.0"
    d = float(v)
    if math.isinf(d):
        return "+Inf" if d > 0 else "-Inf"
    if math.isnan(d):
        return "NaN"
    s = repr(d)
    dot = s.find(".")
    # Go switches to an exponent sooner than Python.
    if d > 0 and dot > 6:
        mantissa = f"{s[0]}.{s[1:dot]}{s[dot + 1 :]}".rstrip("0.")
        return f"{mantissa}e+{dot - 1:02d}"
    return s


Labels = tuple[tuple[str, str], ...]
# What decides whether a program's entry still stands: run count, run time (ns),
# recursion misses, map count, BTF id.
_Vals = tuple[int, int, int, int, int]


class _Family(Metric):
    """A metric family whose rows keep their labels' text: `render()` writes rows
    without rebuilding it, and `samples` (for generate_latest and any other consumer
    of a registry) is built from them on first use."""

    def __init__(self, name: str, documentation: str, typ: str) -> None:
        self.rows: list[tuple[str, Labels, float]] = []
        self._samples: list[Sample] | None = None
        super().__init__(name, documentation, typ)
        self.sample_name = name + "_total" if typ == "counter" else name

    @property
    def samples(self) -> list[Sample]:
        if self._samples is None:
            self._samples = self._make_samples()
        return self._samples

    @samples.setter
    def samples(self, value: list[Sample]) -> None:
        # Metric.__init__ sets an empty list; rows are the truth until samples are read.
        self._samples = value or None

    def _make_samples(self) -> list[Sample]:
        n = self.sample_name
        return [Sample(n, dict(lb), v, None, None) for _, lb, v in self.rows]

    def add(self, labels: Labels, value: float, text: str | None = None) -> None:
        if text is None:
            text = ",".join(f'{k}="{_escape(v)}"' for k, v in labels)
        self.rows.append((text, labels, value))
        self._samples = None

    def head(self) -> str:
        n = self.sample_name
        doc = self.documentation.replace("\\", r"\\").replace("\n", r"\n")
        return f"# HELP {n} {doc}\n# TYPE {n} {self.type}\n"

    def data(self) -> bytes:
        return self.text().encode()

    def text(self) -> str:
        """generate_latest's lines for this family."""
        n = self.sample_name
        return self.head() + "".join(
            f"{n}{{{t}}} {_number(v)}\n" if t else f"{n} {_number(v)}\n"
            for t, _, v in self.rows
        )


class _Entry:
    """One program in a collection: its sample lines in every per-program family, and
    what they were made of. A later scan reuses the entry while the program's values
    are unchanged: labels never change in a program's life (metadata maps are
    frozen), only counters and, through BPF_PROG_BIND_MAP, its maps."""

    __slots__ = ("base", "bt", "info", "keys", "lines", "type", "vals", "values")

    def __init__(
        self,
        vals: _Vals,
        lines: tuple[str, ...],
        info: Labels,
        base: Labels,
        values: tuple[float, ...],
        typ: str,
        keys: tuple[str, ...],
        bt: str,
    ) -> None:
        self.bt = bt
        self.vals = vals
        self.lines = lines
        self.info = info
        self.base = base
        self.values = values
        self.type = typ
        self.keys = keys


_LINES = attrgetter("lines")
_KIND = attrgetter("type", "keys")


class _ProgramFamily(_Family):
    """Family `k` of the per-program ones (0: bpf_program_info), over shared entries."""

    def __init__(
        self, name: str, documentation: str, typ: str, entries: list[_Entry], k: int
    ) -> None:
        super().__init__(name, documentation, typ)
        self.entries = entries
        self.k = k
        self._data: bytes | None = None

    def _make_samples(self) -> list[Sample]:
        n, k = self.sample_name, self.k
        return [
            Sample(n, dict(e.info if k == 0 else e.base), e.values[k], None, None)
            for e in self.entries
        ]

    def text(self) -> str:
        return self.data().decode()

    def data(self) -> bytes:
        # Kept: a scan that finds every program unchanged serves this family again.
        if self._data is None:
            lines = map(itemgetter(self.k), map(_LINES, self.entries))
            self._data = (self.head() + "".join(lines)).encode()
        return self._data


def _plain_values(recs: list[_native.ProgramInfo]) -> Iterator[list[str]]:
    """bpftool's plain text of each record's metadata values, in its order: the lines
    `prog show` prints under `metadata:` (one record per header line)."""
    block: list[str] | None = None
    for line in _native.format_plain(recs, metadata_only=True).split("\n"):
        if line.startswith("\t\t"):
            if block is not None:
                block.append(line[2:])
        elif not line.startswith("\t"):
            if block is not None:
                yield block
            block = [] if line else None
    if block is not None:
        yield block


def _value_text(v: Any) -> str:
    """A decoded value as bpftool's JSON would show it, when bpftool's own text is not
    to be had (a value it could not print)."""
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, str):
        return '"' + v.replace("\\", "\\\\").replace('"', '\\"') + '"'
    if isinstance(v, bytes):
        return "[" + ",".join(str(b) for b in v) + "]"
    if isinstance(v, list):
        return "[" + ",".join(_value_text(x) for x in v) + "]"
    if isinstance(v, dict):
        return "{" + ",".join(f'"{k}":{_value_text(x)}' for k, x in v.items()) + "}"
    return str(v)


class ProgramCollector(Collector):
    """Every loaded program as Prometheus metrics (see the README's metric list).

    ``metadata_labels`` limits which metadata keys become labels of
    `bpf_program_info` (raw keys or their label names; None: all). With ``interval``
    > 0 a collection within that many seconds of the last scan answers from it;
    otherwise each collection scans. Programs that vanish during a scan are left out;
    a scan that fails counts in `bpfbind_scan_errors_total` and the collection carries
    only the exporter's own metrics."""

    def __init__(
        self,
        *,
        metadata_labels: Collection[str] | None = None,
        interval: float = 0.0,
        stats_enabled: bool = False,
    ) -> None:
        self.metadata_labels = None if metadata_labels is None else set(metadata_labels)
        self.interval = interval
        self.stats_enabled = stats_enabled
        self.errors = 0
        self.last_error: str | None = None
        self._lock = threading.Lock()
        self._last: tuple[float, list[Metric]] | None = None
        self._names: dict[str, str | None] = {}
        # The last scan's programs by id and families, label text by metadata items.
        self._entries: dict[int, _Entry] = {}
        self._families: list[_ProgramFamily] = []
        self._pieces: dict[Labels, list[tuple[str, str, str]]] = {}

    def describe(self) -> list[Metric]:
        # Registering must not scan the host (a registry calls collect() otherwise).
        return []

    def collect(self) -> list[Metric]:
        # One scan at a time: concurrent scrapes wait for it and, within the interval,
        # share it.
        with self._lock:
            now = time.monotonic()
            if self._last is not None and now - self._last[0] <= self.interval:
                return self._last[1]
            metrics = self._scan()
            self._last = (time.monotonic(), metrics)
            return metrics

    def _label(self, key: str) -> str | None:
        name = self._names.get(key, "")
        if name == "":
            name = label_name(key)
            wanted = self.metadata_labels
            if wanted is not None and key not in wanted and name not in wanted:
                name = None
            if len(self._names) > 65536:  # keys of programs long gone
                self._names.clear()
            self._names[key] = name
        return name

    def _scan(self) -> list[Metric]:
        start = time.perf_counter()
        entries: list[_Entry] = []
        try:
            self._read(entries)
        except (OSError, ValueError) as e:
            self.errors += 1
            if str(e) != self.last_error:
                log.warning("scan failed: %s", _explain(e))
            self.last_error = str(e)
            return self._own(time.perf_counter() - start)
        self.last_error = None
        old = self._families
        if (
            old
            and len(old[0].entries) == len(entries)
            and all(map(operator.is_, old[0].entries, entries))
        ):
            fams = old  # nothing changed: the rendered text stands too
        else:
            fams = [
                _ProgramFamily(n, h, t, entries, k)
                for k, (n, t, h) in enumerate(_FAMILIES)
            ]
            self._families = fams
        # Counted by (type, keys): copies of one object share both.
        kinds = Counter(map(_KIND, entries))
        by_type: Counter[str] = Counter()
        by_key: Counter[str] = Counter()
        for (typ, ks), n in kinds.items():
            by_type[typ] += n
            for k in ks:
                by_key[k] += n
        programs = _Family("bpf_programs", "Loaded programs by type.", "gauge")
        for t, n in sorted(by_type.items()):
            programs.add((("type", t),), n)
        keys = _Family(
            "bpf_metadata_programs",
            "Loaded programs carrying each metadata key.",
            "gauge",
        )
        for k, n in sorted(by_key.items()):
            keys.add((("key", k),), n)
        return [*fams, programs, keys, *self._own(time.perf_counter() - start)]

    def _read(self, entries: list[_Entry]) -> None:
        """Every program's entry, in id order, reusing the last scan's where the
        program's values are unchanged (the common case, and most of a scrape's cost
        otherwise)."""
        prev = self._entries
        seen: dict[int, _Entry] = {}
        scanner = _native.Scanner(json=True)
        try:
            while chunk := scanner.next_batch(_BATCH):
                made: list[_Entry | None] = []
                todo: list[tuple[int, _native.ProgramInfo, _Vals]] = []
                for rec in chunk:
                    pid = rec.id
                    vals = (
                        rec.run_cnt,
                        rec.run_time_ns,
                        rec.recursion_misses,
                        len(rec.map_ids),
                        # Ids come round again after 2**31 loads: with its BTF's id,
                        # a program that got a gone one's id is never taken for it.
                        rec.btf_id,
                    )
                    old = prev.get(pid)
                    if old is not None and old.vals == vals:
                        seen[pid] = old
                        made.append(old)
                    else:
                        todo.append((len(made), rec, vals))
                        made.append(None)
                if todo:
                    self._make(todo, made, prev, seen)
                entries += made  # type: ignore[arg-type]  # every None was replaced
        finally:
            scanner.close()
        self._entries = seen

    def _make(
        self,
        todo: list[tuple[int, _native.ProgramInfo, _Vals]],
        made: list[_Entry | None],
        prev: dict[int, _Entry],
        seen: dict[int, _Entry],
    ) -> None:
        # bpftool's text of non-string values, for the records that need it.
        mds: dict[int, dict[str, Any]] = {}
        odd: list[int] = []
        for i, rec, vals in todo:
            old = prev.get(rec.id)
            if old is None or old.vals[3:] != vals[3:]:
                md = mds[i] = rec.metadata
                if _needs_text(md):
                    odd.append(i)
        plains: dict[int, list[str]] = {}
        if odd:
            recs = {i: rec for i, rec, _ in todo}
            plains = dict(zip(odd, _plain_values([recs[i] for i in odd]), strict=False))
        names = _SAMPLE_NAMES
        lines4: tuple[str, ...]
        xlated: float
        jited: float
        loaded: float
        for i, rec, vals in todo:
            run_cnt, run_ns, misses, nmaps, _ = vals
            old = prev.get(rec.id)
            if i in mds:
                info, base, bt, info_line, typ, keys = self._labels(
                    rec, mds[i], plains.get(i)
                )
                xlated, jited, loaded = rec.bytes_xlated, rec.bytes_jited, rec.loaded_at
                lines4 = (
                    f"{names[4]}{{{bt}}} {_number(xlated)}\n",
                    f"{names[5]}{{{bt}}} {_number(jited)}\n",
                    f"{names[6]}{{{bt}}} {_number(loaded)}\n",
                    f"{names[7]}{{{bt}}} {_number(nmaps)}\n",
                )
            else:
                # Only counters moved: the labels and the other lines stand.
                assert old is not None
                info, base, typ, keys = old.info, old.base, old.type, old.keys
                info_line, lines4 = old.lines[0], old.lines[4:]
                xlated, jited, loaded = old.values[4:7]
                bt = old.bt
            run_s = run_ns / 1e9
            entry = _Entry(
                vals,
                (
                    info_line,
                    f"{names[1]}{{{bt}}} {_number(run_cnt)}\n",
                    f"{names[2]}{{{bt}}} {_number(run_s)}\n",
                    f"{names[3]}{{{bt}}} {_number(misses)}\n",
                    *lines4,
                ),
                info,
                base,
                (1, run_cnt, run_s, misses, xlated, jited, loaded, nmaps),
                typ,
                keys,
                bt,
            )
            made[i] = entry
            seen[rec.id] = entry

    def _labels(
        self, rec: _native.ProgramInfo, md: dict[str, Any], plain: list[str] | None
    ) -> tuple[Labels, Labels, str, str, str, tuple[str, ...]]:
        """(info labels, base labels, base label text, info line, type, metadata
        keys) of a program."""
        id_s = str(rec.id)
        name, typ, tag = rec.name, rec.type, rec.tag
        fixed = [
            ("id", id_s, f'id="{id_s}"'),
            ("name", name, f'name="{_escape(name)}"'),
            ("tag", tag, f'tag="{tag}"'),
            ("type", typ, f'type="{_escape(typ)}"'),
        ]
        if md:
            items = self._meta_items(md, plain)
            # Copies of one object share their metadata's label text.
            got = self._pieces.get(items)
            if got is None:
                got = [(k, v, f'{k}="{_escape(v)}"') for k, v in items]
                if len(self._pieces) > 4096:
                    self._pieces.clear()
                self._pieces[items] = got
            fixed += got
            fixed.sort()
        info = tuple((k, v) for k, v, _ in fixed)
        info_line = f"bpf_program_info{{{','.join(p for _, _, p in fixed)}}} 1.0\n"
        bt = f'id="{id_s}",name="{_escape(name)}"'
        return info, (("id", id_s), ("name", name)), bt, info_line, typ, tuple(md)

    def _meta_items(
        self, md: dict[str, Any], plain: list[str] | None
    ) -> tuple[tuple[str, str], ...]:
        """(label, value text) of the metadata keys that become labels: strings as
        they are, other values as bpftool prints them; the first key to claim a label
        name keeps it."""
        texts: list[str] | None = None
        if plain is not None and len(plain) == len(md):
            # `prog show` prints `name = text`, name with control characters made `?`
            # (the same length), in the order of the record's metadata.
            texts = [line[len(k) + 3 :] for k, line in zip(md, plain, strict=True)]
        out: dict[str, str] = {}
        for n, (k, v) in enumerate(md.items()):
            label = self._label(k)
            if label is None or label in out:
                continue
            if isinstance(v, str):
                out[label] = v
            elif texts is not None and texts[n] != "null":
                out[label] = texts[n]
            else:
                out[label] = _value_text(v)
        return tuple(out.items())

    def _own(self, duration: float) -> list[Metric]:
        d = _Family(
            "bpfbind_scan_duration_seconds",
            "How long the scan behind this collection took.",
            "gauge",
        )
        d.add((), duration)
        e = _Family("bpfbind_scan_errors", "Scans that failed.", "counter")
        e.add((), self.errors)
        s = _Family(
            "bpfbind_bpf_stats_enabled",
            "1 while this exporter holds BPF_ENABLE_STATS (run counts and "
            "times are counted).",
            "gauge",
        )
        s.add((), 1 if self.stats_enabled else 0)
        return [d, e, s]


def _needs_text(md: dict[str, Any]) -> bool:
    return any(type(v) is not str for v in md.values())


def _explain(e: BaseException) -> str:
    msg = str(e)
    if isinstance(e, PermissionError):
        msg += (
            "; listing programs (BPF_PROG_GET_NEXT_ID, BPF_PROG_GET_FD_BY_ID) needs "
            "CAP_SYS_ADMIN, CAP_BPF alone is not enough"
        )
    return msg


def render(registry: Collector) -> bytes:
    """`prometheus_client.generate_latest(registry)`, byte for byte, faster for this
    module's families; other collectors' metrics are rendered by generate_latest."""
    return b"".join(_render_parts(registry))


def _render_parts(registry: Collector) -> list[bytes]:
    """The text family by family: an unchanged family is the same bytes object as in
    the last scrape (the HTTP side keeps its compressed form by that identity)."""
    from prometheus_client import generate_latest

    parts: list[bytes] = []
    for m in registry.collect():
        if isinstance(m, _Family):
            parts.append(m.data())
        else:
            parts.append(generate_latest(_Fixed([m])))
    return parts


class _Fixed(Collector):
    def __init__(self, metrics: list[Metric]) -> None:
        self.metrics = metrics

    def collect(self) -> Iterable[Metric]:
        return self.metrics


def write_textfile(path: str, registry: Collector) -> None:
    """The registry's metrics into `path` for node_exporter's textfile collector:
    written to a temporary file in the same directory (not ending in .prom, so the
    collector never reads it half-written), then renamed over `path`."""
    data = render(registry)
    directory = os.path.dirname(os.path.abspath(path))
    fd, tmp = tempfile.mkstemp(
        dir=directory, prefix="." + os.path.basename(path) + ".", suffix=".tmp"
    )
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            os.fchmod(f.fileno(), 0o644)
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise


# bpf(2) numbers by architecture; BPF_ENABLE_STATS is command 32 everywhere.
_BPF_SYSCALL = {
    "x86_64": 321,
    "aarch64": 280,
    "riscv64": 280,
    "ppc64le": 361,
    "s390x": 351,
}
_BPF_ENABLE_STATS = 32
_BPF_STATS_RUN_TIME = 0


def enable_stats() -> int:
    """BPF_ENABLE_STATS(BPF_STATS_RUN_TIME): the kernel counts every program's runs and
    run time for as long as the returned fd stays open (close it to stop). Needs
    CAP_SYS_ADMIN."""
    nr = _BPF_SYSCALL.get(platform.machine())
    if nr is None:
        raise OSError(f"bpf(2) syscall number unknown for {platform.machine()}")
    libc = ctypes.CDLL(None, use_errno=True)
    libc.syscall.restype = ctypes.c_long
    attr = ctypes.c_uint32(_BPF_STATS_RUN_TIME)
    fd = libc.syscall(
        ctypes.c_long(nr),
        ctypes.c_int(_BPF_ENABLE_STATS),
        ctypes.byref(attr),
        ctypes.c_uint(ctypes.sizeof(attr)),
    )
    if fd < 0:
        err = ctypes.get_errno()
        e = BpfError(err, f"BPF_ENABLE_STATS failed: {os.strerror(err)}")
        e.command = "BPF_ENABLE_STATS"
        raise e
    return int(fd)


class _Gzipped:
    """Compressed forms of the last scrape's large parts, by identity. A body is one
    gzip member per part: gzip readers (Go's, Python's) read concatenated members as
    one stream, so a family that did not change is not compressed again."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._last: dict[int, tuple[bytes, bytes]] = {}

    def __call__(self, parts: list[bytes]) -> list[bytes]:
        with self._lock:
            last, now = self._last, {}
            out = []
            for p in parts:
                hit = last.get(id(p))
                if hit is not None and hit[0] is p:
                    gz = hit[1]
                else:
                    gz = gzip.compress(p, compresslevel=1, mtime=0)
                if len(p) > 65536:
                    now[id(p)] = (p, gz)  # holding p keeps its id unique
                out.append(gz)
            self._last = now
            return out


class _Handler(BaseHTTPRequestHandler):
    registry: Collector
    gzipped: _Gzipped

    def do_GET(self) -> None:
        path = self.path.split("?", 1)[0]
        if path == "/metrics":
            parts = _render_parts(self.registry)
            ctype = CONTENT_TYPE
        elif path == "/":
            parts = [b'<html><body><a href="/metrics">metrics</a></body></html>\n']
            ctype = "text/html; charset=utf-8"
        else:
            self.send_error(404)
            return
        self.send_response(200)
        self.send_header("Content-Type", ctype)
        if "gzip" in self.headers.get("Accept-Encoding", ""):
            parts = self.gzipped(parts)
            self.send_header("Content-Encoding", "gzip")
        self.send_header("Content-Length", str(sum(map(len, parts))))
        self.end_headers()
        for p in parts:
            self.wfile.write(p)

    def log_message(self, format: str, *args: Any) -> None:
        log.debug("%s " + format, self.address_string(), *args)


class _Server6(ThreadingHTTPServer):
    address_family = socket.AF_INET6


def _address(text: str) -> tuple[str, int]:
    host, sep, port = text.rpartition(":")
    if not sep or not port.isdigit():
        raise ValueError(f"--listen wants ADDR:PORT, not {text!r}")
    return host.strip("[]"), int(port)


def _server(listen: str, registry: Collector) -> ThreadingHTTPServer:
    host, port = _address(listen)
    handler = type(
        "Handler", (_Handler,), {"registry": registry, "gzipped": _Gzipped()}
    )
    cls = _Server6 if ":" in host else ThreadingHTTPServer
    server = cls((host, port), handler)
    server.daemon_threads = True
    return server


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="bpfbind exporter",
        description="Every BPF program on this host as Prometheus metrics, with its "
        "metadata as labels of bpf_program_info.",
    )
    p.add_argument(
        "--listen",
        metavar="ADDR:PORT",
        help="serve /metrics here (default :9442 unless --textfile is given;"
        " port 0 picks a free one)",
    )
    p.add_argument(
        "--textfile",
        metavar="PATH",
        help="write the metrics to PATH (a .prom file in node_exporter's "
        "textfile directory) every --interval seconds, atomically",
    )
    p.add_argument(
        "--interval",
        type=float,
        default=None,
        metavar="S",
        help="serve a scan at most S seconds old (default 0: scan at every "
        "scrape); with --textfile, rewrite it every S seconds (default 15)",
    )
    p.add_argument(
        "--once", action="store_true", help="with --textfile: write it once and exit"
    )
    p.add_argument(
        "--enable-stats",
        action="store_true",
        help="hold BPF_ENABLE_STATS while running, so that run counts and "
        "run times are counted (needs CAP_SYS_ADMIN)",
    )
    p.add_argument(
        "--metadata-labels",
        metavar="KEY,...",
        help="only these metadata keys become labels (default: all)",
    )
    p.add_argument("-v", "--verbose", action="store_true", help="log every scrape")
    return p


def main(argv: Sequence[str]) -> int:
    args = _parser().parse_args(list(argv))
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.INFO,
        format="bpfbind exporter: %(message)s",
    )
    if args.once and not args.textfile:
        print("Error: --once needs --textfile", file=sys.stderr)
        return 2
    interval = args.interval
    if interval is None:
        interval = 15.0 if args.textfile else 0.0
    if interval < 0:
        print("Error: --interval must not be negative", file=sys.stderr)
        return 2
    labels = None
    if args.metadata_labels is not None:
        labels = [k.strip() for k in args.metadata_labels.split(",") if k.strip()]

    stop = threading.Event()

    def on_signal(signum: int, frame: object) -> None:
        stop.set()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)

    stats_fd: int | None = None
    server: ThreadingHTTPServer | None = None
    try:
        if args.enable_stats:
            stats_fd = enable_stats()
        serving = args.listen is not None or not args.textfile
        collector = ProgramCollector(
            metadata_labels=labels,
            # Alone, the textfile loop wants a fresh scan at every write.
            interval=interval if serving else 0.0,
            stats_enabled=stats_fd is not None,
        )
        registry = CollectorRegistry(auto_describe=False)
        registry.register(collector)
        ProcessCollector(registry=registry)  # process_*: the exporter's own costs
        if serving:
            server = _server(args.listen or ":9442", registry)
            host, port = server.server_address[:2]
            log.info("listening on %s:%d", host or "0.0.0.0", port)
            threading.Thread(target=server.serve_forever, daemon=True).start()
        if args.textfile:
            while True:
                write_textfile(args.textfile, registry)
                if args.once:
                    # A one-shot run (cron, a systemd timer) says when it saw nothing.
                    return 1 if collector.last_error is not None else 0
                if stop.wait(interval):
                    break
        else:
            while not stop.wait(3600):
                pass
    except OSError as e:
        print(f"Error: {_explain(e)}", file=sys.stderr)
        return 1
    except ValueError as e:
        print(f"Error: {e}", file=sys.stderr)
        return 2
    finally:
        if server is not None:
            server.shutdown()
            server.server_close()
        if stats_fd is not None:
            os.close(stats_fd)
        if args.textfile and not args.once and stop.is_set():
            # Gone with the exporter: a file left behind would report these programs
            # as loaded for as long as node_exporter runs.
            with contextlib.suppress(OSError):
                os.unlink(args.textfile)
    return 0
