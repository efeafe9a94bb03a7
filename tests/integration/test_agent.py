"""The LB node agent with real children (the LB server, and a backend app standing in for the
announcer): activate on the desired state, restart a crashed child, drain on standby with the
in-flight request served, stop everything and deregister on SIGTERM."""
from __future__ import annotations

import json
import os
import signal
import threading
import time

import pytest
import yaml

from lbapp import keys
from tests.integration.harness import (PY, base_config, free_port, http_get, needs_daemons,
                                       wait_until)
from tests.integration.orchharness import (_b64, agent_state, etcd_call, etcd_put, etcd_range,
                                           etcd_value, lb_child, start_agent)

pytestmark = needs_daemons


def parent_of(pid: int) -> int:
    return int(open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1].split()[1])


def gone(pid: int) -> bool:
    try:
        return open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1].split()[0] in ("Z", "X")
    except FileNotFoundError:
        return True


def desire(etcd, node: str, state: str) -> None:
    etcd_put(etcd.endpoint, keys.desired_key(node), json.dumps(
        {"state": state, "term": 1, "reason": "test", "at": time.time()}))


@pytest.fixture
def agent(lab):
    etcd = lab.etcd()
    backend = lab.backend("be1")
    etcd.put_config(base_config([backend]))
    lb_settings, lb_port, admin = lab.lb_settings(etcd, None, "lb4")
    sidecar_port = free_port()
    sidecar = {"name": "sidecar", "argv": [PY, "-m", "lbapp.backend", "--name", "sidecar",
                                           "--listen", f"127.0.0.1:{sidecar_port}"],
               "log_file": str(lab.tmp / "sidecar.log"),
               "ready_url": f"http://127.0.0.1:{sidecar_port}/health"}
    proc, state_file = start_agent(lab, "lb4", [etcd.endpoint], "standby",
                                   [lb_child(lab, lb_settings, admin), sidecar])

    def state() -> dict:
        return agent_state(state_file)

    def registered() -> dict | None:
        return etcd_value(etcd.endpoint, keys.agent_key("lb4"))

    wait_until(lambda: (registered() or {}).get("phase") == "standby", 10, "agent registered")
    return etcd, proc, state, registered, lb_port


def test_activate_restart_drain_and_stop(agent):
    etcd, proc, state, registered, lb_port = agent
    assert state()["children"] == {} and state()["phase"] == "standby"
    assert etcd_range(etcd.endpoint, keys.agent_key("lb4"))[keys.agent_key("lb4")]["lease"]

    desire(etcd, "lb4", "active")
    wait_until(lambda: registered()["phase"] == "active", 20, "active")
    assert set(registered()["children"]) == {"lbserver", "sidecar"}
    assert http_get(lb_port, "/")[0] == 200

    lb_pid = state()["children"]["lbserver"]
    # forked from the agent's zygote (preloaded), and the agent's own child once reparented
    assert "started lbserver (pid %d, forked from the zygote)" % lb_pid in proc.output()
    assert parent_of(lb_pid) == proc.pid
    os.kill(lb_pid, signal.SIGKILL)
    wait_until(lambda: state()["children"].get("lbserver") not in (None, lb_pid)
               and state()["phase"] == "active", 20, "lbserver restarted")
    wait_until(lambda: http_get(lb_port, "/")[0] == 200, 10, "serving again")

    slow = {}
    worker = threading.Thread(target=lambda: slow.update(
        r=http_get(lb_port, "/delay?ms=700", timeout=10)))
    worker.start()
    time.sleep(0.2)    # the request is in flight
    desire(etcd, "lb4", "standby")
    wait_until(lambda: state()["phase"] == "standby", 20, "standby")
    worker.join(10)
    assert slow["r"][0] == 200, "the in-flight request was not served through the drain"
    assert state()["children"] == {}
    with pytest.raises(OSError):
        http_get(lb_port, "/", timeout=1)
    assert "lbserver exited with 0" in proc.output()

    proc.signal(signal.SIGTERM)
    assert proc.wait(20) == 0
    assert registered() is None   # lease revoked: gone at once, not after its TTL


def test_initial_desired_state_is_written_once(agent, lab):
    etcd, proc, state, registered, lb_port = agent
    seeded = etcd_value(etcd.endpoint, keys.desired_key("lb4"))
    assert seeded["state"] == "standby" and seeded["term"] == 0 and seeded["lb_id"] == "payment"
    # a restarted agent finds the leader's word there and leaves it
    desire(etcd, "lb4", "active")
    wait_until(lambda: state()["phase"] == "active", 20, "active")
    proc.signal(signal.SIGTERM)
    assert proc.wait(20) == 0
    idle = {"name": "idle", "argv": [PY, "-c", "import time; time.sleep(60)"]}
    again, again_state = start_agent(lab, "lb4", [etcd.endpoint], "standby", [idle])
    wait_until(lambda: agent_state(again_state).get("phase") == "active", 20, "restarted agent active")
    assert etcd_value(etcd.endpoint, keys.desired_key("lb4"))["state"] == "active"
    assert "wrote the initial one" not in again.output()


def test_a_drain_key_holds_the_node_stopped_until_it_is_gone(agent):
    etcd, proc, state, registered, lb_port = agent
    desire(etcd, "lb4", "active")
    wait_until(lambda: state()["phase"] == "active", 20, "active")
    drain = keys.drain_key("payment", "lb4")
    etcd_put(etcd.endpoint, drain, json.dumps({"by": "ops", "at": time.time()}))
    wait_until(lambda: state()["phase"] == "standby" and state()["drained"], 20, "drained")
    assert state()["children"] == {} and state()["desired"] == "active"
    assert registered()["drained"] is True
    time.sleep(1.0)    # longer than the restart backoff: nothing was restarted behind the drain
    assert state()["children"] == {} and "started lbserver" not in proc.output().split("drained by")[-1]
    etcd_call(etcd.endpoint, "/v3/kv/deleterange", {"key": _b64(drain)})
    wait_until(lambda: state()["phase"] == "active" and not state()["drained"], 20, "undrained")
    assert http_get(lb_port, "/")[0] == 200


def test_malformed_desired_state_is_skipped(agent):
    etcd, proc, state, registered, lb_port = agent
    etcd_put(etcd.endpoint, keys.desired_key("lb4"), '{"state": "full throttle"}')
    wait_until(lambda: "invalid DesiredState" in proc.output(), 5, "bad value logged")
    assert state()["phase"] == "standby" and proc.alive()
    desire(etcd, "lb4", "active")
    wait_until(lambda: state()["phase"] == "active", 20, "active after a good value")


def test_settings_errors_name_the_field(lab):
    path = lab.tmp / "bad.yaml"
    path.write_text(yaml.safe_dump({"node": "lb4", "lb_id": "payment",
                                    "etcd_endpoints": ["ftp://x"], "children": []}))
    proc = lab.start("bad-agent", [PY, "-m", "lbapp.agent", "--settings", str(path)])
    assert proc.wait(10) == 2
    out = proc.output()
    assert "invalid agent settings" in out and "etcd_endpoints" in out and "children" in out


def test_children_of_a_killed_agent_stop_with_it(agent):
    """SIGKILL leaves the agent no time to stop its children: each asked for SIGTERM on its
    parent's death, so none keeps serving untracked (the LB server drains and exits)."""
    etcd, proc, state, registered, lb_port = agent
    desire(etcd, "lb4", "active")
    wait_until(lambda: registered()["phase"] == "active", 20, "active")
    children = list(state()["children"].values())
    proc.signal(signal.SIGKILL)
    wait_until(lambda: all(gone(pid) for pid in children), 15, "children gone with the agent")
