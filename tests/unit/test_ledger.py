"""The ledger records resources before they exist and survives concurrent writers."""
import json
import multiprocessing

import pytest

from lblab.lab import ledger as ledger_mod
from lblab.lab.ledger import Ledger, known_labs


@pytest.fixture(autouse=True)
def run_root(tmp_path, monkeypatch):
    monkeypatch.setattr(ledger_mod, "RUN_ROOT", tmp_path)
    return tmp_path


def test_records_resources_and_faults(run_root):
    ledger = Ledger("lab1")
    ledger.create("/x/reference.yaml", "reference")
    ledger.add("netns", "lab1-r1", node="r1")
    ledger.add("process", "r1/bird", pid=-1, starttime=-1)
    ledger.update("process", "r1/bird", pid=42, starttime=7)
    ledger.add_fault({"id": "f1", "action": "stop", "params": {"node": "r1", "daemon": "bird"}})
    on_disk = json.loads((run_root / "lab1" / "state.json").read_text())
    assert [r["name"] for r in on_disk["resources"]] == ["lab1-r1", "r1/bird"]
    assert on_disk["resources"][1]["data"] == {"pid": 42, "starttime": 7}
    reread = Ledger("lab1").load()
    assert reread.faults()[0]["id"] == "f1"
    reread.remove_fault("f1")
    assert Ledger("lab1").load().faults() == []
    assert known_labs() == ["lab1"]
    reread.remove_file()
    assert known_labs() == []


def _add_many(root, start):
    ledger_mod.RUN_ROOT = root
    ledger = Ledger("lab2")
    for i in range(start, start + 50):
        ledger.add("veth", f"v{i}")


def test_concurrent_writers_lose_nothing(run_root):
    Ledger("lab2").create("/x", "x")
    workers = [multiprocessing.Process(target=_add_many, args=(run_root, s)) for s in (0, 100, 200)]
    for w in workers:
        w.start()
    for w in workers:
        w.join(30)
    names = {r.name for r in Ledger("lab2").load().resources("veth")}
    assert names == {f"v{i}" for s in (0, 100, 200) for i in range(s, s + 50)}


def test_readers_see_other_writers_changes_and_look_resources_up(run_root):
    Ledger("lab3").create("/x", "x")
    reader = Ledger("lab3").load()
    writer = Ledger("lab3").load()
    assert reader.resource("process", "lb1/lbserver") is None
    writer.add("process", "lb1/lbserver", pid=-1, starttime=-1)
    writer.update("process", "lb1/lbserver", pid=42, starttime=7)
    reader.refresh()
    assert reader.resource("process", "lb1/lbserver").data == {"pid": 42, "starttime": 7}
    writer.add_many("veth", [("v1", {"node": "a"}), ("v2", {"node": "b"})])
    assert [r.name for r in reader.refresh() and reader.resources("veth")] == ["v1", "v2"]
    assert reader.resource("veth", "v2").data == {"node": "b"}
    writer.discard("veth", "v1")
    reader.refresh()
    assert reader.resource("veth", "v1") is None and reader.resource("veth", "v2") is not None
