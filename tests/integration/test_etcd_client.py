"""lbapp.etcd against a real 3-member etcd on 127.0.0.1, including a SIGSTOPped member (its
kernel still accepts connections, nothing answers: what dropped packets look like to a client)."""
from __future__ import annotations

import asyncio
import json
import signal
import time
import urllib.request

import pytest

from lbapp.etcd import (Compacted, Compare, EtcdClient, EtcdTimeout, EtcdUnavailable, Op)
from tests.integration.harness import free_port, missing_daemons

pytestmark = pytest.mark.skipif(
    bool(missing_daemons()),
    reason=f"integration tests need {' and '.join(missing_daemons())} on PATH")

TIMEOUT = 0.5


@pytest.fixture
def cluster(lab):
    return lab.etcd_cluster(3)


def run(coro):
    return asyncio.run(coro)


def stopped(member):
    """Context: the member SIGSTOPped for the block, SIGCONTed after it."""
    class _Stopped:
        def __enter__(self):
            member.proc.signal(signal.SIGSTOP)

        def __exit__(self, *_):
            member.proc.signal(signal.SIGCONT)
    return _Stopped()


def client_first(cluster, member, **options) -> EtcdClient:
    """A client whose endpoint list starts with ``member`` (so it prefers it at first)."""
    rest = [m.endpoint for m in cluster.members if m is not member]
    return EtcdClient([member.endpoint, *rest], timeout=TIMEOUT, **options)


def test_kv_txn_and_revisions(cluster):
    async def main():
        async with EtcdClient(cluster.endpoints) as etcd:
            put = await etcd.put("/t/a", b"\x00\xffbinary")
            assert (await etcd.get("/t/a")).value == b"\x00\xffbinary"
            assert await etcd.get("/t/missing") is None
            await etcd.put("/t/b", "2")
            await etcd.put("/u", "outside the prefix")
            listed = await etcd.get_prefix("/t/")
            assert [kv.key for kv in listed.kvs] == [b"/t/a", b"/t/b"] and listed.count == 2
            assert await etcd.revision() == listed.revision

            kv = await etcd.get("/t/a")
            assert kv.mod_revision == put.revision and kv.version == 1
            won = await etcd.txn([Compare("mod_revision", "/t/a", "=", kv.mod_revision),
                                  Compare("value", "/t/b", "=", "2")],
                                 [Op.put("/t/a", "new"), Op.range("/t/", prefix=True)],
                                 [Op.range("/t/a")])
            assert won.succeeded and won.responses[0].revision == won.revision
            assert [kv.value for kv in won.responses[1].kvs] == [b"new", b"2"]
            lost = await etcd.txn([Compare("mod_revision", "/t/a", "=", kv.mod_revision)],
                                  [Op.put("/t/a", "lost update")], [Op.range("/t/a")])
            assert not lost.succeeded and lost.responses[0].first().value == b"new"
            assert lost.revision == won.revision  # nothing written
            create = await etcd.txn([Compare("create_revision", "/t/c", "=", 0)],
                                    [Op.put("/t/c", "only once")])
            again = await etcd.txn([Compare("create_revision", "/t/c", "=", 0)],
                                   [Op.put("/t/c", "twice")])
            assert create.succeeded and not again.succeeded

            deleted = await etcd.delete("/t/", prefix=True, prev_kv=True)
            assert deleted.deleted == 3 and len(deleted.prev_kvs) == 3
            assert (await etcd.get("/u")).value == b"outside the prefix"
    run(main())


def test_leases(cluster):
    async def main():
        async with EtcdClient(cluster.endpoints) as etcd:
            lease = await etcd.lease_grant(5)
            assert lease.ttl == 5
            await etcd.put("/lease/k", "v", lease=lease.id)
            assert (await etcd.get("/lease/k")).lease == lease.id
            assert await etcd.lease_keepalive(lease.id) == 5
            ttl = await etcd.lease_time_to_live(lease.id, keys=True)
            assert 0 < ttl.ttl <= 5 and ttl.granted_ttl == 5 and ttl.keys == [b"/lease/k"]
            assert await etcd.lease_revoke(lease.id) is True
            assert await etcd.get("/lease/k") is None
            assert await etcd.lease_revoke(lease.id) is False
            assert await etcd.lease_keepalive(lease.id) == 0
            assert (await etcd.lease_time_to_live(lease.id)).ttl == -1
    run(main())


def test_election_campaign_leader_observe_resign(cluster):
    async def main():
        async with EtcdClient(cluster.endpoints) as etcd:
            assert await etcd.leader("/el/test") is None
            a, b = await etcd.lease_grant(10), await etcd.lease_grant(10)
            leader_a = await etcd.campaign("/el/test", "orch1", a.id, timeout=5)
            assert leader_a.lease == a.id
            with pytest.raises(EtcdTimeout):
                await etcd.campaign("/el/test", "orch2", b.id, timeout=0.5)
            assert (await etcd.leader("/el/test")).value == b"orch1"
            async with etcd.observe("/el/test") as observe:
                assert (await anext(observe)).value == b"orch1"
                await etcd.proclaim(leader_a, "orch1 again")
                assert (await anext(observe)).value == b"orch1 again"
                campaign_b = asyncio.ensure_future(
                    etcd.campaign("/el/test", "orch2", b.id, timeout=5))
                await asyncio.sleep(0.2)
                assert not campaign_b.done()
                await etcd.resign(leader_a)
                leader_b = await campaign_b
                assert leader_b.lease == b.id
                assert (await anext(observe)).value == b"orch2"
            # a revoked lease ends the leadership it held
            await etcd.lease_revoke(b.id)
            assert await etcd.leader("/el/test") is None
    run(main())


def test_watch_prefix_in_order_with_history_and_compaction(cluster):
    async def main():
        async with EtcdClient(cluster.endpoints) as etcd:
            first = await etcd.put("/w/a", "1")
            await etcd.put("/w/b", "2")
            await etcd.delete("/w/a")
            await etcd.put("/x", "not watched")
            seen = []
            async with etcd.watch("/w/", prefix=True, start_revision=first.revision,
                                  prev_kv=True) as watch:
                async for event in watch:
                    seen.append((event.type, event.kv.key, event.kv.value,
                                 event.prev_kv.value if event.prev_kv else None))
                    if len(seen) == 4:
                        break
                    if len(seen) == 3:
                        await etcd.put("/w/b", "3")
            assert seen == [("PUT", b"/w/a", b"1", None), ("PUT", b"/w/b", b"2", None),
                            ("DELETE", b"/w/a", b"", b"1"), ("PUT", b"/w/b", b"3", b"2")]
            latest = await etcd.revision()
            compact(cluster.members[0].endpoint, latest)
            with pytest.raises(Compacted) as caught:
                async with etcd.watch("/w/", prefix=True, start_revision=first.revision) as w:
                    await anext(w)
            assert caught.value.compact_revision == latest
    run(main())


def compact(endpoint: str, revision: int) -> None:
    req = urllib.request.Request(f"{endpoint}/v3/kv/compaction",
                                 data=json.dumps({"revision": str(revision)}).encode(),
                                 method="POST")
    urllib.request.urlopen(req, timeout=5).read()


# -- a member that does not answer ------------------------------------------------------------

def test_silent_member_costs_one_short_timeout_once(cluster):
    """The client prefers a member that is then SIGSTOPped: the first write pays one timeout and
    moves on; later writes go straight to a member that answers."""
    silent = cluster.follower()

    async def main():
        async with client_first(cluster, silent) as etcd:
            await etcd.put("/s/warm", "x")
            assert etcd.preferred_endpoint == silent.endpoint
            with stopped(silent):
                times = []
                for i in range(20):
                    started = time.monotonic()
                    await etcd.put("/s/k", str(i))
                    times.append(time.monotonic() - started)
                assert etcd.preferred_endpoint != silent.endpoint
                # reads of a fresh client are hedged: no whole timeout even the first time
                async with client_first(cluster, silent) as fresh:
                    started = time.monotonic()
                    assert (await fresh.get("/s/k")).value == b"19"
                    hedged_read = time.monotonic() - started
            return times, hedged_read

    times, hedged_read = run(main())
    print(f"\nwrites with the preferred member stopped: first {times[0] * 1000:.0f} ms, "
          f"then max {max(times[1:]) * 1000:.0f} ms; hedged first read {hedged_read * 1000:.0f} ms")
    assert TIMEOUT <= times[0] < TIMEOUT + 2.0
    assert max(times[1:]) < TIMEOUT  # never the timeout again
    assert hedged_read < TIMEOUT


def test_refused_member_fails_over_at_once_and_all_down_names_each(cluster, lab):
    dead = f"http://127.0.0.1:{free_port()}"  # nothing listens there

    async def main():
        async with EtcdClient([dead, *cluster.endpoints], timeout=TIMEOUT) as etcd:
            started = time.monotonic()
            result = await etcd.txn([], [Op.put("/r", "1")])
            assert not result.retried_after_timeout  # refused: never sent, never applied
            assert time.monotonic() - started < TIMEOUT
        for member in cluster.members:
            member.proc.kill()
        async with EtcdClient(cluster.endpoints, timeout=TIMEOUT) as etcd:
            with pytest.raises(EtcdUnavailable) as caught:
                await etcd.get("/r")
        for endpoint in cluster.endpoints:
            assert endpoint in str(caught.value)
    run(main())


def test_watch_moves_to_another_member_without_losing_or_repeating(cluster):
    async def main():
        watched = cluster.follower()
        async with client_first(cluster, watched, probe_interval=0.3) as etcd, \
                EtcdClient([m.endpoint for m in cluster.members if m is not watched]) as writer:
            watch = etcd.watch("/f/", prefix=True, start_revision=await writer.revision() + 1)
            seen: list[bytes] = []

            async def consume():
                async for event in watch:
                    seen.append(event.kv.value)
                    if len(seen) == 20:
                        return
            task = asyncio.ensure_future(consume())
            for i in range(10):
                await writer.put("/f/k", str(i))
            await wait_for(lambda: len(seen) == 10, 5)
            with stopped(watched):
                started = time.monotonic()
                for i in range(10, 20):
                    await writer.put("/f/k", str(i))
                await asyncio.wait_for(task, 10)
                moved_after = time.monotonic() - started
            await watch.aclose()
            return seen, moved_after
    seen, moved_after = run(main())
    print(f"\nwatch: every event after its member was stopped arrived within {moved_after:.2f} s")
    assert seen == [str(i).encode() for i in range(20)]
    assert moved_after < 0.3 + TIMEOUT + 1.0  # one probe period, one timeout, reconnect


def test_campaign_waiting_on_a_silent_member_continues_elsewhere(cluster):
    async def main():
        member = cluster.follower()
        async with EtcdClient(cluster.endpoints) as holder, \
                client_first(cluster, member, probe_interval=0.3) as waiter:
            a, b = await holder.lease_grant(10), await waiter.lease_grant(10)
            leader_a = await holder.campaign("/el/f", "a", a.id, timeout=5)
            waiting = asyncio.ensure_future(waiter.campaign("/el/f", "b", b.id, timeout=15))
            await asyncio.sleep(0.5)
            with stopped(member):
                await asyncio.sleep(1.5)  # the watchdog moves the campaign to another member
                await holder.resign(leader_a)
                started = time.monotonic()
                leader_b = await waiting
                return leader_b, b.id, time.monotonic() - started
    leader_b, lease_b, elected_after = run(main())
    assert leader_b.lease == lease_b
    assert elected_after < 2.0


async def wait_for(check, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, "timed out"
        await asyncio.sleep(0.01)
