"""Fencing, in process against a real 3-member etcd: a leader or member that still *believes*
it may act (its local lease window is forced open, as if its clock had not noticed a pause)
has every write refused by etcd once its lease is gone. This is the second line of defence
behind the local window; the process tests show the first."""
from __future__ import annotations

import asyncio
import json

import pytest

from lbapp import keys
from lbapp.etcd import EtcdClient, Op
from lbapp.etcd.session import LeaseSession
from lbapp.orchestrator.history import HistoryWriter
from lbapp.orchestrator.leader import Leader
from lbapp.orchestrator.member import Followed, Member, SessionLost
from lbapp.orchestrator.metrics import OrchestratorStats
from lbapp.orchestrator.publish import Publisher
from lbapp.orchestrator.settings import parse_settings
from lbapp.orchestrator.values import HealthValue, Shard, Target
from tests.integration.harness import needs_daemons
from tests.integration.orchharness import FAST_ETCD

pytestmark = needs_daemons


@pytest.fixture
def cluster(lab):
    return lab.etcd_cluster(3, *FAST_ETCD)


def frozen(session: LeaseSession) -> None:
    """Stop refreshing the lease but keep believing it is valid (a paused process's view)."""
    session._task.cancel()
    session.clock = lambda: 0.0
    session._expiry = 1.0


async def until_gone(etcd: EtcdClient, lease_id: int, timeout: float = 5.0) -> None:
    async with asyncio.timeout(timeout):
        while (await etcd.lease_time_to_live(lease_id)).ttl >= 0:  # -1: expired
            await asyncio.sleep(0.05)


def test_deposed_leader_write_fails(cluster, tmp_path):
    async def main():
        async with EtcdClient(cluster.endpoints) as etcd:
            stats, history = OrchestratorStats("a"), HistoryWriter(None, "a")
            old_session = await LeaseSession.open(etcd, 1, name="a")
            old_key = await etcd.campaign(keys.ORCHESTRATOR_ELECTION, "a", old_session.lease_id)
            old = Leader("a", etcd, old_session, old_key, stats, history)
            await old.fenced([Op.put("/t/x", "from a")], "first write")   # works while it leads
            frozen(old_session)
            await until_gone(etcd, old_session.lease_id)
            new_session = await LeaseSession.open(etcd, 1, name="b")
            new_key = await asyncio.wait_for(
                etcd.campaign(keys.ORCHESTRATOR_ELECTION, "b", new_session.lease_id), 5)
            assert new_key.rev > old_key.rev
            new = Leader("b", etcd, new_session, new_key, stats, history)
            await new.fenced([Op.put("/t/x", "from b")], "write")
            assert old_session.valid()  # it still thinks it leads...
            with pytest.raises(SessionLost, match="fenced"):
                await old.fenced([Op.put("/t/x", "late from a")], "late write")
            assert (await etcd.get("/t/x")).value == b"from b"  # ...and etcd refused it
            await new_session.close()
    asyncio.run(main())


def test_member_health_write_fenced_by_assignment_and_registration(cluster, tmp_path):
    settings = parse_settings({"name": "m1", "etcd_endpoints": cluster.endpoints,
                               "health_check": {"interval_ms": 200, "timeout_ms": 150}})

    async def main():
        async with EtcdClient(cluster.endpoints) as etcd:
            stats = OrchestratorStats("m1")
            session = await LeaseSession.open(etcd, 1, name="m1")
            member = Member(settings, etcd, session, Publisher(None, stats, "m1"),
                            HistoryWriter(tmp_path / "h.jsonl", "m1"), stats)
            await member.register()
            target = Target(address="127.0.0.1", port=1, path="/health")
            doc = Shard(term=3, leader="x", at=0, members=["m1"], targets={"payment/be1": target})
            shard_key = keys.shard_key("m1")
            revision = (await etcd.put(shard_key, doc.model_dump_json())).revision
            member.followed = Followed(doc, revision)
            value = HealthValue(healthy=False, term=3, reason="timeout", checker="m1", at=0)
            health = keys.health_key("payment", "be1")
            assert await member._write("payment/be1", value) == "written"
            assert json.loads((await etcd.get(health)).value)["healthy"] is False
            # a new term rewrites the shard: the write made under the old one is refused
            await etcd.put(shard_key, doc.model_copy(update={"term": 4}).model_dump_json())
            healthy = value.model_copy(update={"healthy": True})
            assert await member._write("payment/be1", healthy) == "fenced"
            # the lease expires while the member believes it is valid: refused, and it knows why
            member.followed = Followed(doc, (await etcd.get(shard_key)).mod_revision)
            frozen(session)
            await until_gone(etcd, session.lease_id)
            assert await member._write("payment/be1", healthy) == "lost"
            assert json.loads((await etcd.get(health)).value)["healthy"] is False
            member.history.close()
        lines = [json.loads(l) for l in (tmp_path / "h.jsonl").read_text().splitlines()]
        assert [l["written"] for l in lines if l["ev"] == "health"] == [True, False, False]
    asyncio.run(main())
