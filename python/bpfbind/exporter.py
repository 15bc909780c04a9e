"""`bpfbind exporter`: every program on the host as Prometheus metrics, its metadata as
labels. A prometheus_client collector, a renderer for it, HTTP and textfile outputs.

The collector works in any prometheus_client registry. Its families also carry their
samples' text, so `render()` writes a scrape of 10,000 programs several times faster
than `generate_latest()`, byte for byte the same (tests/test_exporter.py checks it).
Needs the `exporter` extra: ``pip install bpfbind[exporter]``."""

from __future__ import annotations

import argparse
import contextlib
import gzip
import logging
import os
import signal
import socket
import sys
import tempfile
import threading
import time
from collections.abc import Collection, Iterable, Sequence
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from prometheus_client.metrics_core import Metric
from prometheus_client.process_collector import ProcessCollector
from prometheus_client.registry import Collector, CollectorRegistry
from prometheus_client.samples import Sample

from . import _native
from ._events import EnableStats, enable_stats

__all__ = [
    "CONTENT_TYPE",
    "ProgramCollector",
    "label_name",
    "main",
    "render",
    "write_textfile",
]

log = logging.getLogger("bpfbind.exporter")

# The classic text format: every Prometheus 2.x and node_exporter reads it.
CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"

# The per-program families, bpf_program_info first, as the native renderer writes them:
# (family name, type, help); counters are named without `_total`, as prometheus_client
# names counter families, and their samples get the suffix.
_FAMILIES: tuple[tuple[str, str, str], ...] = tuple(_native.Exposition.families())

_BATCH = 1024


def label_name(key: str) -> str:
    """The label a metadata key becomes: snake_case (`gitCommit` -> `git_commit`, the
    lint Prometheus applies), other characters than [a-zA-Z0-9_] made `_`, no leading
    digit; a key equal to a fixed label (id, name, type, tag, job, instance) or starting
    with `__` (reserved to Prometheus) gets the prefix `metadata_`."""
    return _native.Exposition.label_name(key)


def _escape(v: str) -> str:
    # The text format's label value escapes; anything else (UTF-8) stands as it is.
    if "\\" in v or '"' in v or "\n" in v:
        return v.replace("\\", r"\\").replace("\n", r"\n").replace('"', r"\"")
    return v


Labels = tuple[tuple[str, str], ...]


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
        number = _native.Exposition.number
        return self.head() + "".join(
            f"{n}{{{t}}} {number(v)}\n" if t else f"{n} {number(v)}\n"
            for t, _, v in self.rows
        )


class _TextFamily(_Family):
    """A per-program family as the native renderer wrote it (HELP and TYPE lines
    included). Its samples, for consumers other than `render()`, are read back from
    that text, so both paths give the same bytes by construction."""

    def __init__(self, name: str, documentation: str, typ: str, data: bytes) -> None:
        super().__init__(name, documentation, typ)
        self._data = data

    def _make_samples(self) -> list[Sample]:
        from prometheus_client.parser import text_string_to_metric_families

        return [
            s for f in text_string_to_metric_families(self.text()) for s in f.samples
        ]

    def text(self) -> str:
        return self._data.decode()

    def data(self) -> bytes:
        return self._data


class ProgramCollector(Collector):
    """Every loaded program as Prometheus metrics (see the README's metric list).

    ``metadata_labels`` limits which metadata keys become labels of
    `bpf_program_info` (raw keys or their label names; None: all). With ``interval``
    > 0 a collection within that many seconds of the last scan answers from it;
    otherwise each collection scans. Programs that vanish during a scan are left out;
    a scan that fails counts in `bpfbind_scan_errors_total` and the collection carries
    only the exporter's own metrics.

    Scanning and rendering are native (`scan::prom`): each program's lines are kept
    between scans and rewritten only where its values moved."""

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
        self._expo = _native.Exposition(self.metadata_labels)
        # The last scan's family objects: a family whose text did not change is the
        # same object, and its bytes the same bytes (gzip keeps them by identity).
        self._families: list[_TextFamily] = []

    def describe(self) -> list[Metric]:
        # Registering must not scan the host (a registry calls collect() otherwise).
        """No families up front: registering never scans the host."""
        return []

    def collect(self) -> list[Metric]:
        # One scan at a time: concurrent scrapes wait for it and, within the interval,
        # share it.
        """The metric families of one scan (shared by scrapes within `interval`)."""
        with self._lock:
            now = time.monotonic()
            if self._last is not None and now - self._last[0] <= self.interval:
                return self._last[1]
            metrics = self._scan()
            self._last = (time.monotonic(), metrics)
            return metrics

    def _scan(self) -> list[Metric]:
        start = time.perf_counter()
        try:
            texts, by_type, by_key = self._expo.collect(_BATCH)
        except (OSError, ValueError) as e:
            self.errors += 1
            if str(e) != self.last_error:
                log.warning("scan failed: %s", _explain(e))
            self.last_error = str(e)
            return self._own(time.perf_counter() - start)
        self.last_error = None
        old = self._families
        fams = [
            _TextFamily(n, h, t, data) if data is not None else old[k]
            for k, ((n, t, h), data) in enumerate(zip(_FAMILIES, texts, strict=True))
        ]
        self._families = fams
        programs = _Family("bpf_programs", "Loaded programs by type.", "gauge")
        for t, n in by_type:
            programs.add((("type", t),), n)
        keys = _Family(
            "bpf_metadata_programs",
            "Loaded programs carrying each metadata key.",
            "gauge",
        )
        for k, n in by_key:
            keys.add((("key", k),), n)
        return [*fams, programs, keys, *self._own(time.perf_counter() - start)]

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
    """`bpfbind exporter`: serves the metrics over HTTP, or writes a textfile;
    returns the exit status."""
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

    stats: EnableStats | None = None
    server: ThreadingHTTPServer | None = None
    try:
        if args.enable_stats:
            stats = enable_stats()
        serving = args.listen is not None or not args.textfile
        collector = ProgramCollector(
            metadata_labels=labels,
            # Alone, the textfile loop wants a fresh scan at every write.
            interval=interval if serving else 0.0,
            stats_enabled=stats is not None,
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
        if stats is not None:
            stats.close()
        if args.textfile and not args.once and stop.is_set():
            # Gone with the exporter: a file left behind would report these programs
            # as loaded for as long as node_exporter runs.
            with contextlib.suppress(OSError):
                os.unlink(args.textfile)
    return 0
