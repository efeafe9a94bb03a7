"""Scaling `dns` against real daemons on 127.0.0.1: LB records in etcd become CoreDNS answers
through the zone writer (and leave them), weights decide the first answer, records that are not
{"address", "weight"} are left out by name while the zone keeps being served, and an announcer
keeps its LB's record on a lease that a hung or dead announcer loses."""
from __future__ import annotations

import base64
import collections
import json
import signal
import time
import urllib.request

import dns.exception
import dns.message
import dns.query
import pytest

from lbapp.keys import dns_record_key, dns_records_prefix
from tests.integration.harness import COREDNS, PY, free_port, wait_until

pytestmark = pytest.mark.skipif(not COREDNS.is_file(), reason=f"{COREDNS} not built (tools/setup.sh)")

NAME, ZONE = "lb.payment.example", "payment.example"
PREFIX = dns_records_prefix("payment")


def etcd_call(etcd, path: str, body: dict) -> dict:
    req = urllib.request.Request(f"{etcd.endpoint}/v3/{path}", data=json.dumps(body).encode(), method="POST")
    with urllib.request.urlopen(req, timeout=5) as r:
        return json.load(r)


def b64(text: str) -> str:
    return base64.b64encode(text.encode()).decode()


def delete(etcd, key: str) -> None:
    etcd_call(etcd, "kv/deleterange", {"key": b64(key)})


def record_of(etcd, key: str) -> dict | None:
    kvs = etcd_call(etcd, "kv/range", {"key": b64(key)}).get("kvs") or []
    return json.loads(base64.b64decode(kvs[0]["value"])) if kvs else None


def answers(port: int) -> list[str]:
    response = dns.query.udp(dns.message.make_query(NAME, "A"), "127.0.0.1", port=port, timeout=0.5)
    return [item.address for rrset in response.answer for item in rrset]


def serve(lab, etcd):
    """The zone writer and a CoreDNS that rereads its zone and weights every 100 ms, as on a lab
    DNS node (templates/Corefile.j2), bound to 127.0.0.1."""
    zone, weights, state = lab.tmp / "zone.db", lab.tmp / "zone.weights", lab.tmp / "writer.json"
    lab.start("zonewriter", [PY, "-m", "lbapp.zonewriter", "--etcd", etcd.endpoint, "--prefix", PREFIX,
                             "--zone", ZONE, "--name", NAME, "--ns-address", "127.0.0.1", "--ttl", "1",
                             "--zone-file", str(zone), "--weights-file", str(weights),
                             "--state-file", str(state)])
    wait_until(zone.is_file, 15, "the first zone")
    port = free_port()
    corefile = lab.tmp / "Corefile"
    corefile.write_text(f"{ZONE}:{port} {{\n  bind 127.0.0.1\n  file {zone} {{\n    reload 100ms\n  }}\n"
                        f"  loadbalance weighted {weights} {{\n    reload 100ms\n  }}\n}}\n")
    lab.start("coredns", [str(COREDNS), "-conf", str(corefile)])
    wait_until(lambda: serial(port) > 0, 15, "CoreDNS to serve the zone")
    return port, state


def serial(port: int) -> int:
    try:
        response = dns.query.udp(dns.message.make_query(ZONE, "SOA"), "127.0.0.1", port=port, timeout=0.5)
    except (dns.exception.DNSException, OSError):
        return 0
    return next((rd.serial for rrset in response.answer for rd in rrset), 0)


def test_records_become_answers_and_leave(lab, record_property):
    etcd = lab.etcd()
    port, _ = serve(lab, etcd)
    assert answers(port) == []
    etcd.put(PREFIX + "lb1", '{"address": "10.0.1.1", "weight": 1}')
    start = time.monotonic()
    etcd.put(PREFIX + "lb2", '{"address": "10.0.1.2"}')
    wait_until(lambda: sorted(answers(port)) == ["10.0.1.1", "10.0.1.2"], 3, "both records answered", 0.005)
    added = time.monotonic() - start
    start = time.monotonic()
    delete(etcd, PREFIX + "lb1")
    wait_until(lambda: answers(port) == ["10.0.1.2"], 3, "lb1 gone from the answers", 0.005)
    removed = time.monotonic() - start
    print(f"etcd write -> answer: added {added * 1000:.0f} ms, removed {removed * 1000:.0f} ms")
    record_property("record_added_ms", round(added * 1000))
    assert added < 1.0 and removed < 1.0          # reload every 100 ms; generous for a busy machine


@pytest.mark.parametrize("value, reason", [
    ("not json", "not JSON"),
    ('["10.0.1.9"]', "not a JSON object"),
    ('{"address": "fd00::9"}', "is not an IPv4 address"),
    ('{"address": "10.0.1.9", "weight": 0}', "weight"),
    ('{"address": "10.0.1.9", "weight": 256}', "weight"),
    ('{"address": "10.0.1.9", "weight": "3"}', "weight"),
    ('{"address": "10.0.1.9", "weight": true}', "weight"),
    ('{"address": "10.0.1.9", "ttl": 1}', "ttl"),
    ('{"address": "10.0.1.9\\nlb IN A 6.6.6.6"}', "is not an IPv4 address"),
    ('{"address": "10.0.1.9", "pad": "' + "x" * 2000 + '"}', "bytes"),
])
def test_a_bad_record_is_left_out_by_name_and_the_zone_still_served(lab, value, reason):
    etcd = lab.etcd()
    port, state = serve(lab, etcd)
    etcd.put(PREFIX + "lb1", '{"address": "10.0.1.1"}')
    wait_until(lambda: answers(port) == ["10.0.1.1"], 3, "the good record answered")
    before = serial(port)
    etcd.put(PREFIX + "rogue", value)
    wait_until(lambda: serial(port) > before, 3, "the zone rewritten after the bad record")
    assert answers(port) == ["10.0.1.1"]
    rejected = json.loads(state.read_text())["rejected"]
    assert list(rejected) == [PREFIX + "rogue"] and reason in rejected[PREFIX + "rogue"], rejected


def test_weights_decide_the_first_answer(lab):
    etcd = lab.etcd()
    port, _ = serve(lab, etcd)
    etcd.put(PREFIX + "lb1", '{"address": "10.0.1.1", "weight": 9}')
    etcd.put(PREFIX + "lb2", '{"address": "10.0.1.2", "weight": 1}')
    wait_until(lambda: len(answers(port)) == 2, 3, "both records answered")
    time.sleep(0.3)                            # the weight file is reread every 100 ms as well
    firsts = collections.Counter(answers(port)[0] for _ in range(400))
    share = firsts["10.0.1.1"] / 400
    print(f"first answer 10.0.1.1 (weight 9 of 10): {share:.1%}")
    assert 0.84 <= share <= 0.96, firsts        # 90% expected; ~5 standard deviations either side


def test_the_zone_stays_while_etcd_is_gone_and_follows_it_again(lab):
    etcd = lab.etcd()
    port, _ = serve(lab, etcd)
    etcd.put(PREFIX + "lb1", '{"address": "10.0.1.1"}')
    wait_until(lambda: answers(port) == ["10.0.1.1"], 3, "answered")
    etcd.proc.signal(signal.SIGSTOP)
    try:
        time.sleep(1.5)                       # the writer's watch and reads time out meanwhile
        assert answers(port) == ["10.0.1.1"]
    finally:
        etcd.proc.signal(signal.SIGCONT)
    etcd.put(PREFIX + "lb2", '{"address": "10.0.1.2"}')
    wait_until(lambda: sorted(answers(port)) == ["10.0.1.1", "10.0.1.2"], 5, "a change after etcd returned")


def announcer(lab, etcd, ready_port: int, node: str = "lb1"):
    return lab.start(f"announcer-{node}", [
        PY, "-m", "lbapp.announcer", "--ready-url", f"http://127.0.0.1:{ready_port}/health",
        "--etcd", etcd.endpoint, "--record-key", dns_record_key("payment", node),
        "--record-value", '{"address": "10.0.1.1", "weight": 3}', "--lease-ttl-s", "2",
        "--interval-ms", "50", "--timeout-ms", "50", "--rise", "2", "--fall", "2"])


def test_the_announcer_keeps_its_record_while_ready_and_a_hung_one_loses_it(lab, record_property):
    etcd = lab.etcd()
    backend = lab.backend("be1")
    key = dns_record_key("payment", "lb1")
    proc = announcer(lab, etcd, backend.port)
    wait_until(lambda: record_of(etcd, key) == {"address": "10.0.1.1", "weight": 3}, 10, "the record written")

    backend.proc.signal(signal.SIGSTOP)           # the LB hangs: withdrawn at once (fall 2 x 50 ms)
    try:
        wait_until(lambda: record_of(etcd, key) is None, 2, "the record deleted while the LB hangs")
    finally:
        backend.proc.signal(signal.SIGCONT)
    wait_until(lambda: record_of(etcd, key) is not None, 3, "the record back")

    time.sleep(1.5)                               # longer than the TTL: renewals keep it
    assert record_of(etcd, key) is not None
    proc.signal(signal.SIGSTOP)                   # the announcer hangs (a dead node, as far as
    start = time.monotonic()                      # etcd can tell): its lease runs out
    try:
        wait_until(lambda: record_of(etcd, key) is None, 5, "the record expired with the lease", 0.02)
        expired = time.monotonic() - start
    finally:
        proc.signal(signal.SIGCONT)
    print(f"record of a hung announcer gone after {expired:.2f} s (lease 2 s)")
    record_property("lease_expiry_s", round(expired, 2))
    assert 1.0 <= expired <= 4.0
    wait_until(lambda: record_of(etcd, key) is not None, 3, "the record written again once it resumed")

    proc.signal(signal.SIGTERM)
    assert proc.wait(5) == 0
    assert record_of(etcd, key) is None           # a clean stop withdraws


def test_announcer_options_are_checked_by_name(lab):
    for argv, message in (
            (["--bird-socket", "x", "--track-file", "y"], "exactly one channel"),
            (["--etcd", "http://127.0.0.1:1"], "--etcd needs --record-key and --record-value"),
            (["--etcd", "http://127.0.0.1:1", "--record-key", "/k", "--record-value", '{"address": "x"}'],
             "--record-value: address: 'x' is not an IPv4 address")):
        proc = lab.start("announcer", [PY, "-m", "lbapp.announcer", "--ready-url", "http://127.0.0.1:1/", *argv])
        assert proc.wait(10) == 2
        assert message in proc.output()
