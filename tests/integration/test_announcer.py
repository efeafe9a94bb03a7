"""The anycast announcer against a real BIRD and a real lbapp process: BIRD's `vip` protocol is up
only while the watched endpoint answers, and comes back after BIRD restarts."""
from __future__ import annotations

import json
import shutil
import signal

import pytest

from tests.integration.harness import PY, wait_until

pytestmark = pytest.mark.skipif(shutil.which("bird") is None, reason="bird not installed")

# Only the static protocol the announcer switches: no BGP, no kernel table, nothing on the network.
BIRD_CONFIG = """log stderr all;
router id 192.0.2.1;
protocol device { scan time 10; }
protocol static vip {
  disabled;
  ipv4;
  route 10.0.0.100/32 blackhole;
}
"""


def vip_state(bird) -> str | None:
    try:
        return bird.control.protocols()["vip"]["state"]
    except (OSError, ConnectionError, RuntimeError, KeyError):
        return None


def announcing(state_file) -> bool | None:
    try:
        return json.loads(state_file.read_text())["announcing"]
    except (OSError, ValueError, KeyError):
        return None


def test_the_vip_protocol_follows_the_endpoint(lab):
    bird = lab.bird("bird", BIRD_CONFIG)
    backend = lab.backend("be1")
    state_file = lab.tmp / "announcer.json"
    announcer = lab.start("announcer", [
        PY, "-m", "lbapp.announcer", "--ready-url", f"http://127.0.0.1:{backend.port}/health",
        "--bird-socket", str(bird.control.path), "--interval-ms", "50", "--timeout-ms", "50",
        "--rise", "2", "--fall", "2", "--state-file", str(state_file)])
    # the state file is written right after BIRD is told
    wait_until(lambda: vip_state(bird) == "up" and announcing(state_file), 5, "vip enabled")

    backend.proc.signal(signal.SIGSTOP)
    try:
        wait_until(lambda: vip_state(bird) == "down" and announcing(state_file) is False, 2,
                   "vip disabled while the endpoint hangs")
        assert json.loads(state_file.read_text())["reason"] == "timeout"
    finally:
        backend.proc.signal(signal.SIGCONT)
    wait_until(lambda: vip_state(bird) == "up", 2, "vip enabled again")

    # BIRD restarts with the protocol disabled (its config): the announcer re-asserts it
    bird.proc.stop()
    bird = lab.bird("bird", BIRD_CONFIG)           # same control socket path
    wait_until(lambda: vip_state(bird) == "up", 3, "vip re-enabled after BIRD restarted")

    announcer.signal(signal.SIGTERM)
    assert announcer.wait(5) == 0
    assert vip_state(bird) == "down"
    assert json.loads(state_file.read_text()) | {"since": 0, "pid": 0} == {
        "announcing": False, "reason": "stopped", "since": 0, "pid": 0}


def test_a_bad_ready_url_is_refused_by_name(lab):
    proc = lab.start("announcer", [PY, "-m", "lbapp.announcer", "--ready-url", "not a url",
                                   "--bird-socket", str(lab.tmp / "none.ctl")])
    assert proc.wait(10) == 2
    assert "--ready-url 'not a url' has no host" in proc.output()


@pytest.mark.parametrize("option, value, message", [
    ("--rise", "0", "--rise: 0 is outside 1..100"),
    ("--interval-ms", "fast", "--interval-ms: 'fast' is not a whole number of milliseconds")])
def test_bad_timing_options_are_refused_by_name(lab, option, value, message):
    proc = lab.start("announcer", [PY, "-m", "lbapp.announcer", "--ready-url", "http://127.0.0.1:1/",
                                   "--bird-socket", str(lab.tmp / "none.ctl"), option, value])
    assert proc.wait(10) == 2
    assert message in proc.output()
