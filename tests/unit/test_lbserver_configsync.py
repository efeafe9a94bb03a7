import base64
import json
import logging

import pytest

from lbapp.etcd import TxnResult
from lbapp.lbserver.configsync import ConfigSync, EtcdView, parse_health, view_from_txn
from lbapp.lbserver.runtime import Runtime
from lbapp.lbserver.settings import parse_settings

SETTINGS = parse_settings({
    "name": "lb1", "lb_id": "payment", "listen": ["127.0.0.1:8000"],
    "admin_listen": "127.0.0.1:9100", "etcd_endpoints": ["http://127.0.0.1:2379"],
})
CONFIG = {"backend_servers": [{"name": "be1", "address": "127.0.0.1", "port": 8081},
                              {"name": "be2", "address": "127.0.0.1", "port": 8082}],
          "poll_frequency": 1000}


def view(config, revision, health=None):
    value = None if config is None else (config if isinstance(config, bytes)
                                         else json.dumps(config).encode())
    entries = {name: (json.dumps(v).encode() if not isinstance(v, bytes) else v, revision)
               for name, v in (health or {}).items()}
    return EtcdView(revision=revision, config_value=value, config_mod_revision=revision,
                    health=entries)


@pytest.fixture
def sync():
    return ConfigSync(SETTINGS, Runtime(SETTINGS))


def test_first_valid_config_is_applied(sync):
    assert sync.apply_view(view(CONFIG, 5), "initial") == "applied"
    snap = sync.rt.snapshot
    assert snap.version == 5 and sorted(snap.backends) == ["be1", "be2"]
    assert sync.stats.version == 5 and sync.stats.applied_at > 0
    assert sync.rt.ready()


def test_same_revision_is_unchanged(sync):
    sync.apply_view(view(CONFIG, 5), "initial")
    first = sync.rt.snapshot
    assert sync.apply_view(view(CONFIG, 5), "poll") == "unchanged"
    assert sync.rt.snapshot is first


def test_invalid_config_rejected_once_and_old_kept(sync, caplog):
    sync.apply_view(view(CONFIG, 5), "initial")
    with caplog.at_level(logging.ERROR):
        assert sync.apply_view(view({"backend_servers": []}, 6), "push") == "rejected"
    assert sync.rt.snapshot.version == 5
    assert sync.stats.rejected == 1
    assert "etcd:/lblab/lb/payment/config@6" in caplog.text
    assert "backend_servers" in caplog.text
    caplog.clear()
    assert sync.apply_view(view({"backend_servers": []}, 6), "poll") == "unchanged"
    assert sync.stats.rejected == 1 and not caplog.text


def test_invalid_json_rejected_before_any_config(sync):
    assert sync.apply_view(view(b"{not json", 3), "initial") == "rejected"
    assert sync.rt.snapshot is None and not sync.rt.ready()
    assert sync.apply_view(view(CONFIG, 4), "push") == "applied"


def test_missing_key(sync):
    assert sync.apply_view(view(None, 0), "initial") == "error"
    sync.apply_view(view(CONFIG, 5), "initial")
    assert sync.apply_view(view(None, 0), "poll") == "unchanged"
    assert sync.rt.snapshot.version == 5


def test_health_change_rebuilds_balancer(sync):
    sync.apply_view(view(CONFIG, 5), "initial")
    before = sync.rt.snapshot
    assert sync.apply_view(view(CONFIG, 5, {"be2": {"healthy": False}}), "push") == "applied"
    after = sync.rt.snapshot
    assert after is not before and after.unhealthy == {"be2"}
    # the pools carry over
    assert after.backends["be1"] is before.backends["be1"]
    picks = {after.balancer.pick(None, ()) for _ in range(10)}
    assert picks == {"be1"}


def test_all_unhealthy_means_not_ready(sync):
    sync.apply_view(view(CONFIG, 5, {"be1": {"healthy": False}, "be2": {"healthy": False}}),
                    "initial")
    assert not sync.rt.ready()
    assert "no usable backend" in sync.rt.not_ready_reason()


def test_parse_health_fails_open():
    warned = set()
    health = parse_health({"be1": (b'{"healthy": false, "checked_by": "orch2"}', 7),
                           "be2": (b"garbage", 8), "be3": (b'{"healthy": "no"}', 9)},
                          "/p/", warned)
    assert health == {"be1": False, "be2": True, "be3": True}
    assert warned == {("be2", 8), ("be3", 9)}


def test_view_from_txn():
    def b64(x):
        return base64.b64encode(x.encode()).decode()
    response = {
        "header": {"revision": "42"},
        "succeeded": True,
        "responses": [
            {"response_range": {"kvs": [{"key": b64("/lblab/lb/payment/config"),
                                         "value": b64('{"a": 1}'), "mod_revision": "40"}],
                                "count": "1"}},
            {"response_range": {"kvs": [{"key": b64("/lblab/lb/payment/health/be1"),
                                         "value": b64('{"healthy": true}'),
                                         "mod_revision": "41"}]}},
        ],
    }
    v = view_from_txn(TxnResult.decode(response), "/lblab/lb/payment/health/")
    assert v.revision == 42 and v.config_mod_revision == 40
    assert v.config_value == b'{"a": 1}'
    assert v.health == {"be1": (b'{"healthy": true}', 41)}
    empty = view_from_txn(TxnResult.decode({
        "header": {"revision": "3"},
        "responses": [{"response_range": {}}, {"response_range": {}}]}), "/x/")
    assert empty.config_value is None and empty.health == {}



def test_a_maglev_table_is_built_off_the_event_loop(sync):
    """Every LB applies a change at once: building a big Maglev table on the event loop would
    stall every LB's readiness together (their announcers then withdraw the VIP at once)."""
    import asyncio
    import time

    servers = [{"name": f"be{i}", "address": "127.0.0.1", "port": 10000 + i} for i in range(1000)]
    config = {**CONFIG, "backend_servers": servers, "algorithm": "maglev"}
    sync.apply_view(view(CONFIG, 5), "initial")

    class Reader:
        async def read(self, *_args):
            await asyncio.sleep(0.01)       # a real read waits for etcd
            return view(config, 6)

    sync.reader = Reader()

    async def run() -> tuple[float, float]:
        longest, stop = 0.0, asyncio.Event()

        async def ticker():
            nonlocal longest
            last = time.monotonic()
            while not stop.is_set():
                await asyncio.sleep(0.005)
                now = time.monotonic()
                longest, last = max(longest, now - last), now

        task = asyncio.create_task(ticker())
        await asyncio.sleep(0.05)
        started = time.monotonic()
        assert await sync.refresh("push") == "applied"
        took = time.monotonic() - started
        stop.set()
        await task
        return longest, took

    longest, took = asyncio.run(run())
    assert sync.rt.snapshot.version == 6 and sync.rt.snapshot.config.algorithm == "maglev"
    # Built on the loop, the longest stall is the whole refresh; off the loop the loop keeps
    # running through it (on a loaded machine with gaps of its own, hence a ratio, not a time).
    assert longest < 0.75 * took, (longest, took)
