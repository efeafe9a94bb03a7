"""DNS records of LB servers (scaling dns): parsing a stored record refuses anything but
{"address": IPv4, "weight": 1..255}; the zone and weight file built from records; the zone
writer's serials only grow and it names what it left out; the announcer's options."""
from __future__ import annotations

import argparse
import json

import dns.zone
import pytest
from hypothesis import given, strategies as st

from lbapp import announcer, zonewriter
from lbapp.dnsrecords import (MAX_RECORDS, DnsRecord, RecordError, build_weights, build_zone,
                              parse_record, usable_records)
from lbapp.etcd import KeyValue


def record(address: str, weight: int = 1) -> DnsRecord:
    return parse_record(json.dumps({"address": address, "weight": weight}))


def test_a_record_parses_with_a_default_weight():
    assert parse_record('{"address": "10.0.1.1"}') == record("10.0.1.1", 1)
    assert parse_record(b'{"address": "10.0.1.2", "weight": 255}').weight == 255


@pytest.mark.parametrize("value, reason", [
    ("", "not JSON"), ("{", "not JSON"), (b"\xff\xfe", "not JSON"), ("null", "not a JSON object"),
    ('"10.0.1.1"', "not a JSON object"), ("{}", "address"),
    ('{"address": "10.0.1.256"}', "is not an IPv4 address"), ('{"address": "::1"}', "is not an IPv4 address"),
    ('{"address": 167837953}', "address"), ('{"address": "10.0.1.1", "weight": 0}', "weight"),
    ('{"address": "10.0.1.1", "weight": 1.5}', "weight"), ('{"address": "10.0.1.1", "weight": null}', "weight"),
    ('{"address": "10.0.1.1", "extra": 1}', "extra"), ("x" * 1025, "bytes"),
])
def test_anything_else_is_refused_with_the_reason(value, reason):
    with pytest.raises(RecordError, match=reason):
        parse_record(value)


@given(st.one_of(st.text(max_size=300), st.binary(max_size=300),
                 st.recursive(st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=20),
                              lambda inner: st.lists(inner, max_size=4) | st.dictionaries(
                                  st.sampled_from(["address", "weight", "x"]), inner, max_size=3),
                              max_leaves=8).map(json.dumps)))
def test_no_input_crashes_the_parser(value):
    try:
        parsed = parse_record(value)
    except RecordError:
        return
    assert 1 <= parsed.weight <= 255 and parsed.address.version == 4


def test_the_zone_holds_soa_ns_and_one_a_record_per_address():
    text = build_zone("payment.example", "lb.payment.example", "192.168.1.100",
                      [record("10.0.1.2"), record("10.0.1.1", 5), record("10.0.1.2", 9)], ttl=5, serial=42)
    zone = dns.zone.from_text(text, origin="payment.example", relativize=False)
    soa = zone.find_rdataset("payment.example.", "SOA")[0]
    assert soa.serial == 42 and soa.minimum == 5
    assert sorted(a.address for a in zone.find_rdataset("lb.payment.example.", "A")) == ["10.0.1.1", "10.0.1.2"]
    assert [a.address for a in zone.find_rdataset("ns.payment.example.", "A")] == ["192.168.1.100"]


def test_no_records_is_a_zone_without_the_name():
    zone = dns.zone.from_text(build_zone("payment.example", "lb.payment.example", "192.168.1.100", [], 5, 1),
                              origin="payment.example", relativize=False)
    assert zone.get_node("lb.payment.example.") is None


def test_a_name_outside_the_zone_is_refused():
    with pytest.raises(ValueError, match="not inside zone"):
        build_zone("payment.example", "lb.other.example", "192.168.1.100", [], 5, 1)


def test_weights_file_in_coredns_format():
    assert build_weights("lb.payment.example", [record("10.0.1.2", 1), record("10.0.1.1", 9)]).splitlines()[1:] == [
        "lb.payment.example.", "10.0.1.1 9", "10.0.1.2 1"]


def test_usable_records_first_per_address_and_at_most_the_limit():
    many = [record(f"10.0.{i // 250}.{i % 250 + 1}") for i in range(MAX_RECORDS + 10)]
    assert len(usable_records(many)) == MAX_RECORDS
    assert usable_records([record("10.0.1.1", 3), record("10.0.1.1", 7)]) == [record("10.0.1.1", 3)]


def writer(tmp_path) -> zonewriter.ZoneWriter:
    args = zonewriter.parse_args(["--etcd", "http://127.0.0.1:1", "--prefix", "/p/", "--zone", "payment.example",
                                  "--name", "lb.payment.example", "--ns-address", "192.168.1.100",
                                  "--zone-file", str(tmp_path / "z.db"), "--weights-file", str(tmp_path / "w"),
                                  "--state-file", str(tmp_path / "s.json")])
    return zonewriter.ZoneWriter(args)


def kv(key: str, value: str, revision: int) -> KeyValue:
    return KeyValue(key=key.encode(), value=value.encode(), mod_revision=revision)


def test_the_writer_serial_only_grows_and_names_what_it_left_out(tmp_path):
    w = writer(tmp_path)
    w.apply(kv("/p/lb1", '{"address": "10.0.1.1"}', 7), deleted=False)
    w.apply(kv("/p/bad", '{"address": "nope"}', 8), deleted=False)
    w.write(8)
    state = json.loads((tmp_path / "s.json").read_text())
    assert state["serial"] == 8 and state["answers"] == {"10.0.1.1": 1}
    assert "is not an IPv4 address" in state["rejected"]["/p/bad"]
    w.write(5)                      # a revision not above the last serial still raises the serial
    assert json.loads((tmp_path / "s.json").read_text())["serial"] == 9
    w.apply(kv("/p/lb1", "", 10), deleted=True)
    w.write(10)
    state = json.loads((tmp_path / "s.json").read_text())
    assert state["answers"] == {} and " 10 60 10 3600 5" in (tmp_path / "z.db").read_text()


def test_the_writer_keeps_at_most_max_keys_in_memory(tmp_path, monkeypatch):
    monkeypatch.setattr(zonewriter, "MAX_KEYS", 2)
    w = writer(tmp_path)
    for i in range(4):
        w.apply(kv(f"/p/lb{i}", f'{{"address": "10.0.1.{i + 1}"}}', i + 1), deleted=False)
    assert len(w.records) == 2 and w.ignored == {"/p/lb2", "/p/lb3"}
    w.write(4)
    assert "over 2 keys" in json.loads((tmp_path / "s.json").read_text())["rejected"]["/p/lb2"]


@pytest.mark.parametrize("argv, message", [
    (["--zone", "payment.example", "--name", "lb.other.example"], "is not a name inside --zone"),
    (["--ns-address", "not-an-ip"], "--ns-address 'not-an-ip' is not an IPv4 address"),
    (["--prefix", "no-slash"], "must start and end with '/'"),
    (["--ttl", "-1"], "--ttl -1 is outside"),
    (["--zone-file", "/nonexistent/dir/z.db"], "directory /nonexistent/dir does not exist"),
])
def test_zone_writer_options_are_checked_by_name(argv, message, capsys):
    base = {"--etcd": "http://127.0.0.1:1", "--prefix": "/p/", "--zone": "payment.example",
            "--name": "lb.payment.example", "--ns-address": "192.168.1.100", "--zone-file": "/tmp/z.db",
            "--weights-file": "/tmp/w"}
    for flag, value in zip(argv[::2], argv[1::2]):
        base[flag] = value
    with pytest.raises(SystemExit):
        zonewriter.parse_args([item for pair in base.items() for item in pair])
    assert message in capsys.readouterr().err


def test_announcer_channel_is_chosen_by_option(tmp_path):
    args = announcer.parse_args(["--ready-url", "http://127.0.0.1:9100/-/ready", "--track-file", str(tmp_path / "ok")])
    channel = announcer.make_channel(args)
    channel.set(True)
    assert (tmp_path / "ok").read_text() == "1\n"
    bird = announcer.make_channel(announcer.parse_args(["--ready-url", "http://h:1/", "--bird-socket", "/x.ctl"]))
    assert bird.describe() == "BIRD protocol vip"


def test_announcer_withdraws_on_start_and_stop_through_its_channel(tmp_path):
    calls = []

    class Recorder:
        def describe(self):
            return "recorder"

        def set(self, up):
            calls.append(("set", up))
            return True

        def refresh(self, up):
            calls.append(("refresh", up))

        def close(self):
            calls.append(("close",))

    args = argparse.Namespace(interval=0.05, rise=1, fall=1, ready_url="http://127.0.0.1:1/", timeout=0.05,
                              state_file=str(tmp_path / "state"))
    a = announcer.Announcer(args, Recorder())
    a.started()
    a.state.up = True
    a.changed("200")
    a.ticked()
    a.stopped()
    assert calls == [("set", False), ("set", True), ("refresh", True), ("set", False), ("close",)]
    assert json.loads((tmp_path / "state").read_text())["reason"] == "stopped"
