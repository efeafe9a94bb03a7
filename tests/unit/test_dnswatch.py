"""The DNS watch's pure parts: what counts as an answer, what it writes for keepalived, and its
command line (every option refuses bad input with a message naming it)."""
from __future__ import annotations

import json

import dns.message
import dns.rcode
import dns.rdatatype
import dns.rrset
import pytest

from lbapp import dnswatch
from lbapp.dnswatch import HEALTHY, UNHEALTHY, DnsWatch, judge, parse_args

A = dns.rdatatype.A


def response(rcode=dns.rcode.NOERROR, *rrsets: dns.rrset.RRset) -> dns.message.Message:
    query = dns.message.make_query("lb.payment.example", A)
    reply = dns.message.make_response(query)
    reply.set_rcode(rcode)
    reply.answer.extend(rrsets)
    return reply


def test_an_a_record_is_an_answer():
    rrset = dns.rrset.from_text("lb.payment.example.", 5, "IN", "A", "10.0.0.100")
    assert judge(response(dns.rcode.NOERROR, rrset), A) == (True, "answered")


@pytest.mark.parametrize("rcode, detail", [(dns.rcode.SERVFAIL, "SERVFAIL"), (dns.rcode.NXDOMAIN, "NXDOMAIN"),
                                           (dns.rcode.REFUSED, "REFUSED")])
def test_an_error_rcode_is_not(rcode, detail):
    assert judge(response(rcode), A) == (False, detail)


def test_noerror_without_a_record_of_the_asked_type_is_not():
    cname = dns.rrset.from_text("lb.payment.example.", 5, "IN", "CNAME", "elsewhere.example.")
    assert judge(response(dns.rcode.NOERROR), A) == (False, "no answer")
    assert judge(response(dns.rcode.NOERROR, cname), A) == (False, "no answer")


class ScriptedProbe:
    server, port, timeout = "127.0.0.1", 53, 0.1
    qname, rdtype = dns.name.from_text("lb.payment.example"), A

    def __init__(self, results):
        self.results = list(results)
        self.closed = False

    def __call__(self):
        return self.results.pop(0)

    def close(self):
        self.closed = True


def watch(tmp_path, results, rise=2, fall=2, state=True):
    return DnsWatch(ScriptedProbe(results), tmp_path / "coredns.ok",
                    tmp_path / "state.json" if state else None, interval=0.05, rise=rise, fall=fall)


def test_starts_saying_down_until_rise_answers(tmp_path):
    w = watch(tmp_path, [(True, "answered")] * 2)
    w.started()
    assert (tmp_path / "coredns.ok").read_text() == UNHEALTHY == "0\n"
    w.tick()
    assert (tmp_path / "coredns.ok").read_text() == UNHEALTHY
    w.tick()
    assert (tmp_path / "coredns.ok").read_text() == HEALTHY == "1\n"
    state = json.loads((tmp_path / "state.json").read_text())
    assert state["healthy"] is True and state["reason"] == "answered"


def test_fall_failures_write_down_with_the_reason(tmp_path):
    w = watch(tmp_path, [(True, "answered"), (False, "timeout"), (False, "timeout")], rise=1)
    w.started()
    w.tick()
    w.tick()
    assert (tmp_path / "coredns.ok").read_text() == HEALTHY
    w.tick()
    assert (tmp_path / "coredns.ok").read_text() == UNHEALTHY
    assert json.loads((tmp_path / "state.json").read_text())["reason"] == "timeout"


def test_the_file_is_rewritten_once_a_second_so_a_clobbered_file_is_put_right(tmp_path, monkeypatch):
    now = [1000.0]
    monkeypatch.setattr(dnswatch.time, "monotonic", lambda: now[0])
    w = watch(tmp_path, [(True, "answered")] * 4, rise=1, state=False)
    w.started()
    w.tick()
    track = tmp_path / "coredns.ok"
    track.write_text("0\n")                   # someone else writes the file
    now[0] += 0.5
    w.tick()
    assert track.read_text() == "0\n"          # within the second: not every check rewrites it
    now[0] += 0.5
    w.tick()
    assert track.read_text() == HEALTHY
    track.unlink()
    now[0] += 1.0
    w.tick()
    assert track.read_text() == HEALTHY


def test_stopping_says_down_and_closes_the_probe(tmp_path):
    w = watch(tmp_path, [(True, "answered")], rise=1)
    w.started()
    w.tick()
    w.stopped()
    assert (tmp_path / "coredns.ok").read_text() == UNHEALTHY
    assert json.loads((tmp_path / "state.json").read_text())["reason"] == "stopped"
    assert w.probe.closed


def args(tmp_path, *extra):
    return ["--name", "lb.payment.example", "--track-file", str(tmp_path / "coredns.ok"), *extra]


def test_defaults(tmp_path):
    parsed = parse_args(args(tmp_path))
    assert (parsed.server, parsed.port, parsed.qtype) == ("127.0.0.1", 53, "A")
    assert (parsed.interval, parsed.timeout, parsed.rise, parsed.fall) == (0.05, 0.1, 5, 3)


@pytest.mark.parametrize("extra, message", [
    (["--name", "a..b"], "--name 'a..b'"),
    (["--name", "x" * 64 + ".example"], "--name"),
    (["--name", "a" * 250 + "." + "b" * 10], "--name"),
    (["--qtype", "NOPE"], "--qtype 'NOPE' is not a DNS record type"),
    (["--server", "localhost"], "--server 'localhost' is not an IP address"),
    (["--server", "127.0.0.1; rm -rf /"], "--server"),
    (["--port", "0"], "--port 0 is outside 1..65535"),
    (["--port", "70000"], "--port 70000 is outside 1..65535"),
    (["--port", "fifty"], "--port: invalid int value"),
    (["--interval-ms", "0"], "--interval-ms: 0 is outside 1..60000 ms"),
    (["--interval-ms", "-5"], "--interval-ms: -5 is outside"),
    (["--interval-ms", "1e3"], "--interval-ms: '1e3' is not a whole number of milliseconds"),
    (["--timeout-ms", "600000"], "--timeout-ms: 600000 is outside"),
    (["--rise", "0"], "--rise: 0 is outside 1..100"),
    (["--fall", "many"], "--fall: 'many' is not a whole number"),
])
def test_bad_options_are_refused_naming_the_option(tmp_path, capsys, extra, message):
    with pytest.raises(SystemExit) as exited:
        parse_args(args(tmp_path) + extra)
    assert exited.value.code == 2
    assert message in capsys.readouterr().err


def test_files_in_a_missing_directory_are_refused(tmp_path, capsys):
    for option in ("--track-file", "--state-file"):
        with pytest.raises(SystemExit):
            parse_args(args(tmp_path) + [option, str(tmp_path / "nope" / "f")])
        assert f"{option} {tmp_path / 'nope' / 'f'}: directory" in capsys.readouterr().err


def test_required_options(capsys):
    with pytest.raises(SystemExit):
        parse_args([])
    assert "--name" in capsys.readouterr().err

