"""The DNS watch against a real CoreDNS on 127.0.0.1: its file follows CoreDNS answering, hanging
(SIGSTOP) and dying (SIGKILL), within the bound keepalived's failover budget allows."""
from __future__ import annotations

import json
import signal
import socket
import time

import pytest

from tests.integration.harness import COREDNS, PY, free_port, wait_until
from lbapp.dnswatch import DnsProbe

pytestmark = pytest.mark.skipif(not COREDNS.is_file(), reason=f"{COREDNS} not built (tools/setup.sh)")

# Detection budget: lookups at the DNS VIP may fail for at most 0.6 s after a hang, and VRRP takes
# ~0.07 s of that once the node is in FAULT. With the defaults (50 ms interval, 100 ms timeout,
# fall 3) the watch says down ~0.3 s after the hang.
DOWN_WITHIN_S = 0.5


def verdict(path) -> str | None:
    try:
        return path.read_text()
    except FileNotFoundError:
        return None


def time_until(path, value: str, timeout: float) -> float:
    start = time.monotonic()
    wait_until(lambda: verdict(path) == value, timeout, f"{path.name} to say {value!r}", interval=0.005)
    return time.monotonic() - start


def start_watch(lab, coredns_port: int, *extra: str):
    track, state = lab.tmp / "coredns.ok", lab.tmp / "dnswatch.json"
    proc = lab.start("dnswatch", [PY, "-m", "lbapp.dnswatch", "--name", "lb.payment.example",
                                  "--port", str(coredns_port), "--track-file", str(track),
                                  "--state-file", str(state), *extra])
    return proc, track, state


def test_hang_and_crash_turn_the_file_down_within_the_budget(lab, record_property):
    coredns = lab.coredns()
    watch, track, state = start_watch(lab, coredns.port)
    time_until(track, "1\n", 5)
    assert json.loads(state.read_text())["healthy"] is True

    coredns.proc.signal(signal.SIGSTOP)
    try:
        hang = time_until(track, "0\n", 3)
        assert json.loads(state.read_text())["reason"] == "timeout"
    finally:
        coredns.proc.signal(signal.SIGCONT)
    time_until(track, "1\n", 3)

    coredns.proc.kill()
    crash = time_until(track, "0\n", 3)
    assert json.loads(state.read_text())["reason"] == "port unreachable"
    record_property("hang_to_down_s", round(hang, 3))
    record_property("crash_to_down_s", round(crash, 3))
    assert hang < DOWN_WITHIN_S, f"hang noticed after {hang:.3f} s"
    assert crash < DOWN_WITHIN_S, f"crash noticed after {crash:.3f} s"
    assert watch.alive()


def test_down_until_coredns_answers_and_down_again_when_stopped(lab):
    port = free_port()
    watch, track, state = start_watch(lab, port, "--rise", "3")
    time_until(track, "0\n", 5)                     # nothing listens yet
    assert json.loads(state.read_text())["reason"] == "starting"
    time.sleep(0.3)                                 # six failed checks: still down, still running
    assert verdict(track) == "0\n" and watch.alive()

    lab.coredns(port=port)
    time_until(track, "1\n", 5)
    watch.signal(signal.SIGTERM)
    assert watch.wait(5) == 0
    assert verdict(track) == "0\n"
    assert json.loads(state.read_text())["reason"] == "stopped"


def test_probe_tells_a_silent_server_from_a_closed_port():
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as silent:
        silent.bind(("127.0.0.1", 0))                # takes the datagrams, never answers
        probe = DnsProbe("127.0.0.1", silent.getsockname()[1], "lb.payment.example", "A", timeout=0.05)
        started = time.monotonic()
        assert probe() == (False, "timeout")
        assert 0.04 <= time.monotonic() - started < 1.0
        probe.close()
        closed_port = free_port()
    probe = DnsProbe("127.0.0.1", closed_port, "lb.payment.example", "A", timeout=1.0)
    started = time.monotonic()
    results = [probe(), probe()]
    assert (False, "port unreachable") in results      # ICMP, not the 1 s timeout
    assert time.monotonic() - started < 1.0
    probe.close()


def test_a_late_answer_to_an_earlier_question_does_not_fail_the_current_one(lab):
    coredns = lab.coredns()
    probe = DnsProbe("127.0.0.1", coredns.port, "lb.payment.example", "A", timeout=0.1)
    coredns.proc.signal(signal.SIGSTOP)
    try:
        assert probe() == (False, "timeout")       # this question waits in CoreDNS's socket
    finally:
        coredns.proc.signal(signal.SIGCONT)
    probe.timeout = 5.0                            # a busy machine may take a while to resume CoreDNS
    # the first datagram back answers the old question: it is skipped by its ID, not taken for a
    # bad response (which would be a false "down" after every recovery)
    assert probe() == (True, "answered")
    probe.close()
