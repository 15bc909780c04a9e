"""`bpfbind.show`: bpftool's texts from Python, the same the `bpfbind` command prints,
for programs of our own (no other process's program is compared)."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
from conftest import FEATURE_NAMES
from conftest import cli_stdout as cli

import bpfbind
from bpfbind import show


@pytest.mark.kernel
def test_a_program_formats_as_the_cli_shows_it(bpf_objs: dict[str, Path]) -> None:
    with bpfbind.sync.load_object(bpf_objs["metadata_used"]) as obj:
        prog = obj.programs["prog"]
        rec = show.program(bpfbind.Id(prog.id))
        assert rec.id == prog.id and show.program(prog).id == prog.id
        ident = str(prog.id)
        for flags, text in [
            ((), show.format_plain([rec])),
            (("--metadata",), show.format_plain([rec], metadata_only=True)),
            (("-j",), show.format_json([rec], single=True)),
            (("-p",), show.format_json([rec], single=True, pretty=True)),
        ]:
            ours = text.rstrip("\n")
            theirs = cli(*flags, "--no-pids", "prog", "show", "id", ident).rstrip("\n")
            if flags and flags[0] in ("-j", "-p"):
                ours_d, theirs_d = json.loads(ours), json.loads(theirs)
                assert ours_d == theirs_d, flags
            else:
                assert ours == theirs, flags
        # With pids, as the command prints by default: this process holds it.
        held = show.program(prog, pids=True)
        assert held.pids is not None and os.getpid() in [pid for pid, _ in held.pids]
        doc = json.loads(show.format_json([rec], single=True, metadata_only=True))
        assert doc == {
            "id": prog.id,
            "type": "cgroup_skb",
            "name": "prog",
            "tag": prog.tag,
            "metadata": {"a": "foo", "b": 1},
        }
        listed = json.loads(show.format_json([rec, rec], metadata_only=True))
        assert listed == [doc, doc]


@pytest.mark.kernel
def test_batches_hold_every_program_once(bpf_objs: dict[str, Path]) -> None:
    with bpfbind.sync.load_object(bpf_objs["multi"]) as obj:
        mine = {p.id for p in obj.programs.values()}
        seen = [r.id for chunk in show.iter_batches(batch=2) for r in chunk]
        assert mine <= set(seen)
        assert seen == sorted(seen) and len(seen) == len(set(seen))
        tag = obj.programs[next(iter(obj.programs))].tag
        tagged = [r for chunk in show.iter_batches(tag=tag) for r in chunk]
        assert tagged and all(r.tag == tag for r in tagged)


def test_object_metadata_is_read_without_loading(bpf_objs: dict[str, Path]) -> None:
    items, warning = show.object_metadata(bpf_objs["metadata_used"])
    assert warning is None
    assert [(i.name, i.value, i.convention) for i in items] == [
        ("a", "foo", "rodata"),
        ("b", 1, "rodata"),
    ]
    assert [(i.json, i.plain) for i in items] == [('"foo"', '"foo"'), ("1", "1")]


def test_features_name_what_the_cli_prints() -> None:
    feats = show.features()
    assert list(feats) == FEATURE_NAMES
    assert json.loads(cli("feature", "probe", "-j")) == feats
