import asyncio
import base64
import json

import pytest
from hypothesis import given, strategies as st

from lbapp.etcd.codec import (Compare, EtcdError, LeaseNotFound, NoLeader, Op, RangeResult,
                              TxnResult, b64, decode_error, decode_watch_events, header_revision,
                              prefix_range_end, range_request, split_stream, txn_is_read_only,
                              txn_request)
from lbapp.etcd.transport import EndpointFailed, Transport, parse_endpoint, unwrap


def enc(text: str) -> str:
    return base64.b64encode(text.encode()).decode()


def test_prefix_range_end():
    assert prefix_range_end("/a/health/") == b"/a/health0"
    assert prefix_range_end(b"a\xff") == b"b"
    assert prefix_range_end(b"\xff\xff") == b"\x00"


@given(st.binary(min_size=1, max_size=20), st.binary(max_size=10))
def test_prefix_range_end_bounds_exactly_the_prefix(prefix, suffix):
    end = prefix_range_end(prefix)
    if end != b"\x00":
        assert prefix <= prefix + suffix < end
    other = bytes([prefix[0] ^ 0x80]) + prefix[1:]
    if not other.startswith(prefix):
        inside = prefix <= other and (end == b"\x00" or other < end)
        assert not inside


def test_compare_encoding():
    assert Compare("mod_revision", "/k", "=", 7).encode() == {
        "key": enc("/k"), "target": "MOD", "result": "EQUAL", "mod_revision": "7"}
    assert Compare("create_revision", "/k", "=", 0).encode()["target"] == "CREATE"
    assert Compare("value", "/k", "!=", "v").encode() == {
        "key": enc("/k"), "target": "VALUE", "result": "NOT_EQUAL", "value": enc("v")}
    assert Compare("version", b"/k", ">", 1).encode()["result"] == "GREATER"
    with pytest.raises(ValueError, match="integer operand"):
        Compare("mod_revision", "/k", "=", "7").encode()
    with pytest.raises(ValueError, match="target"):
        Compare("nope", "/k", "=", 1).encode()  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="op"):
        Compare("version", "/k", "~", 1).encode()  # type: ignore[arg-type]


def test_requests():
    assert range_request("/p/", prefix=True, limit=5, serializable=True) == {
        "key": enc("/p/"), "range_end": enc("/p0"), "limit": "5", "serializable": True}
    assert range_request("/k") == {"key": enc("/k")}
    body = txn_request([], [Op.range("/a"), Op.range("/b", prefix=True)], [Op.range("/c")])
    assert txn_is_read_only(body)
    assert not txn_is_read_only(txn_request([], [Op.range("/a")], [Op.put("/a", "x")]))
    assert Op.put("/k", b"\x00", lease=9) == {"request_put": {"key": enc("/k"), "value": "AA==",
                                                              "lease": "9"}}
    assert Op.delete("/p/", prefix=True)["request_delete_range"]["range_end"] == enc("/p0")


def test_decode_txn_with_defaults_left_out():
    doc = {"header": {"revision": "12"}, "responses": [
        {"response_range": {"kvs": [{"key": enc("/k"), "value": enc("v"),
                                     "create_revision": "3", "mod_revision": "11",
                                     "version": "4"}], "count": "1"}},
        {"response_put": {"header": {"revision": "12"}}},
        {"response_delete_range": {"deleted": "2"}},
        {"response_range": {}},
    ]}
    result = TxnResult.decode(doc)
    assert not result.succeeded and result.revision == 12  # "succeeded" left out: false
    kv = result.responses[0].first()
    assert (kv.key, kv.value, kv.create_revision, kv.mod_revision, kv.version, kv.lease) == (
        b"/k", b"v", 3, 11, 4, 0)
    assert result.responses[1].revision == 12 and result.responses[2].deleted == 2
    assert result.responses[3] == RangeResult(revision=12, kvs=[], count=0)
    assert header_revision({}) == 0


def test_decode_watch_events_put_is_the_default_type():
    events = decode_watch_events({"events": [
        {"kv": {"key": enc("/a"), "value": enc("1"), "mod_revision": "5"}},
        {"type": "DELETE", "kv": {"key": enc("/a"), "mod_revision": "6"},
         "prev_kv": {"key": enc("/a"), "value": enc("1")}}]})
    assert [(e.type, e.kv.mod_revision) for e in events] == [("PUT", 5), ("DELETE", 6)]
    assert events[1].prev_kv.value == b"1" and events[0].prev_kv is None


@pytest.mark.parametrize("status,body,kind,elsewhere", [
    (404, b'{"error":"etcdserver: requested lease not found","code":5}', LeaseNotFound, False),
    (500, b'{"error":"election: no leader","code":2}', NoLeader, False),
    (503, b'{"error":"etcdserver: no leader","code":14}', EtcdError, True),
    (500, b'{"error":"etcdserver: request timed out","code":4}', EtcdError, True),
    (400, b'{"error":"etcdserver: key is not provided","code":3}', EtcdError, False),
    (502, b"<html>bad gateway</html>", EtcdError, True),
    (500, b"[1, 2]", EtcdError, False),
])
def test_decode_error(status, body, kind, elsewhere):
    error, retry = decode_error(status, body)
    assert type(error) is kind and retry is elsewhere


def test_split_stream_keeps_partial_messages_and_limits_size():
    buffer = bytearray()
    first = json.dumps({"result": {"n": 1}}).encode()
    assert split_stream(buffer, first[:5], 1000) == []
    assert split_stream(buffer, first[5:] + b"\n{\"result\"", 1000) == [{"result": {"n": 1}}]
    assert split_stream(buffer, b': {"n": 2}}\n\n', 1000) == [{"result": {"n": 2}}]
    assert buffer == bytearray()
    with pytest.raises(EtcdError, match="longer than 10"):
        split_stream(bytearray(), b"x" * 11, 10)


def test_unwrap_stream_messages():
    assert unwrap({"result": {"TTL": "5"}}) == {"TTL": "5"}
    assert unwrap({"header": {}}) == {"header": {}}
    with pytest.raises(LeaseNotFound):
        unwrap({"error": {"grpc_code": 5, "http_code": 404,
                          "message": "etcdserver: requested lease not found"}})


@pytest.mark.parametrize("bad", ["127.0.0.1:2379", "ftp://h:1", "http://h", "http://h:1/v3",
                                 "http://h:1?x=1"])
def test_parse_endpoint_rejects(bad):
    with pytest.raises(ValueError, match="endpoint"):
        parse_endpoint(bad)


def test_b64():
    assert b64("é") == base64.b64encode("é".encode()).decode()


# -- member choice (Transport.call) with scripted members --------------------------------------

class Scripted(Transport):
    """Members answer after a delay, or fail; records which were asked."""

    def __init__(self, behaviour: dict[int, tuple[float, str]], **options) -> None:
        super().__init__([f"http://m{i}:2379" for i in range(3)], timeout=0.5, **options)
        self.behaviour, self.asked = behaviour, []

    async def attempt(self, index, path, body, timeout):
        self.asked.append(index)
        delay, outcome = self.behaviour.get(index, (0.0, "ok"))
        await asyncio.sleep(min(delay, timeout))
        if outcome == "ok" and delay <= timeout:
            return {"from": index}
        if outcome == "etcd-error":
            raise EtcdError("final")
        raise EndpointFailed(outcome, maybe_applied=outcome != "refused")


def test_silent_member_then_preference_moves():
    t = Scripted({0: (10, "ok")}, hedge_after=None)
    answer, maybe_applied = asyncio.run(t.call("/x", {}, idempotent=False))
    assert answer == {"from": 1} and maybe_applied and t.asked == [0, 1]
    assert t.preferred == 1
    t.asked.clear()
    assert asyncio.run(t.call("/x", {}, idempotent=False))[0] == {"from": 1}
    assert t.asked == [1]


def test_hedged_read_asks_the_next_member_early():
    t = Scripted({0: (10, "ok")}, hedge_after=0.05)

    async def timed():
        loop = asyncio.get_running_loop()
        start = loop.time()
        answer = await t.call("/x", {}, idempotent=True)
        return answer, loop.time() - start
    (answer, maybe_applied), elapsed = asyncio.run(timed())
    assert answer == {"from": 1} and not maybe_applied and elapsed < 0.3


def test_refused_is_not_ambiguous_and_final_errors_are_not_retried():
    t = Scripted({0: (0, "refused")}, hedge_after=None)
    assert asyncio.run(t.call("/x", {}, idempotent=False)) == ({"from": 1}, False)
    t = Scripted({1: (0, "etcd-error")}, hedge_after=None)
    t.preferred = 1
    with pytest.raises(EtcdError, match="final"):
        asyncio.run(t.call("/x", {}, idempotent=False))
    assert t.asked == [1]
