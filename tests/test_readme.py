"""README read as a newcomer reads it: every fenced block is run in order in a scratch
copy of `examples/` (C compiled with `bpfbind build`, shell run with bash, Python run
with top-level await), so that no command or snippet in it can rot. A block that must
not run here carries `<!-- readme-test: skip (why) -->` on the line before it."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
README = ROOT / "README.md"

# Text that is not a command: configuration for other programs, queries, grammar.
NOT_RUN = {"text", "promql", "yaml", "ini"}

_BLOCK = re.compile(
    r"(?:^<!-- readme-test: skip \((.+?)\) -->\n)?^```(\w*)\n(.*?)^```$", re.M | re.S
)

# Runs one Python block as a module body that may await at top level.
_RUNNER = """\
import ast, asyncio, sys, types
sys.path.insert(0, ".")
source = open(sys.argv[1]).read()
code = compile(source, "README block", "exec", flags=ast.PyCF_ALLOW_TOP_LEVEL_AWAIT)
module = types.ModuleType("__main__")
result = eval(code, module.__dict__)
if asyncio.iscoroutine(result):
    asyncio.run(result)
"""


def blocks() -> list[tuple[str, str, str | None, int]]:
    """(language, body, skip reason, line) of every fenced block."""
    text = README.read_text()
    return [
        (m.group(2), m.group(3), m.group(1), text.count("\n", 0, m.start(2)) + 1)
        for m in _BLOCK.finditer(text)
    ]


def test_every_block_is_of_a_kind_the_test_runs_or_says_why_not() -> None:
    for lang, _, skip, line in blocks():
        assert lang in {"c", "sh", "python"} | NOT_RUN, (line, lang)
        if skip is not None:
            assert len(skip) > 10, (line, skip)


@pytest.mark.kernel
def test_readme_blocks_run(tmp_path: Path) -> None:
    shutil.copytree(ROOT / "examples", tmp_path / "examples")
    shim = tmp_path / "bin"
    shim.mkdir()
    (shim / "bpfbind").write_text(f'#!/bin/sh\nexec {sys.executable} -m bpfbind "$@"\n')
    (shim / "bpfbind").chmod(0o755)
    # README's commands say `clang`; where only clang-NN is installed, they run that.
    clang = shutil.which(os.environ.get("CLANG", "clang"))
    if shutil.which("clang") is None and clang is not None:
        (shim / "clang").symlink_to(clang)
    env = dict(os.environ, PATH=f"{shim}:{os.environ['PATH']}")
    env["PYTHONPATH"] = os.pathsep.join(
        [str(ROOT / "python"), env.get("PYTHONPATH", "")]
    )
    (tmp_path / "runner.py").write_text(_RUNNER)
    # What README asks first of all: the example built.
    subprocess.run(["bpfbind", "build", "examples/prog.bpf.c"], cwd=tmp_path, env=env,
                   check=True, capture_output=True)
    ran = {"c": 0, "sh": 0, "python": 0}
    # Twice: what README shows can be run again (pins replaced, files rewritten).
    todo = [*enumerate(blocks())] * 2
    try:
        for i, (lang, body, skip, line) in todo:
            if skip is not None or lang in NOT_RUN:
                continue
            if lang == "c":
                src = tmp_path / f"readme_{i}.bpf.c"
                src.write_text(body)
                argv = ["bpfbind", "build", str(src)]
            elif lang == "sh":
                argv = ["bash", "-euo", "pipefail", "-c", body]
            else:
                (tmp_path / f"readme_{i}.py").write_text(body)
                argv = [sys.executable, "runner.py", f"readme_{i}.py"]
            proc = subprocess.run(argv, cwd=tmp_path, env=env, capture_output=True,
                                  text=True, timeout=300)
            assert proc.returncode == 0, (
                f"README.md line {line} ({lang}) failed:\n{body}\n"
                f"stdout:\n{proc.stdout}\nstderr:\n{proc.stderr}"
            )
            ran[lang] += 1
        # The snippets leave nothing pinned behind them.
        left = os.path.exists("/sys/fs/bpf/myapp")
    finally:
        for leftover in ("/sys/fs/bpf/myapp", "/sys/fs/bpf/myapp-cli"):
            if os.path.isdir(leftover):
                shutil.rmtree(leftover)
    assert all(ran.values()), ran
    assert not left
