"""The traffic generator against loopback stub servers (no root, 127.0.0.1 only, bounded)."""
import asyncio
import io
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from scenarios.history import HistoryWriter, count_lines, load_history
from scenarios.live import HistoryTail, LiveReadout
from scenarios.spec import parse_scenario
from scenarios.traffic import Generator
from scenarios.trafficspec import SpecError, for_client, parse_generator_spec

from .stubnet import StubDns, StubHttp, free_port

ROOT = Path(__file__).resolve().parents[2]
NAME = "lb.payment.example"


@pytest.fixture
def http():
    s = StubHttp()
    yield s
    s.close()


@pytest.fixture
def dnsd():
    s = StubDns()
    yield s
    s.close()


def http_stream(port, rate=50, timeout=1.0, host=NAME, **kw):
    return {"kind": "http", "url": f"http://{host}:{port}/", "rate": rate, "timeout": timeout,
            "resolver": "127.0.0.1", **kw}


def dns_stream(port, rate=20, timeout=0.3, **kw):
    return {"kind": "dns", "name": NAME, "server": "127.0.0.1", "port": port, "rate": rate, "timeout": timeout, **kw}


def run(streams, duration=0.5, dns_port=53, **kw):
    """Run a Generator in-process; return (records, end record)."""
    spec = parse_generator_spec({"client": "client1", "duration": duration, "streams": streams,
                                 "resolver_port": dns_port, **kw})
    buf = io.StringIO()
    writer = HistoryWriter(stream=buf)
    seen = []
    gen = Generator(spec, writer, on_record=seen.append)
    end = asyncio.run(gen.run())
    writer.flush()
    recs = [json.loads(line) for line in buf.getvalue().splitlines()]
    assert [r for r in recs if r["type"] in ("http", "dns")] == seen
    return recs, end


def ops(recs, kind="http"):
    return [r for r in recs if r["type"] == kind]


# --------------------------------------------------------------------------- http

def test_http_by_name_records_everything(http, dnsd):
    recs, end = run([http_stream(http.port, rate=100)], duration=0.5, dns_port=dnsd.port)
    assert recs[0]["type"] == "meta" and recs[-1]["type"] == "end"
    hs = ops(recs)
    assert len(hs) == 50
    assert {r["outcome"] for r in hs} == {"ok"}
    r = hs[0]
    assert r["client"] == "client1" and r["status"] == 200 and r["ip"] == "127.0.0.1"
    assert r["lb"] in ("lb1", "lb2", "lb3") and r["backend"] in ("be1", "be2")
    assert 0 < r["latency"] < 1 and isinstance(r["sport"], int)
    assert abs(r["t_send"] - time.time()) < 10
    assert {x["lb"] for x in hs} == {"lb1", "lb2", "lb3"}
    # a new connection per request by default
    assert len({x["sport"] for x in hs}) == 50 and http.connections == 50
    assert end["streams"][0] == {"stream": 0, "kind": "http", "scheduled": 50, "sent": 50, "missed": 0}
    # cached for the TTL (60 s): one lookup
    assert dnsd.queries == 1


def test_open_loop_schedule(http, dnsd):
    recs, _ = run([http_stream(http.port, rate=40)], duration=0.5, dns_port=dnsd.port)
    sends = sorted(r["t_send"] for r in ops(recs))
    assert len(sends) == 20
    gaps = [b - a for a, b in zip(sends, sends[1:])]
    assert sum(gaps) / len(gaps) == pytest.approx(1 / 40, rel=0.2)


def test_ttl_zero_resolves_again(http, dnsd):
    dnsd.ttl = 0
    recs, _ = run([http_stream(http.port, rate=40)], duration=0.5, dns_port=dnsd.port)
    assert {r["outcome"] for r in ops(recs)} == {"ok"}
    assert dnsd.queries >= 15


def test_round_robin_over_answer_ips(http, dnsd):
    dnsd.ips = ["127.0.0.1", "127.0.0.2"]    # the whole 127/8 is loopback
    recs, _ = run([{**http_stream(http.port, rate=40), "url": f"http://{NAME}:{http.port}/"}],
                  duration=0.5, dns_port=dnsd.port)
    hs = ops(recs)
    assert {r["ip"] for r in hs} == {"127.0.0.1", "127.0.0.2"}


def test_ip_literal_url_skips_dns(http):
    recs, _ = run([http_stream(http.port, host="127.0.0.1", resolver=None)], duration=0.3)
    assert {r["outcome"] for r in ops(recs)} == {"ok"}


def test_keepalive_reuses_connections(http, dnsd):
    recs, _ = run([http_stream(http.port, rate=50, keepalive=True)], duration=0.5, dns_port=dnsd.port)
    hs = ops(recs)
    assert {r["outcome"] for r in hs} == {"ok"}
    assert http.connections < 10
    assert any(r.get("reused") for r in hs)


def test_refused(dnsd):
    recs, _ = run([http_stream(free_port())], duration=0.3, dns_port=dnsd.port)
    assert {r["outcome"] for r in ops(recs)} == {"refused"}


@pytest.mark.parametrize("mode, outcome", [("status:503", "http_503"), ("reset", "reset"), ("close", "reset")])
def test_server_failures(http, dnsd, mode, outcome):
    http.mode = mode
    recs, _ = run([http_stream(http.port)], duration=0.3, dns_port=dnsd.port)
    outs = {r["outcome"] for r in ops(recs)}
    assert outs == {outcome}
    if mode.startswith("status"):
        assert ops(recs)[0]["status"] == 503 and ops(recs)[0]["lb"]


def test_timeout_is_bounded(http, dnsd):
    http.mode = "hang"
    t = time.monotonic()
    recs, end = run([http_stream(http.port, rate=20, timeout=0.3)], duration=0.5, dns_port=dnsd.port)
    took = time.monotonic() - t
    hs = ops(recs)
    assert len(hs) == 10 and {r["outcome"] for r in hs} == {"timeout"}
    assert all(0.29 <= r["latency"] < 0.5 for r in hs)
    assert took < 0.5 + 0.3 + 1.0
    assert end["reason"] == "deadline"


@pytest.mark.parametrize("mode, err", [("drop", "timeout"), ("servfail", "servfail"), ("nxdomain", "nxdomain")])
def test_dns_failure_makes_dns_fail(http, dnsd, mode, err):
    dnsd.mode = mode
    recs, _ = run([http_stream(http.port, rate=20, timeout=0.5, resolve_timeout=0.2)],
                  duration=0.3, dns_port=dnsd.port)
    hs = ops(recs)
    assert hs and {r["outcome"] for r in hs} == {"dns_fail"}
    assert all(r["err"].startswith(err) for r in hs)
    assert http.count == 0


def test_dns_recovers_after_failure(http, dnsd):
    dnsd.mode = "servfail"

    async def heal_later():
        await asyncio.sleep(0.25)
        dnsd.mode = "ok"

    spec = parse_generator_spec({"client": "c", "duration": 0.6, "resolver_port": dnsd.port,
                                 "streams": [http_stream(http.port, rate=50)]})
    buf = io.StringIO()
    gen = Generator(spec, HistoryWriter(stream=buf))

    async def main():
        h = asyncio.ensure_future(heal_later())
        await gen.run()
        await h
    asyncio.run(main())
    outs = [json.loads(x)["outcome"] for x in buf.getvalue().splitlines() if '"type":"http"' in x]
    assert outs[0] == "dns_fail" and outs[-1] == "ok"


# ---------------------------------------------------------------------------- dns

def test_dns_stream_outcomes(dnsd):
    recs, _ = run([dns_stream(dnsd.port)], duration=0.25)
    ds = ops(recs, "dns")
    assert len(ds) == 5
    assert {r["outcome"] for r in ds} == {"ok"}
    assert ds[0]["answers"] == ["127.0.0.1"] and ds[0]["ttl"] == 60 and ds[0]["server"] == "127.0.0.1"
    for mode, outcome in (("servfail", "servfail"), ("nxdomain", "nxdomain"), ("nodata", "nodata"), ("drop", "timeout")):
        dnsd.mode = mode
        recs, _ = run([dns_stream(dnsd.port, timeout=0.1)], duration=0.1)
        assert {r["outcome"] for r in ops(recs, "dns")} == {outcome}, mode


def test_dns_to_closed_port():
    recs, _ = run([dns_stream(free_port(), timeout=0.2)], duration=0.1)
    outs = {r["outcome"] for r in ops(recs, "dns")}
    assert outs <= {"error:port_unreachable", "timeout"}


def test_streams_with_start_and_end(http, dnsd):
    recs, end = run([http_stream(http.port, rate=20, start=0.2, end=0.4), dns_stream(dnsd.port, rate=10)],
                    duration=0.5, dns_port=dnsd.port)
    meta = recs[0]
    hs = ops(recs)
    assert len(hs) == 4
    assert min(r["t_send"] for r in hs) - meta["start"] >= 0.19
    assert max(r["t_send"] for r in hs) - meta["start"] < 0.45
    assert [s["scheduled"] for s in end["streams"]] == [4, 5]


def test_late_start_counts_missed_not_failed(http, dnsd):
    recs, end = run([http_stream(http.port, rate=20)], duration=1.0, dns_port=dnsd.port, start=time.time() - 0.5)
    s = end["streams"][0]
    assert s["scheduled"] == 20 and s["missed"] >= 5 and s["sent"] + s["missed"] == 20
    assert {r["outcome"] for r in ops(recs)} == {"ok"}


# ----------------------------------------------------------------------------- spec

def test_generator_spec_errors():
    with pytest.raises(SpecError, match="not valid JSON"):
        parse_generator_spec("{oops")
    with pytest.raises(SpecError, match="needs a resolver"):
        parse_generator_spec({"client": "c", "duration": 1, "streams": [{"kind": "http", "url": "http://x/",
                                                                         "rate": 1, "timeout": 1}]})
    with pytest.raises(SpecError, match="streams"):
        parse_generator_spec({"client": "c", "duration": 1, "streams": []})


def test_for_client_builds_streams_from_scenario():
    s = parse_scenario({"name": "t", "topology": "reference", "duration": "10s",
                        "traffic": [{"kind": "http", "clients": ["client1", "client2"], "url": "http://x/", "rate": 10},
                                    {"kind": "dns", "clients": ["client1"], "name": "x", "rate": 5, "timeout": "200ms",
                                     "server": "192.168.1.53"}],
                        "checks": [{"failed_requests": {"max": 0}}]})
    g1 = for_client(s, "client1", "192.168.1.100", 123.0)
    assert g1.start == 123.0 and g1.duration == 10.0
    assert g1.streams[0].resolver == "192.168.1.100" and g1.streams[1].server == "192.168.1.53"
    assert g1.streams[1].timeout == 0.2
    assert len(for_client(s, "client2", "192.168.1.100", None).streams) == 1
    assert for_client(s, "client3", "192.168.1.100", None) is None
    # the spec survives the JSON trip to the generator's command line
    assert parse_generator_spec(g1.model_dump_json()) == g1


# ---------------------------------------------------------------------- live readout

def test_live_readout_line():
    lr = LiveReadout("client1")
    for lb in ("lb1", "lb1", "lb2"):
        lr({"type": "http", "outcome": "ok", "lb": lb})
    lr({"type": "http", "outcome": "timeout"})
    lr({"type": "dns", "outcome": "ok"})
    lr({"type": "meta"})
    assert lr.line(3) == "client1 +3s http ok 3 fail 1 (timeout 1) | lb1 2 lb2 1 | dns ok 1 fail 0"
    assert lr.line(4) == "client1 +4s idle"


def test_history_tail_reads_complete_lines(tmp_path):
    p = tmp_path / "h.jsonl"
    tail = HistoryTail(p)
    assert tail.read() == []
    p.write_text('{"a":1}\n{"b":')
    assert tail.read() == [{"a": 1}]
    with open(p, "a") as f:
        f.write('2}\n')
    assert tail.read() == [{"b": 2}]


# ------------------------------------------------------------------ the real command

def cli(spec, out, *extra):
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    spec_arg = spec if isinstance(spec, str) else json.dumps(spec)
    return subprocess.Popen([sys.executable, "-m", "scenarios.traffic", "--spec", spec_arg, "--out", str(out),
                             *extra], cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def test_cli_runs_and_stops_by_itself_with_live_output(http, dnsd, tmp_path):
    out = tmp_path / "h.jsonl"
    spec = {"client": "client1", "duration": 5, "resolver_port": dnsd.port,
            "streams": [http_stream(http.port, rate=100), dns_stream(dnsd.port, rate=10)]}
    p = cli(spec, out, "--duration", "1.5", "--live")
    _, err = p.communicate(timeout=15)
    assert p.returncode == 0, err
    assert "client1 +1s http ok 100 fail 0" in err
    h = load_history([out])
    assert len(h.http) == 150 and len(h.dns) == 15 and h.bad_lines == 0
    assert h.end[0]["reason"] == "deadline"


def test_cli_spec_from_file_and_start(http, tmp_path):
    spec_file = tmp_path / "spec.json"
    spec_file.write_text(json.dumps({"client": "c", "duration": 0.3,
                                     "streams": [http_stream(http.port, host="127.0.0.1", resolver=None)]}))
    start = time.time() + 1.0
    p = cli(f"@{spec_file}", tmp_path / "h.jsonl", "--start", str(start))
    _, err = p.communicate(timeout=15)
    assert p.returncode == 0, err
    h = load_history([tmp_path / "h.jsonl"])
    assert h.meta[0]["start"] == start
    assert min(r["t_send"] for r in h.http) >= start - 0.01


def cli_raw(spec_arg, out):
    return subprocess.run([sys.executable, "-m", "scenarios.traffic", "--spec", spec_arg, "--out", str(out)],
                          cwd=ROOT, env={**os.environ, "PYTHONPATH": str(ROOT)}, capture_output=True, text=True,
                          timeout=15)


def test_cli_bad_spec_exits_2(tmp_path):
    r = cli_raw('{"client": "c"}', tmp_path / "h.jsonl")
    assert r.returncode == 2 and "invalid generator spec" in r.stderr and "Traceback" not in r.stderr


def test_killed_generator_leaves_usable_history(http, dnsd, tmp_path):
    out = tmp_path / "h.jsonl"
    spec = {"client": "client1", "duration": 10, "resolver_port": dnsd.port,
            "streams": [http_stream(http.port, rate=100)]}
    p = cli(spec, out)
    time.sleep(2.0)
    p.kill()
    p.communicate(timeout=5)
    h = load_history([out])
    assert len(h.meta) == 1 and not h.end
    assert len(h.http) >= 50            # flushed every 0.5 s


def test_sigterm_stops_cleanly_with_end_record(http, dnsd, tmp_path):
    out = tmp_path / "h.jsonl"
    spec = {"client": "client1", "duration": 10, "resolver_port": dnsd.port,
            "streams": [http_stream(http.port, rate=50)]}
    p = cli(spec, out)
    time.sleep(1.5)
    p.send_signal(signal.SIGTERM)
    _, err = p.communicate(timeout=5)
    assert p.returncode == 0, err
    h = load_history([out])
    assert h.end and h.end[0]["reason"] == "signal"
    assert h.end[0]["streams"][0]["scheduled"] == 500 and h.end[0]["streams"][0]["sent"] < 500


def test_start_file_starts_all_at_the_announced_time(http, tmp_path):
    start_file = tmp_path / "start"
    spec = {"client": "c", "duration": 0.3, "streams": [http_stream(http.port, host="127.0.0.1", resolver=None)]}
    out = tmp_path / "h.jsonl"
    p = cli(spec, out, "--start-file", str(start_file))
    deadline = time.time() + 10
    while count_lines(out, ("meta",)) == 0 and time.time() < deadline:
        time.sleep(0.02)
    assert count_lines(out, ("meta",)) == 1 and count_lines(out) == 0     # ready, waiting
    time.sleep(0.3)
    assert count_lines(out) == 0
    start = time.time() + 0.2
    start_file.write_text(f"{start}\n")
    _, err = p.communicate(timeout=10)
    assert p.returncode == 0, err
    h = load_history([out])
    assert h.meta[0]["start"] == pytest.approx(start) and h.start() == pytest.approx(start)
    assert len(h.http) == 15 and min(r["t_send"] for r in h.http) >= start - 0.01


def test_start_file_never_written(tmp_path):
    out = tmp_path / "h.jsonl"
    spec = {"client": "c", "duration": 1, "streams": [http_stream(free_port(), host="127.0.0.1", resolver=None)]}
    p = cli(spec, out, "--start-file", str(tmp_path / "start"), "--start-wait", "0.5")
    _, err = p.communicate(timeout=10)
    assert p.returncode == 3 and "no start time" in err and "Traceback" not in err
    h = load_history([out])
    assert h.end[0]["reason"] == "no_start" and not h.http
