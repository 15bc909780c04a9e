"""`prog show` over more programs than one scan batch (1024): the output is streamed
batch by batch and must still be one valid document, identical in every form."""

from __future__ import annotations

import contextlib
import json
import subprocess
import sys
from pathlib import Path

import pytest

import bpfbind

pytestmark = pytest.mark.kernel


def show(*args: str) -> str:
    return subprocess.run(
        [sys.executable, "-m", "bpfbind", *args, "prog", "show"],
        check=True,
        capture_output=True,
        text=True,
    ).stdout


def test_listing_across_batches_is_one_document(bpf_objs: dict[str, Path]) -> None:
    data = bpf_objs["multi"].read_bytes()
    with contextlib.ExitStack() as stack:
        ids: set[int] = set()
        while len(ids) < 1100:  # 4 programs an object: past one 1024-program batch
            obj = stack.enter_context(bpfbind.sync.load_object(data, name="multi"))
            ids.update(p.id for p in obj.programs.values())
        compact, pretty, plain = show("-j"), show("-p"), show()
    listed = json.loads(compact)
    assert json.loads(pretty) == listed
    assert [e["id"] for e in listed] == sorted(e["id"] for e in listed)
    mine = [e for e in listed if e["id"] in ids]
    assert len(mine) == len(ids)
    assert all(e["metadata"]["version"] == "1.2.3" for e in mine)
    headers = [line for line in plain.splitlines() if not line.startswith("\t")]
    assert [int(h.split(":", 1)[0]) for h in headers] == [e["id"] for e in listed]
