"""The node status reporter (python -m lbapp.statusreport) against a real etcd: what it writes,
how fast it follows a change, that its reports vanish with its lease when it dies and at once when
it stops, that a DNS node takes back only its own VIP claim, and that etcd away is survived."""
from __future__ import annotations

import asyncio
import json
import os
import signal
import time

import pytest

from lbapp import keys
from lbapp.etcd import EtcdClient
from lbapp.statusreport import Reporter, vip_source
from tests.integration.harness import PY, free_port, missing_daemons, wait_until

pytestmark = pytest.mark.skipif(
    bool(missing_daemons()),
    reason=f"integration tests need {' and '.join(missing_daemons())} on PATH")

ANNOUNCE = keys.announce_status_key("lb1")
VIP = keys.dns_vip_status_key()


def read(endpoint: str, key: str):
    """(value as JSON, lease) of a key, or None."""
    async def get():
        async with EtcdClient([endpoint]) as etcd:
            return await etcd.get(key)
    kv = asyncio.run(get())
    return None if kv is None else (json.loads(kv.value), kv.lease)


def reporter(lab, etcd, name: str, *args: str):
    return lab.start(f"reporter-{name}", [PY, "-m", "lbapp.statusreport", "--node", name,
                                          "--etcd", etcd.endpoint, "--interval-ms", "50",
                                          "--refresh-ms", "300", "--ttl-s", "2", *args])


def write_state(path, announcing: bool, pid: int | None = None) -> None:
    path.write_text(json.dumps({"announcing": announcing, "since": time.time(), "reason": "test",
                                "pid": pid or os.getpid()}))


def test_announcement_follows_the_state_file_and_vanishes_with_the_reporter(lab, tmp_path):
    etcd = lab.etcd()
    state = tmp_path / "announcer.state"
    write_state(state, True)
    proc = reporter(lab, etcd, "lb1", "--announce-state", str(state))
    value, lease = wait_until(lambda: read(etcd.endpoint, ANNOUNCE), 10, "the first report")
    assert value["announced"] is True and value["reason"] == "test" and lease != 0
    changed = time.monotonic()
    write_state(state, False)
    wait_until(lambda: read(etcd.endpoint, ANNOUNCE)[0]["announced"] is False, 5, "the withdrawal")
    assert time.monotonic() - changed < 1.0
    first_at = read(etcd.endpoint, ANNOUNCE)[0]["at"]
    wait_until(lambda: read(etcd.endpoint, ANNOUNCE)[0]["at"] > first_at, 3, "a refresh")
    write_state(state, True, pid=2 ** 22 + 7)          # the announcer died: no word from it
    wait_until(lambda: read(etcd.endpoint, ANNOUNCE)[0]["announced"] is None, 3, "unknown state")
    assert read(etcd.endpoint, ANNOUNCE)[0]["reason"] == "announcer not running"
    proc.signal(signal.SIGTERM)
    assert proc.wait(5) == 0
    assert read(etcd.endpoint, ANNOUNCE) is None      # lease revoked on a clean stop

    write_state(state, True)
    proc = reporter(lab, etcd, "lb1", "--announce-state", str(state))
    wait_until(lambda: read(etcd.endpoint, ANNOUNCE), 10, "the report of the new reporter")
    proc.signal(signal.SIGKILL)
    killed = time.monotonic()
    wait_until(lambda: read(etcd.endpoint, ANNOUNCE) is None, 6, "the report to expire")
    assert time.monotonic() - killed >= 0.5          # it expired with the lease (TTL 2 s)


def test_only_the_dns_node_holding_the_vip_reports_it(lab):
    etcd = lab.etcd()
    holder = reporter(lab, etcd, "dns1", "--dns-vip", "127.0.0.1")     # on lo: held
    reporter(lab, etcd, "dns2", "--dns-vip", "127.0.0.2")              # not an address here
    value, _ = wait_until(lambda: read(etcd.endpoint, VIP), 10, "the VIP report")
    assert value["holder"] == "dns1" and value["address"] == "127.0.0.1"
    time.sleep(0.8)                                  # dns2 ran several rounds meanwhile
    assert read(etcd.endpoint, VIP)[0]["holder"] == "dns1"
    holder.signal(signal.SIGTERM)
    holder.wait(5)
    assert read(etcd.endpoint, VIP) is None


def test_a_node_takes_back_its_own_claim_and_no_other(lab):
    etcd = lab.etcd()
    held = {"a": True, "b": False}

    def addresses(node):
        async def local():
            return {"192.0.2.53"} if held[node] else set()
        return local

    async def scenario():
        async with EtcdClient([etcd.endpoint]) as client:
            a = Reporter(client, {VIP: vip_source("192.0.2.53", "a", addresses("a"))}, 3, 0.2)
            b = Reporter(client, {VIP: vip_source("192.0.2.53", "b", addresses("b"))}, 3, 0.2)
            seen = []
            for step in ({"a": True, "b": False}, {"a": False, "b": False},
                         {"a": False, "b": True}, {"a": False, "b": True}):
                held.update(step)
                await a.tick()
                await b.tick()
                kv = await client.get(VIP)
                seen.append(json.loads(kv.value)["holder"] if kv else None)
            return seen
    assert asyncio.run(scenario()) == ["a", None, "b", "b"]


def test_etcd_away_is_logged_once_and_survived(lab, tmp_path):
    state = tmp_path / "announcer.state"
    write_state(state, True)
    proc = lab.start("reporter-away", [PY, "-m", "lbapp.statusreport", "--node", "lb1",
                                       "--etcd", f"http://127.0.0.1:{free_port()}",
                                       "--interval-ms", "50", "--refresh-ms", "100",
                                       "--announce-state", str(state)])
    wait_until(lambda: "retrying" in proc.output() or not proc.alive(), 15, "the first failure")
    time.sleep(1.5)                                  # 15 more rounds without etcd
    assert proc.alive(), proc.output()
    assert proc.output().count("retrying") == 1, proc.output()
