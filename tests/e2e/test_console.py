"""The console in the lab: reachable from the lab host's 127.0.0.1 through the forwarder (with no
route to the lab), its token in `lblab status`, `lblab console` commands and hostile input to
them, its metrics in Prometheus, its live view following an LB out and back, and a write staying
fast with one etcd member cut off."""
from __future__ import annotations

import http.client
import ipaddress
import json
import os
import socket
import stat
import statistics
import subprocess
import sys
import time

import pytest

from lblab import status
from lblab.cli import main as lblab_main
from lblab.kinds.console import forwarder
from lblab.lab.consoleapi import ConsoleApi
from lblab.lab.propagation import lb_status, running_lbs, wait_applied
from tests.e2e.conftest import RESULTS

LB_ID = "payment"


def console_entry(lab) -> dict:
    entries = status.collect(lab)["console"]
    assert list(entries) == ["console"]
    return entries["console"]


def host_get(url: str, path: str, headers: dict | None = None, method: str = "GET",
             body: bytes | None = None) -> tuple[int, bytes]:
    """A request from the lab host's own namespace (this test process)."""
    host, port = url.removeprefix("http://").split(":")
    conn = http.client.HTTPConnection(host, int(port), timeout=5)
    try:
        conn.request(method, path, body=body, headers=headers or {})
        response = conn.getresponse()
        return response.status, response.read()
    finally:
        conn.close()


def wait_until(check, timeout: float, what: str, interval: float = 0.1):
    """Poll ``check`` until truthy; a connection refused or reset meanwhile is 'not yet'."""
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        try:
            value = check()
        except (OSError, http.client.HTTPException) as exc:
            value, last = None, exc
        if value:
            return value
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout} s waiting for {what} (last error: {last!r})")


@pytest.fixture
def restore_config(healthy_lab):
    """The LB config as it was before the test, written back through the console after it."""
    api = ConsoleApi(healthy_lab)
    original = api.lb(LB_ID)["config"]
    yield api
    api.edit(LB_ID, "replace", original)


def lblab(capsys, *args: str) -> tuple[int, str, str]:
    """`lblab ARGS` in this process (a subprocess pays seconds of imports per command)."""
    capsys.readouterr()
    code = lblab_main(list(args))
    out, err = capsys.readouterr()
    return code, out, err


# -- the forwarder ----------------------------------------------------------------------------

def root_routes() -> list[dict]:
    out = subprocess.run(["ip", "-j", "-4", "route", "show", "table", "all"], capture_output=True,
                         text=True, check=True)
    return json.loads(out.stdout)


def test_ui_answers_on_host_loopback_and_the_host_has_no_lab_route(healthy_lab):
    lab = healthy_lab
    url = console_entry(lab)["url"]
    assert url and url.startswith("http://127.0.0.1:")
    code, page = host_get(url, "/")
    assert code == 200 and b"payment" in page
    code, body = host_get(url, "/api/lbs")
    assert code == 200 and json.loads(body)["lbs"][0]["lb_id"] == LB_ID
    code, page = host_get(url, "/live")
    assert code == 200 and b"chart-lbs" in page
    # the root namespace routes none of the lab's networks
    lab_nets = [ipaddress.ip_network(n) for n in lab.topo.lans.values()]
    lab_nets += [ipaddress.ip_network(f"{a}/32") for a in (lab.topo.service.anycast_vip, lab.topo.dns.vip)]
    for route in root_routes():
        dst = route.get("dst", "default")
        if dst == "default":
            continue
        net = ipaddress.ip_network(dst if "/" in dst else f"{dst}/32", strict=False)
        assert not any(net.overlaps(n) for n in lab_nets), f"root namespace routes {dst}: {route}"
    # it listens on loopback only
    port = url.rsplit(":", 1)[1]
    out = subprocess.run(["ss", "-Htln", f"sport = :{port}"], capture_output=True, text=True, check=True)
    listeners = [line.split()[3] for line in out.stdout.splitlines()]
    assert listeners == [f"127.0.0.1:{port}"], out.stdout


def test_forwarder_caps_connections_and_keeps_its_port_across_a_restart(healthy_lab):
    lab = healthy_lab
    url = console_entry(lab)["url"]
    port = int(url.rsplit(":", 1)[1])
    held = []
    try:
        for _ in range(64):                  # the cap (lblab.lab.forwarder --max-connections)
            held.append(socket.create_connection(("127.0.0.1", port), timeout=2))
        time.sleep(0.2)
        extra = socket.create_connection(("127.0.0.1", port), timeout=2)
        extra.settimeout(2)
        try:
            assert extra.recv(1) == b"", "a connection over the cap must be closed at once"
        finally:
            extra.close()
    finally:
        for sock in held:
            sock.close()
    assert wait_until(lambda: host_get(url, "/-/healthy")[0] == 200, 5, "the UI after the cap")
    lab.fault("kill", node="console", daemon="forwarder")
    lab.heal_all()
    assert console_entry(lab)["url"] == url
    assert host_get(url, "/-/healthy")[0] == 200


# -- the token ----------------------------------------------------------------------------------

def test_token_in_status_guards_writes(healthy_lab, restore_config):
    lab = healthy_lab
    out = subprocess.run([sys.executable, "-m", "lblab.cli", "status", "--lab", lab.name, "--json"],
                         capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    entry = json.loads(out.stdout)["console"]["console"]
    token = entry["token"]
    assert len(token) >= 16
    path = lab.dir / "console.token"
    assert entry["token_file"] == str(path) and path.read_text().strip() == token
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    view = restore_config.lb(LB_ID)
    body = json.dumps({"algorithm": "least_connections"}).encode()
    headers = {"Content-Type": "application/json", "If-Match": f'"{view["version"]}"'}
    code, answer = host_get(entry["url"], f"/api/lbs/{LB_ID}/algorithm", headers, "PUT", body)
    assert code == 401, answer
    assert restore_config.lb(LB_ID)["version"] == view["version"]
    code, answer = host_get(entry["url"], f"/api/lbs/{LB_ID}/algorithm",
                            {**headers, "Authorization": f"Bearer {token}"}, "PUT", body)
    assert code == 200, answer
    version = json.loads(answer)["version"]
    wait_applied(lab, running_lbs(lab), version, json.loads(answer)["committed_at"], timeout=10)
    assert {lb_status(lab, lb)["config"]["algorithm"] for lb in running_lbs(lab)} == {"least_connections"}


# -- lblab console ------------------------------------------------------------------------------

def test_console_commands_change_every_lb_server(healthy_lab, restore_config, capsys):
    lab, name = healthy_lab, healthy_lab.name
    code, out, err = lblab(capsys, "console", "get", "--lab", name)
    assert code == 0, err
    assert "payment: version" in out and "lb1: serves version" in out
    code, out, err = lblab(capsys, "console", "algorithm", "least_connections", "--lab", name)
    assert code == 0, err
    assert "served by lb1 in" in out and "lb4 in" not in out      # the standby runs no LB server
    assert {lb_status(lab, lb)["config"]["algorithm"] for lb in running_lbs(lab)} == {"least_connections"}
    code, out, err = lblab(capsys, "console", "weights", "be1=4", "be2=0", "--lab", name)
    assert code == 0, err
    assert restore_config.lb(LB_ID)["config"]["weights"] == {"be1": 4, "be2": 0}
    code, _, err = lblab(capsys, "console", "backend", "remove", "be6", "--lab", name)
    assert code == 0, err
    assert "be6" not in restore_config.lb(LB_ID)["backends"]
    code, _, err = lblab(capsys, "console", "backend", "add", "10.1.0.16:8080", "--name", "be6",
                         "--weight", "2", "--lab", name)
    assert code == 0, err
    details = {b["name"]: b for b in restore_config.lb(LB_ID)["backend_details"]}
    assert details["be6"]["weight"] == 2
    code, _, err = lblab(capsys, "console", "set", "algorithm=round_robin", "weights=null", "--lab", name)
    assert code == 0, err
    config = restore_config.lb(LB_ID)["config"]
    assert config["algorithm"] == "round_robin" and "weights" not in config
    code, out, err = lblab(capsys, "console", "audit", "--limit", "5", "--lab", name)
    assert code == 0, err
    assert out.count("lblab@") == 5 and "remove backend" in out


def test_console_drain_and_undrain(healthy_lab, capsys):
    lab, name = healthy_lab, healthy_lab.name
    code, out, err = lblab(capsys, "console", "drain", "lb2", "--lab", name)
    assert code == 0, err
    assert "HTTP 202" in out
    # its agent keeps it stopped (held, not dead: heal leaves it so) and the route drops it
    wait_until(lambda: lab.daemon_state(lab.daemon("lb2", "lbserver")) == "held", 15, "lb2 drained")
    wait_until(lambda: "10.0.1.2" not in lab.route_nexthops("r1", "10.0.0.100/32"), 5, "lb2 withdrawn")
    assert "lb2" in ConsoleApi(lab).lb(LB_ID)["drained"]
    time.sleep(1.5)          # past the agent's restart backoff: nothing brought it back
    assert lab.daemon_state(lab.daemon("lb2", "lbserver")) == "held"
    code, out, err = lblab(capsys, "console", "undrain", "lb2", "--lab", name)
    assert code == 0, err
    assert "lb2: LB server running" in out        # its agent started it again
    assert "lb2" not in ConsoleApi(lab).lb(LB_ID)["drained"]
    wait_until(lambda: "10.0.1.2" in lab.route_nexthops("r1", "10.0.0.100/32"), 10, "lb2 announced")


HOSTILE = [
    (["weights", "be1=-1"], "weights.be1"),
    (["weights", "be1=abc"], "weights.be1"),
    (["weights", "be1=1e9"], "weights.be1"),
    (["weights", "nosuch=1"], "unknown backend 'nosuch'"),
    (["weights", "be1"], "must be NAME=VALUE"),
    (["weights", "=3"], "must be NAME=VALUE"),
    (["weights", "be1=1", "be1=2"], "given twice"),
    (["weights", "be1=[1, 2"], "be1"),
    (["algorithm", "fastest; rm -rf /"], "unknown algorithm"),
    (["algorithm", "x" * 20000], "unknown algorithm"),
    (["algorithm", "maglev", "--hash", "{key: [1]}"], "hash"),
    (["backend", "add", "nocolon"], "must be ADDRESS:PORT"),
    (["backend", "add", "10.1.0.99:99999"], "port"),
    (["backend", "add", "10.1.0.99:80x"], "port"),
    (["backend", "add", "10.1.0.11:8080", "--name", "be1"], "already exists"),
    (["backend", "add", "10.1.0.99:80", "--weight", "-2"], "weight"),
    (["backend", "remove", "../../etc/passwd"], "unknown backend '../../etc/passwd'"),
    (["backend", "remove", "%2e%2e"], "unknown backend '%2e%2e'"),
    (["set", "poll_frequency=-5"], "poll_frequency"),
    (["set", "backend_servers=[]"], "backend_servers"),
    (["set", "nonsense_key=1"], "nonsense_key"),
    (["set", "algorithm"], "must be NAME=VALUE"),
    (["set", "a=&x [*x, *x]"], "key a"),
    (["set", "--lb", "../../x", "algorithm=random"], "unknown load balancer"),
    (["drain", "lb9"], "unknown LB server 'lb9'"),
    (["drain", "../lb1"], "unknown LB server '../lb1'"),
    (["undrain", "lb1\n"], "unknown LB server"),
]


@pytest.mark.parametrize("words,named", HOSTILE, ids=[" ".join(w)[:40] for w, _ in HOSTILE])
def test_console_commands_refuse_hostile_input(healthy_lab, capsys, words, named):
    api = ConsoleApi(healthy_lab)
    before = api.lb(LB_ID)["version"]
    command, *rest = words
    code, out, err = lblab(capsys, "console", command, *rest, "--lab", healthy_lab.name)
    assert code == 2, (out, err)
    assert err.startswith("lblab: ") and named in err, err
    assert "Traceback" not in err
    assert api.lb(LB_ID)["version"] == before       # nothing written


def test_console_command_on_a_lab_that_is_not_there(capsys):
    code, _, err = lblab(capsys, "console", "get", "--lab", "nosuchlab")
    assert code == 2 and "no lab named 'nosuchlab'" in err
    code, _, err = lblab(capsys, "console", "get", "--lab", "../../etc")
    assert code == 2 and "invalid lab name" in err


# -- metrics and the live view ------------------------------------------------------------------

def test_console_metrics_reach_prometheus(healthy_lab):
    lab = healthy_lab
    ConsoleApi(lab).lbs()
    prometheus = lab.daemon("prometheus", "prometheus")
    assert prometheus.targets_health().get("console/console") == "up"

    def scraped():
        code, _, body = prometheus_query(lab, "lbapp_console_requests_total")
        return code == 200 and json.loads(body)["data"]["result"]
    series = wait_until(scraped, 15, "console metrics in Prometheus", interval=0.5)
    assert {s["metric"]["job"] for s in series} == {"console"}


def prometheus_query(lab, query: str):
    from urllib.parse import quote

    from lblab.daemons.prometheus import PORT
    from lblab.lab import probes

    ctx = lab.ctx("prometheus")
    return probes.http_get(ctx.ns, ctx.control_address, PORT, f"/api/v1/query?query={quote(query)}",
                           timeout=2)


def test_live_view_follows_an_lb_out_and_back(healthy_lab):
    lab = healthy_lab
    api = ConsoleApi(lab)

    def lb2(field):
        def read():
            points = api.call("GET", "/api/live")["points"]
            return points and points[-1]["lbs"][LB_ID]["lb2"].get(field)
        return read
    wait_until(lambda: lb2("rps")() is not None, 10, "a rate for lb2")
    lab.fault("kill", node="lb2", daemon="lbserver")
    wait_until(lambda: lb2("up")() is False, 5, "lb2 down in the live view")
    wait_until(lambda: (api.lab_status()["announcements"] or {}).get("lb2", {}).get("announced") is False,
               5, "lb2 withdrawn in the live status")
    lab.heal_all()
    wait_until(lambda: lb2("up")() is True, 10, "lb2 back in the live view")
    wait_until(lambda: api.lab_status()["announcements"]["lb2"]["announced"] is True, 10,
               "lb2 announced again in the live status")


# -- one etcd member cut off --------------------------------------------------------------------

def test_write_stays_fast_with_one_etcd_member_cut_off(healthy_lab, restore_config):
    lab = healthy_lab
    others = [n for n in lab.node_names() if n != "etcd1"]
    lab.fault("partition", groups=[["etcd1"], others])
    api = ConsoleApi(lab)
    samples = []
    for i in range(12):
        current = api.lb(LB_ID)
        started = time.time()
        written = api.call("PUT", f"/api/lbs/{LB_ID}/config",
                           {**current["config"], "poll_frequency": 2000 + (i % 2)}, current["version"])
        answered = time.time()
        served = wait_applied(lab, running_lbs(lab), written["version"], written["committed_at"],
                              timeout=10)
        samples.append({"write_s": answered - started, "push_s": max(served.values()),
                        "to_served_s": max(served.values()) + written["committed_at"] - started})
    lab.fault("heal")
    first, later = samples[0], samples[1:]
    result = {"first": first, "later_write_p50_s": statistics.median(s["write_s"] for s in later),
              "later_write_max_s": max(s["write_s"] for s in later),
              "later_push_p50_s": statistics.median(s["push_s"] for s in later),
              "later_push_max_s": max(s["push_s"] for s in later), "samples": samples}
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "console-write-etcd1-cut-off.json").write_text(json.dumps(result, indent=1) + "\n")
    print(json.dumps({k: v for k, v in result.items() if k != "samples"}, indent=1))
    # the first write may pay one short timeout (0.5 s) per client on etcd1; later ones none
    assert first["to_served_s"] < 2.5, first
    assert result["later_write_max_s"] < 0.5, samples
    assert result["later_push_p50_s"] < 0.2, samples
