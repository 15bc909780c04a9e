"""Set-up that does not surprise: `make` runs everything with the project's virtualenv
(never the system's Python), and uses whichever supported clang (14-22) is installed,
`clang` or `clang-NN`, instead of installing another."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
FIND = ROOT / "scripts" / "find_clang.sh"


def find_clang(
    path: str, *args: str, clang: str = ""
) -> subprocess.CompletedProcess[str]:
    env = {"PATH": f"{path}:/usr/bin:/bin"}
    if clang:
        env["CLANG"] = clang
    return subprocess.run(
        ["/bin/bash", str(FIND), *args], capture_output=True, text=True, env=env
    )


def fake_clang(where: Path, name: str, version: str) -> Path:
    exe = where / name
    exe.write_text(f"#!/bin/sh\necho 'Debian clang version {version} (x)'\n")
    exe.chmod(0o755)
    return exe


def test_find_clang_takes_the_installed_clang_nn(tmp_path: Path) -> None:
    # No `clang` of a supported version, a clang-17: that one, not a new install.
    fake_clang(tmp_path, "clang", "9.0.1")
    want = fake_clang(tmp_path, "clang-17", "17.0.6")
    fake_clang(tmp_path, "clang-13", "13.0.1")
    # Only the fakes: hide the system's clangs by giving find_clang.sh a PATH of them.
    only = tmp_path / "only"
    only.mkdir()
    for exe in tmp_path.iterdir():
        if exe.is_file():
            (only / exe.name).symlink_to(exe)
    for tool in ("sed", "head", "seq"):
        (only / tool).symlink_to(shutil.which(tool) or f"/usr/bin/{tool}")
    env = {"PATH": str(only)}
    proc = subprocess.run(
        ["/bin/bash", str(FIND)], capture_output=True, text=True, env=env
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == str(only / want.name)
    # At least 18: none of these.
    proc = subprocess.run(
        ["/bin/bash", str(FIND), "18"],
        capture_output=True,
        text=True,
        env={"PATH": str(only)},
    )
    assert proc.returncode == 1 and proc.stdout == ""


def test_find_clang_honours_clang_and_refuses_old_ones(tmp_path: Path) -> None:
    old = fake_clang(tmp_path, "clang-old", "12.0.0")
    assert find_clang(str(tmp_path), clang=str(old)).returncode == 1
    new = fake_clang(tmp_path, "clang-new", "21.1.0")
    proc = find_clang(str(tmp_path), clang=str(new))
    assert proc.returncode == 0 and proc.stdout.strip() == str(new)


WHERE = "import bpfbind, sys; print(bpfbind.__file__, sys.prefix)"


def make_n(*args: str) -> str:
    if shutil.which("make") is None:
        pytest.skip("no make")
    return subprocess.run(
        ["make", "-n", "-C", str(ROOT), *args],
        capture_output=True,
        text=True,
        check=True,
        env={k: v for k, v in os.environ.items() if k not in ("PY", "VENV")},
    ).stdout


def test_make_runs_python_from_the_project_virtualenv(tmp_path: Path) -> None:
    out = make_n("test-py")
    assert f"{ROOT}/.venv/bin/python -m pytest" in out
    out = make_n("test-py", f"VENV={tmp_path}/v")
    assert f"{tmp_path}/v/bin/python -m pytest" in out
    out = make_n("setup")
    assert "VENV=.venv ./scripts/setup.sh" in out


def test_a_set_up_virtualenv_holds_this_tree_and_leaves_the_base_python_alone() -> None:
    venv_py = ROOT / ".venv" / "bin" / "python"
    if not venv_py.exists():
        pytest.skip("make setup has not been run in this tree")
    where = subprocess.run(
        [str(venv_py), "-c", WHERE],
        capture_output=True,
        text=True,
        check=True,
        env={k: v for k, v in os.environ.items() if k != "PYTHONPATH"},
        cwd="/",
    ).stdout.split()
    assert Path(where[0]).is_relative_to(ROOT / "python"), where
    assert Path(where[1]) == ROOT / ".venv"
    # The interpreter the venv was made from has no install pointing at this tree.
    base = subprocess.run(
        [str(venv_py), "-c", "import sys; print(sys.base_prefix)"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    for pth in Path(base).glob("lib/python3*/site-packages/*.pth"):
        assert str(ROOT) not in pth.read_text(), pth
