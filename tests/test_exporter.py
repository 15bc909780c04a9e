"""`bpfbind exporter` against the real consumers: a Prometheus server scraping it every
second, node_exporter reading its textfile, promtool linting every output (hostile
metadata included); the renderer against prometheus_client's generate_latest; scans
racing loads and unloads; SIGTERM; capabilities.

Servers are started by the fixtures here, on loopback, and killed on teardown. Waits
poll with deadlines: Prometheus marks a series stale at the first scrape without it."""

from __future__ import annotations

import contextlib
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.parse
import urllib.request
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import Any, TypeVar

import pytest

prometheus_client = pytest.importorskip("prometheus_client")

from conftest import _unavailable  # noqa: E402

import bpfbind  # noqa: E402
from bpfbind import exporter  # noqa: E402

T = TypeVar("T")

PROMETHEUS = "/usr/bin/prometheus"
NODE_EXPORTER = "/usr/bin/prometheus-node-exporter"
PROMTOOL = "/usr/bin/promtool"
DEADLINE = 30.0

# What tests/bpf/hostile_meta.bpf.c declares, as label values must carry it.
HOSTILE_QUOTED = 'say "hi" \\ back\\slash {x="1"} # not a comment'
HOSTILE_LONG = '"' + "0123456789abcdef" * 1024 + "\\"


def _tool(path: str) -> str:
    if not os.access(path, os.X_OK):
        _unavailable(f"{path} not found (scripts/setup.sh installs it)")
    return path


def wait_for(what: str, probe: Callable[[], T | None], timeout: float = DEADLINE) -> T:
    """probe() until it gives something true, or fail at the deadline."""
    deadline = time.monotonic() + timeout
    delay = 0.05
    while True:
        got = probe()
        if got:
            return got
        if time.monotonic() > deadline:
            pytest.fail(f"gave up after {timeout:.0f} s waiting for {what}")
        time.sleep(delay)
        delay = min(delay * 2, 0.5)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def http_get(url: str, timeout: float = 10) -> bytes:
    with urllib.request.urlopen(url, timeout=timeout) as r:
        body: bytes = r.read()
        return body


def try_get(url: str, timeout: float = 2) -> bytes | None:
    try:
        return http_get(url, timeout=timeout)
    except OSError:
        return None


def promtool_check(text: bytes) -> None:
    proc = subprocess.run(
        [_tool(PROMTOOL), "check", "metrics"], input=text, capture_output=True
    )
    assert proc.returncode == 0, proc.stdout.decode() + proc.stderr.decode()


def info_samples(text: bytes) -> dict[str, dict[str, str]]:
    """bpf_program_info's labels by program id, parsed by prometheus_client."""
    from prometheus_client.parser import text_string_to_metric_families

    out = {}
    for fam in text_string_to_metric_families(text.decode()):
        if fam.name == "bpf_program_info":
            for s in fam.samples:
                out[s.labels["id"]] = s.labels
    return out


def stop(proc: subprocess.Popen[Any], timeout: float = 10) -> int | None:
    """SIGTERM, then SIGKILL if it does not go in time; its exit code."""
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            return proc.wait(timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
            return None
    return proc.returncode


class Exporter:
    """`python3 -m bpfbind exporter ARGS` in a child; `url` once it listens."""

    def __init__(self, *args: str | os.PathLike[str], listen: bool = True) -> None:
        argv = [sys.executable, "-m", "bpfbind", "exporter", *map(str, args)]
        if listen:
            argv += ["--listen", "127.0.0.1:0"]
        self.proc = subprocess.Popen(argv, stderr=subprocess.PIPE, text=True)
        self.url = ""
        self.log: list[str] = []
        if listen:
            assert self.proc.stderr is not None
            for line in self.proc.stderr:  # the first line says where it listens
                self.log.append(line)
                m = re.search(r"listening on ([\d.]+:\d+)", line)
                if m:
                    self.url = f"http://{m.group(1)}"
                    break
            assert self.url, f"exporter did not start: {''.join(self.log)}"

    def metrics(self) -> bytes:
        return http_get(self.url + "/metrics")

    def close(self) -> int | None:
        code = stop(self.proc)
        if self.proc.stderr is not None and not self.proc.stderr.closed:
            self.log.append(self.proc.stderr.read())
            self.proc.stderr.close()
        return code


@pytest.fixture
def exporter_proc() -> Iterator[Callable[..., Exporter]]:
    started: list[Exporter] = []

    def start(*args: str | os.PathLike[str], listen: bool = True) -> Exporter:
        e = Exporter(*args, listen=listen)
        started.append(e)
        return e

    yield start
    for e in started:
        e.close()


class Prometheus:
    def __init__(self, target: str, tmp: Path) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        config = tmp / "prometheus.yml"
        config.write_text(
            "global:\n"
            "  scrape_interval: 1s\n"
            "  scrape_timeout: 1s\n"
            "scrape_configs:\n"
            "  - job_name: bpfbind\n"
            "    static_configs:\n"
            f"      - targets: ['{target}']\n"
        )
        self.proc = subprocess.Popen(
            [
                _tool(PROMETHEUS),
                f"--config.file={config}",
                f"--storage.tsdb.path={tmp / 'data'}",
                f"--web.listen-address=127.0.0.1:{self.port}",
                "--log.level=warn",
            ],
            stdout=subprocess.DEVNULL,
            stderr=open(tmp / "prometheus.log", "wb"),  # noqa: SIM115
        )
        self.log = tmp / "prometheus.log"
        wait_for("Prometheus to be ready", self._ready)

    def _ready(self) -> bool:
        assert self.proc.poll() is None, self.log.read_text()
        return try_get(self.url + "/-/ready") is not None

    def query(self, q: str) -> list[dict[str, Any]]:
        body = http_get(
            f"{self.url}/api/v1/query?{urllib.parse.urlencode({'query': q})}"
        )
        answer = json.loads(body)
        assert answer["status"] == "success", answer
        result: list[dict[str, Any]] = answer["data"]["result"]
        return result


@pytest.fixture
def prometheus(tmp_path: Path) -> Iterator[Callable[[str], Prometheus]]:
    started: list[Prometheus] = []

    def start(target: str) -> Prometheus:
        p = Prometheus(target, tmp_path)
        started.append(p)
        return p

    yield start
    for p in started:
        stop(p.proc)


# --- against a real Prometheus -----------------------------------------------------


@pytest.mark.kernel
def test_prometheus_scrapes_metadata_labels_and_sees_programs_go(
    bpf_objs: Mapping[str, Path],
    exporter_proc: Callable[..., Exporter],
    prometheus: Callable[[str], Prometheus],
) -> None:
    exp = exporter_proc()
    prom = prometheus(exp.url.removeprefix("http://"))
    with contextlib.ExitStack() as stack:
        seed = stack.enter_context(bpfbind.sync.load_object(bpf_objs["seed"]))
        multi = stack.enter_context(bpfbind.sync.load_object(bpf_objs["multi"]))
        used = stack.enter_context(bpfbind.sync.load_object(bpf_objs["metadata_used"]))
        hostile = stack.enter_context(
            bpfbind.sync.load_object(bpf_objs["hostile_meta"])
        )
        seed_id = seed.programs["seed_prog"].id
        xdp_id = multi.programs["multi_xdp"].id
        used_id = used.programs["prog"].id
        hostile_id = hostile.programs["hostile_prog"].id

        # Other programs on the host may carry the same metadata: select ours by id.
        q = f'bpf_program_info{{commit_hash="abcdef123456",id="{seed_id}"}}'
        [series] = wait_for(f"a scrape showing {seed_id}", lambda: prom.query(q))
        m = series["metric"]
        assert m["name"] == "seed_prog" and m["type"] == "socket_filter"
        assert m["tag"] == seed.programs["seed_prog"].tag
        assert m["job"] == "bpfbind" and series["value"][1] == "1"

        [xdp] = prom.query(f'bpf_program_info{{id="{xdp_id}",version="1.2.3"}}')
        assert xdp["metric"]["level"] == "3"  # an int, as bpftool prints it
        assert xdp["metric"]["build_id"] == "0123456789abcdef"
        [u] = prom.query(f'bpf_program_info{{id="{used_id}",a="foo",b="1"}}')
        assert u["metric"]["name"] == "prog"

        # Escaped in the exposition, whole again in Prometheus.
        [h] = prom.query(f'bpf_program_info{{id="{hostile_id}"}}')
        hm = h["metric"]
        assert hm["quoted"] == HOSTILE_QUOTED
        assert hm["long_value"] == HOSTILE_LONG
        assert hm["metadata_name"] == "not the program's name"
        assert hm["name"] == "hostile_prog"
        assert hm["git_commit"] == "camel"
        assert sum(k.startswith("k_") for k in hm) == 1000

        # The README's fleet query.
        counts = prom.query(
            'count by (commit_hash) (bpf_program_info{name="seed_prog"})'
        )
        assert any(
            c["metric"] == {"commit_hash": "abcdef123456"} and int(c["value"][1]) >= 1
            for c in counts
        )
        for metric in ("bpf_program_bytes_xlated", "bpf_program_maps"):
            [v] = prom.query(f'{metric}{{id="{xdp_id}"}}')
            assert float(v["value"][1]) > 0
        [loaded] = prom.query(f'bpf_program_loaded_at_seconds{{id="{seed_id}"}}')
        assert abs(float(loaded["value"][1]) - time.time()) < 600
        assert prom.query('bpf_programs{type="xdp"}')
        assert prom.query('bpf_metadata_programs{key="commit_hash"}')
        assert prom.query("bpfbind_scan_duration_seconds")
        [errs] = prom.query("bpfbind_scan_errors_total")
        assert errs["value"][1] == "0"

        seed.close()
        wait_for(
            f"program {seed_id} to go stale in Prometheus",
            lambda: not prom.query(f'bpf_program_info{{id="{seed_id}"}}'),
        )
        assert prom.query(f'bpf_program_info{{id="{xdp_id}"}}'), "the others stay"
    assert exp.close() == 0, "".join(exp.log)


# --- node_exporter's textfile collector --------------------------------------------


@pytest.mark.kernel
def test_node_exporter_reads_the_textfile(
    bpf_objs: Mapping[str, Path],
    exporter_proc: Callable[..., Exporter],
    tmp_path: Path,
) -> None:
    textdir = tmp_path / "textfile"
    textdir.mkdir()
    prom_file = textdir / "bpfbind.prom"
    port = free_port()
    node = subprocess.Popen(
        [
            _tool(NODE_EXPORTER),
            "--collector.disable-defaults",
            "--collector.textfile",
            f"--collector.textfile.directory={textdir}",
            f"--web.listen-address=127.0.0.1:{port}",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        url = f"http://127.0.0.1:{port}/metrics"

        def ours() -> dict[str, str] | None:
            # A big host makes a big file: give node_exporter time to parse it. It
            # fills labels a sample lacks from its family's other samples with "".
            text = try_get(url, timeout=30)
            if text is None or b"node_textfile_scrape_error 0" not in text:
                return None
            labels = info_samples(text).get(str(seed_id))
            return labels and {k: v for k, v in labels.items() if v}

        with bpfbind.sync.load_object(bpf_objs["seed"]) as seed:
            seed_id = seed.programs["seed_prog"].id
            exp = exporter_proc(
                "--textfile", prom_file, "--interval", "1", listen=False
            )
            labels = wait_for("node_exporter to serve the textfile", ours, timeout=60)
            assert labels == {
                "commit_hash": "abcdef123456",
                "id": str(seed_id),
                "name": "seed_prog",
                "tag": seed.programs["seed_prog"].tag,
                "type": "socket_filter",
            }
            # Only whole files were ever in the directory: no temporary is left.
            assert [p.name for p in textdir.iterdir()] == ["bpfbind.prom"]
        wait_for(
            f"program {seed_id} to leave the textfile",
            lambda: (
                (t := try_get(url, timeout=30)) and str(seed_id) not in info_samples(t)
            ),
            timeout=60,
        )
        promtool_check(prom_file.read_bytes())
        assert exp.close() == 0, "".join(exp.log)
        assert not prom_file.exists(), "a stopped exporter leaves no stale textfile"
    finally:
        stop(node)


# --- hostile metadata, promtool and the renderer ------------------------------------


@pytest.fixture
def hostile(bpf_objs: Mapping[str, Path]) -> Iterator[bpfbind.BpfObject]:
    with bpfbind.sync.load_object(bpf_objs["hostile_meta"]) as obj:
        yield obj


@pytest.mark.kernel
def test_hostile_metadata_passes_promtool_every_way(
    hostile: bpfbind.BpfObject,
    bpf_objs: Mapping[str, Path],
    exporter_proc: Callable[..., Exporter],
    tmp_path: Path,
) -> None:
    hid = str(hostile.programs["hostile_prog"].id)
    with contextlib.ExitStack() as stack:
        for name in ("seed", "multi", "metadata_used", "odd_names", "kinds"):
            stack.enter_context(bpfbind.sync.load_object(bpf_objs[name]))
        # HTTP, all labels and filtered.
        for args in ([], ["--metadata-labels", "quoted,gitCommit,build,k_999"]):
            exp = exporter_proc(*args)
            text = exp.metrics()
            promtool_check(text)
            labels = info_samples(text)[hid]
            if args:
                assert set(labels) == {
                    "id", "name", "type", "tag", "quoted", "git_commit", "build",
                    "k_999",
                }  # fmt: skip
            else:
                assert sum(k.startswith("k_") for k in labels) == 1000
                assert labels["long_value"] == HOSTILE_LONG
                assert labels["newline"].startswith("[108,105,110,101,32")
                assert labels["control"] == "[1,2,27,91,51,49,109,114,101,100,127,0]"
                assert labels["negative"] == "-1234567890123"
                assert labels["enabled"] == "true"
                assert labels["flavour"] == "SPICY"
                assert labels["ints"] == "[-1,0,7]"
            assert labels["quoted"] == HOSTILE_QUOTED
            assert labels["build"] == '{"major":1,"minor":2,"tag":"rc"}'
            assert exp.close() == 0
        # The textfile, once.
        out = tmp_path / "once.prom"
        proc = subprocess.run(
            [sys.executable, "-m", "bpfbind", "exporter", "--textfile", out, "--once"],
            capture_output=True,
        )
        assert proc.returncode == 0, proc.stderr
        promtool_check(out.read_bytes())
        assert info_samples(out.read_bytes())[hid]["quoted"] == HOSTILE_QUOTED


def test_cli_without_the_extra_and_bad_options() -> None:
    blocked = (
        "import sys; sys.modules['prometheus_client'] = None; "
        "from bpfbind.cli import main; sys.exit(main(['exporter']))"
    )
    proc = subprocess.run(
        [sys.executable, "-c", blocked], capture_output=True, text=True
    )
    assert proc.returncode == 255  # a bpfbind error, as bpftool's
    assert "pip install 'bpfbind[exporter]'" in proc.stderr
    for args, code in ((["--listen", "nowhere"], 2), (["--once"], 2), (["-h"], 0)):
        proc = subprocess.run(
            [sys.executable, "-m", "bpfbind", "exporter", *args],
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert proc.returncode == code, (args, proc.stderr)
    assert "--metadata-labels" in proc.stdout


def test_label_names() -> None:
    assert exporter.label_name("commit_hash") == "commit_hash"
    assert exporter.label_name("gitCommit") == "git_commit"
    assert exporter.label_name("HTTPServer") == "httpserver"
    assert exporter.label_name("a.b-c d") == "a_b_c_d"
    assert exporter.label_name("9lives") == "_9lives"
    assert exporter.label_name("") == "_"
    for fixed in ("id", "name", "type", "tag", "job", "instance"):
        assert exporter.label_name(fixed) == "metadata_" + fixed
    assert exporter.label_name("__x") == "metadata___x"
    assert exporter.label_name("Name") == "metadata_name"


def test_renderer_equals_generate_latest_on_made_up_values() -> None:
    """Values no decoder yields (newlines, control bytes, backslashes, big and odd
    numbers) through both renderers, and past promtool."""
    from prometheus_client import generate_latest

    fam = exporter._Family(
        "bpf_test", 'help with \\ and\nnewline and "quotes"', "gauge"
    )
    values: list[float] = [0, 1, -1, 999_999, 1_000_000, 2**53 + 1, 2**64 - 1, 1.5]
    values += [1e-9, 1.7e9, float("inf"), float("-inf"), float("nan"), -2.5e20]
    for i, v in enumerate(values):
        fam.add((("id", str(i)), ("v", 'a"b\\c\nd\x01e\x7f\u00e9\u2603')), v)
    counter = exporter._Family("bpf_test_runs", "c", "counter")
    counter.add((), 3)
    fixed = exporter._Fixed([fam, counter])
    text = exporter.render(fixed)
    assert text == generate_latest(fixed)
    promtool_check(text)


@pytest.mark.kernel
def test_renderer_equals_generate_latest_on_the_host(
    hostile: bpfbind.BpfObject, bpf_objs: Mapping[str, Path]
) -> None:
    from prometheus_client import CollectorRegistry, generate_latest

    with contextlib.ExitStack() as stack:
        for name in ("seed", "multi", "odd_names"):
            stack.enter_context(bpfbind.sync.load_object(bpf_objs[name]))
        collector = exporter.ProgramCollector()
        metrics = collector.collect()
        fixed = exporter._Fixed(metrics)
        assert exporter.render(fixed) == generate_latest(fixed)
        # Any registry takes the collector: prometheus_client's own path works too.
        registry = CollectorRegistry()
        registry.register(exporter.ProgramCollector(metadata_labels=["commit_hash"]))
        text = generate_latest(registry)
        promtool_check(text)
        hid = str(hostile.programs["hostile_prog"].id)
        assert set(info_samples(text)[hid]) == {
            "id",
            "name",
            "type",
            "tag",
            "commit_hash",
        }


@pytest.mark.kernel
def test_interval_serves_the_last_scan(bpf_objs: Mapping[str, Path]) -> None:
    collector = exporter.ProgramCollector(interval=3600)
    first = collector.collect()
    with bpfbind.sync.load_object(bpf_objs["seed"]) as seed:
        assert collector.collect() is first  # within the interval: no new scan
        fresh = exporter.ProgramCollector(interval=0).collect()
        text = exporter.render(exporter._Fixed(fresh))
        assert str(seed.programs["seed_prog"].id) in info_samples(text)


@pytest.mark.kernel
def test_scans_survive_programs_coming_and_going(bpf_objs: Mapping[str, Path]) -> None:
    """Loads and unloads race the scans until both sides have done enough (at least
    5 scans, 50 objects) or a minute has passed; every scan succeeds and renders
    valid text."""
    data = bpf_objs["multi"].read_bytes()
    done = threading.Event()
    churned = [0]
    deadline = time.monotonic() + 60

    def churn() -> None:
        keep: list[bpfbind.BpfObject] = []
        try:
            while not done.is_set() and time.monotonic() < deadline:
                keep.append(bpfbind.sync.load_object(data, name="multi"))
                if len(keep) > 8:
                    keep.pop(0).close()
                churned[0] += 1
        finally:
            for o in keep:
                o.close()

    t = threading.Thread(target=churn)
    collector = exporter.ProgramCollector()
    t.start()
    texts = []
    try:
        while time.monotonic() < deadline and (len(texts) < 5 or churned[0] < 50):
            texts.append(exporter.render(exporter._Fixed(collector.collect())))
    finally:
        done.set()
        t.join()
    assert churned[0] >= 50 and len(texts) >= 5, (churned[0], len(texts))
    assert collector.errors == 0, collector.last_error
    promtool_check(texts[len(texts) // 2])


@pytest.mark.kernel
def test_gzip_as_prometheus_asks(
    bpf_objs: Mapping[str, Path], exporter_proc: Callable[..., Exporter]
) -> None:
    """A gzip body is one member per family, compressed once while the family is
    unchanged; it reads back as the plain text does."""
    import gzip

    exp = exporter_proc()
    with bpfbind.sync.load_object(bpf_objs["multi"]) as multi:
        xdp = str(multi.programs["multi_xdp"].id)
        bodies = []
        for _ in range(2):
            req = urllib.request.Request(
                exp.url + "/metrics", headers={"Accept-Encoding": "gzip"}
            )
            with urllib.request.urlopen(req, timeout=10) as r:
                assert r.headers["Content-Encoding"] == "gzip"
                bodies.append(gzip.decompress(r.read()))
        plain = exp.metrics()
    for text in bodies:
        promtool_check(text)
        assert info_samples(text)[xdp] == info_samples(plain)[xdp]
    assert exp.close() == 0


# --- the process: signals, stats, capabilities ---------------------------------------


@pytest.mark.kernel
def test_sigterm_ends_it_cleanly_and_stats_are_held(
    bpf_objs: Mapping[str, Path], exporter_proc: Callable[..., Exporter]
) -> None:
    exp = exporter_proc("--enable-stats")
    with bpfbind.sync.load_object(bpf_objs["multi"]) as obj:
        text = exp.metrics()
        assert b"bpfbind_bpf_stats_enabled 1.0" in text
        prog = obj.programs["multi_xdp"]
        # A test run counts only while stats are enabled (what the exporter holds).
        prog.test_run(b"\0" * 64, repeat=5)
        runs = info_value(exp.metrics(), "bpf_program_run_count_total", prog.id)
        assert runs is not None and runs >= 5
        assert info_value(exp.metrics(), "bpf_program_run_time_seconds_total", prog.id)
    assert exp.close() == 0, "".join(exp.log)


@pytest.mark.kernel
def test_counters_that_move_are_rebuilt_labels_kept(
    bpf_objs: Mapping[str, Path],
) -> None:
    """With stats held in-process (enable_stats()), a test run moves a program's
    counters: the next collection rebuilds those lines and keeps the labels."""
    from prometheus_client import generate_latest

    with bpfbind.enable_stats(), bpfbind.sync.load_object(bpf_objs["multi"]) as multi:
        prog = multi.programs["multi_xdp"]
        collector = exporter.ProgramCollector(stats_enabled=True)
        before = exporter.render(exporter._Fixed(collector.collect()))
        prog.test_run(b"\0" * 64, repeat=3)
        metrics = collector.collect()
        after = exporter.render(exporter._Fixed(metrics))
        assert after == generate_latest(exporter._Fixed(metrics))
        assert info_samples(after)[str(prog.id)] == info_samples(before)[str(prog.id)]
        runs = info_value(after, "bpf_program_run_count_total", prog.id)
        assert runs is not None
        assert (
            runs
            == (info_value(before, "bpf_program_run_count_total", prog.id) or 0) + 3
        )


def info_value(text: bytes, metric: str, prog_id: int) -> float | None:
    m = re.search(rf'^{metric}{{id="{prog_id}",[^}}]*}} (\S+)$', text.decode(), re.M)
    return float(m.group(1)) if m else None


def _caps_run(caps: str, out: Path) -> subprocess.CompletedProcess[str]:
    """The exporter, once, as a uid 0 that has only `caps` (the kernel checks
    capabilities, never the uid, for bpf(2))."""
    setpriv = shutil.which("setpriv")
    if setpriv is None:
        _unavailable("setpriv (util-linux) not found")
    return subprocess.run(
        [
            setpriv,
            f"--inh-caps=-all,{caps}",
            f"--bounding-set=-all,{caps}",
            "--",
            sys.executable,
            "-m",
            "bpfbind",
            "exporter",
            "--textfile",
            str(out),
            "--once",
        ],
        capture_output=True,
        text=True,
    )


@pytest.mark.kernel
def test_capabilities(bpf_objs: Mapping[str, Path], tmp_path: Path) -> None:
    if os.geteuid() != 0:
        _unavailable("needs root to drop to a set of capabilities")
    out = tmp_path / "caps.prom"
    with bpfbind.sync.load_object(bpf_objs["seed"]) as seed:
        ok = _caps_run("+sys_admin", out)
        assert ok.returncode == 0, ok.stderr
        assert str(seed.programs["seed_prog"].id) in info_samples(out.read_bytes())
        # CAP_BPF and CAP_PERFMON load programs but may not list them.
        refused = _caps_run("+bpf,+perfmon", out)
        assert refused.returncode == 1
        assert "CAP_SYS_ADMIN" in refused.stderr
        assert b"bpfbind_scan_errors_total 1.0" in out.read_bytes()
        assert b"bpf_program_info{" not in out.read_bytes()


def test_native_numbers_are_prometheus_clients() -> None:
    """The native renderer's sample values against floatToGoString, on integers of
    every length, fractions, powers of ten and random doubles."""
    import random

    from prometheus_client.utils import floatToGoString

    rng = random.Random(13)
    values = [float(10**k) for k in range(-12, 25)] + [-0.0, 0.0, 2.0**63, 2.0**64]
    values += [float(rng.randrange(10 ** rng.randrange(1, 20))) for _ in range(2000)]
    values += [rng.random() * 10 ** rng.randrange(-10, 22) for _ in range(2000)]
    values += [-v for v in values[:500]]
    for v in values:
        assert bpfbind._native.Exposition.number(v) == floatToGoString(v), v
