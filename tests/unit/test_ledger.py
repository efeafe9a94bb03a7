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
