"""The reference lab converges and every flow works: DNS through the VRRP VIP, HTTP by name
through anycast/ECMP to every LB and every backend, Prometheus scraping, `lblab status`."""
from __future__ import annotations

import json
import subprocess
import sys

import yaml

from lblab.kinds import dns, prometheus, router
from lblab.lab import converge, probes


def test_converged_state(healthy_lab):
    lab = healthy_lab
    results = {c.name: c for c in converge.checks(lab)}
    assert all(c.ok for c in results.values()), results
    sessions = router.bgp_sessions(lab, "r1")
    assert {lb for lb, p in sessions.items() if p["info"] == "Established"} >= {"lb1", "lb2", "lb3"}
    assert lab.route_nexthops("r1", "10.0.0.100/32") == ["10.0.1.1", "10.0.1.2", "10.0.1.3"]
    assert dns.vip_holders(lab) == ["dns1"]
    assert lab.ledger.state["converged_s"] > 0


def test_dns_through_vip_from_every_client(healthy_lab):
    lab = healthy_lab
    for client in lab.node_names("client"):
        assert probes.dns_a(lab.ns(client), "192.168.1.100", "lb.payment.example") == ["10.0.0.100"]


def test_requests_by_name_reach_every_lb_and_backend(healthy_lab):
    lab = healthy_lab
    lbs, backends = set(), set()
    for client in lab.node_names("client"):
        for _ in range(40):
            # curl resolves through the namespace's resolv.conf (the DNS VIP); new connection each
            result = lab.run(client, ["curl", "-s", "-o", "/dev/null", "-D", "-", "-m", "2",
                                      "http://lb.payment.example/"], timeout=5)
            assert result.returncode == 0, result.stderr
            headers = dict(line.split(": ", 1) for line in result.stdout.splitlines() if ": " in line)
            assert result.stdout.startswith("HTTP/1.1 200")
            lbs.add(headers.get("X-LB") or headers.get("x-lb"))
            backends.add(headers.get("X-Backend") or headers.get("x-backend"))
    assert lbs == {"lb1", "lb2", "lb3"}
    assert backends == {f"be{i}" for i in range(1, 7)}


def test_prometheus_scrapes_lbapp_and_etcd(healthy_lab):
    health = prometheus.targets(healthy_lab)
    jobs = {target.split("/")[0] for target, state in health.items() if state == "up"}
    assert {"lbserver", "backend", "etcd", "coredns", "orchestrator"} <= jobs
    # the standby's LB server is held stopped by its agent: not down
    assert health.pop("lbserver/lb4") == "held"
    assert all(state == "up" for state in health.values()), health


def test_prometheus_runs_the_topologys_scrape_interval_once_converged(healthy_lab):
    """Bring-up starts it with a faster first-scrape interval; convergence puts the topology's back."""
    lab = healthy_lab
    status, _, body = probes.http_get(lab.ns("prometheus"), "127.0.0.1", 9090, "/api/v1/status/config", timeout=2)
    assert status == 200
    loaded = yaml.safe_load(json.loads(body)["data"]["yaml"])["global"]
    assert loaded["scrape_interval"] == "1s" and loaded["scrape_timeout"] == "800ms", loaded


def test_status_json_describes_the_lab(healthy_lab):
    out = subprocess.run([sys.executable, "-m", "lblab.cli", "status", "--lab", healthy_lab.name, "--json"],
                         capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    data = json.loads(out.stdout)
    assert data["dns_vip_holders"] == ["dns1"]
    assert data["ecmp"]["r1"]["nexthops"] == ["10.0.1.1", "10.0.1.2", "10.0.1.3"]
    assert all(v == "healthy" for v in data["etcd"].values()) and len(data["etcd"]) == 3
    lb1 = next(n for n in data["nodes"] if n["name"] == "lb1")
    assert {d["name"]: d["state"] for d in lb1["daemons"]} == {
        "bird": "running", "lbserver": "running", "announcer": "running", "agent": "running",
        "reporter": "running"}
    lb4 = next(n for n in data["nodes"] if n["name"] == "lb4")
    assert {d["name"]: d["state"] for d in lb4["daemons"]}["lbserver"] == "held"
    orchestration = data["orchestration"]
    assert orchestration["leader"] in ("orch1", "orch2", "orch3")
    assert orchestration["members"] == ["orch1", "orch2", "orch3"]
    assert sum(len(s["targets"]) for s in orchestration["shards"].values()) == 6
    assert {n: a["phase"] for n, a in orchestration["agents"].items()} == {
        "lb1": "active", "lb2": "active", "lb3": "active", "lb4": "standby"}
    assert data["bgp"]["r1"]["lb1"]["info"] == "Established"


def test_mininet_cli_attaches_to_the_running_lab(healthy_lab):
    commands = "nodes\nclient1 curl -s http://lb.payment.example/\nexit\n"
    out = subprocess.run([sys.executable, "-m", "lblab.cli", "cli", "--lab", healthy_lab.name], input=commands,
                         capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    assert "client1" in out.stdout and "lb1" in out.stdout and "prometheus" in out.stdout
    assert '"backend": "be' in out.stdout
    # leaving the CLI leaves the lab running
    assert healthy_lab.route_nexthops("r1", "10.0.0.100/32") == ["10.0.1.1", "10.0.1.2", "10.0.1.3"]


def test_admin_endpoints_are_off_the_data_plane(healthy_lab):
    """A client cannot reach /metrics, /-/status or POST /-/drain of an LB through the anycast
    VIP or the LB's data-plane address; the control LAN (Prometheus) and loopback can."""
    lab = healthy_lab
    for target in ("10.0.0.100", "10.0.1.1"):
        result = lab.run("client1", ["curl", "-s", "-m", "2", "-o", "/dev/null", "-w", "%{http_code}",
                                     "-X", "POST", f"http://{target}:9100/-/drain"], timeout=5)
        assert result.stdout == "000", f"admin answered on {target}: {result.stdout}"
    assert lab.daemon("lb1", "lbserver").check_ready() is None       # not drained
    status, _, _ = probes.http_get(lab.ns("prometheus"), "10.2.0.101", 9100, "/metrics", timeout=2)
    assert status == 200
