"""Every daemon config of the reference lab renders from its template with the topology's
values; BIRD configs also pass BIRD's own parser when bird is installed."""
from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

from lbapp.console.settings import parse_settings as parse_console_settings
from lbapp.lbserver.settings import parse_settings
from lblab.daemons.base import NodeContext
from lblab.kinds import kind_of
from lblab.lab.flow_affinity import targets as affinity_targets
from lblab.lab.templates import render
from lblab.topology.load import load_topology

TOPO = load_topology("reference")


def daemons_for(ctx: NodeContext):
    return kind_of(ctx.spec.role).daemons(ctx)


def rendered(node: str, daemon: str, tmp_path: Path) -> dict[str, str]:
    ctx = NodeContext("ref", TOPO, node, f"ref-{node}", tmp_path / "nodes" / node)   # a lab's layout
    found = next(d for d in daemons_for(ctx) if d.name == daemon)
    return {path.name: text for path, text in found.render().items()}


def only(files: dict[str, str]) -> str:
    assert len(files) == 1
    return next(iter(files.values()))


def test_roles_get_their_daemons(tmp_path):
    def kinds(node):
        return [d.name for d in daemons_for(NodeContext("ref", TOPO, node, "x", tmp_path))]

    assert kinds("r1") == ["bird"]
    # the agent runs the LB server and announcer (a standby's only once it is activated)
    assert kinds("lb1") == ["bird", "lbserver", "announcer", "agent", "reporter"]
    assert kinds("lb4") == ["bird", "lbserver", "announcer", "agent", "reporter"]
    assert kinds("orch1") == ["orchestrator"]
    assert kinds("dns1") == ["coredns", "dnswatch", "keepalived", "reporter"]
    assert kinds("console") == ["console", "forwarder"]
    assert kinds("be1") == ["backend"]
    assert kinds("etcd2") == ["etcd"]
    assert kinds("client1") == []


def test_router_bgp_to_every_lb_with_md5_bfd_and_filter(tmp_path):
    conf = only(rendered("r1", "bird", tmp_path))
    for lb, asn, address in (("lb1", 65001, "10.0.1.1"), ("lb2", 65002, "10.0.1.2"),
                             ("lb3", 65003, "10.0.1.3"), ("lb4", 65004, "10.0.1.4")):
        assert f"protocol bgp bgp_{lb} from lb_peer" in conf
        assert f"neighbor {address} as {asn};" in conf
    assert 'password "lblab-md5";' in conf
    assert "bfd on;" in conf and "interval 100 ms;" in conf and "multiplier 3;" in conf
    assert "merge paths on;" in conf
    assert "define ANYCAST_VIP = 10.0.0.100/32;" in conf
    assert "import filter lb_announcement;" in conf and "export none;" in conf


def test_router_shuts_down_an_lb_session_past_the_max_prefix_limit(tmp_path):
    conf = only(rendered("r1", "bird", tmp_path))
    assert "define LB_MAX_PREFIXES = 10;" in conf
    assert "receive limit LB_MAX_PREFIXES action disable;" in conf
    settings = [line for line in conf.splitlines() if not line.strip().startswith("#")]
    assert not any("import limit" in line for line in settings)   # could never fire behind the filter


def test_speaker_announces_only_vip_and_starts_withdrawn(tmp_path):
    conf = only(rendered("lb2", "bird", tmp_path))
    assert "protocol static vip {\n  disabled;" in conf
    assert "route 10.0.0.100/32 blackhole;" in conf
    assert "local 10.0.1.2 as 65002;" in conf and "neighbor 10.0.1.254 as 65000;" in conf
    assert 'export where proto = "vip" || proto = "rogue";' in conf
    assert "protocol kernel rogue {" in conf and "kernel table 200;" in conf and "learn;" in conf


def test_router_keeps_rejected_announcements_visible(tmp_path):
    conf = only(rendered("r1", "bird", tmp_path))
    assert "import keep filtered on;" in conf


@pytest.mark.skipif(shutil.which("bird") is None, reason="bird not installed")
@pytest.mark.parametrize("node", ["r1", "lb1"])
def test_bird_accepts_its_config(tmp_path, node):
    conf = tmp_path / "bird.conf"
    conf.write_text(only(rendered(node, "bird", tmp_path)))
    result = subprocess.run(["bird", "-p", "-c", str(conf)], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr


def test_keepalived_vrrp3_fast_adverts_and_unicast_peer(tmp_path):
    dns1 = rendered("dns1", "keepalived", tmp_path)["keepalived.conf"]
    dns2 = rendered("dns2", "keepalived", tmp_path / "2")["keepalived.conf"]
    assert "vrrp_version 3" in dns1 and "advert_int 0.1" in dns1
    assert "priority 150" in dns1 and "priority 100" in dns2
    assert "unicast_src_ip 192.168.1.2" in dns1 and "192.168.1.3" in dns1
    assert "192.168.1.100/24 dev eth-client" in dns1
    assert "virtual_router_id 51" in dns1 and "track_script" in dns1


def test_keepalived_tracks_the_dns_watch_file(tmp_path):
    conf = rendered("dns1", "keepalived", tmp_path)["keepalived.conf"]
    block = conf[conf.index("track_file coredns_watch {"):]
    assert block.startswith(f'track_file coredns_watch {{\n  file "{tmp_path}/nodes/dns1/dnswatch.ok"\n'
                            "  weight 0 reverse\n}")
    instance = conf[conf.index("vrrp_instance dns_vip {"):]
    assert "  track_file {\n    coredns_watch\n  }" in instance
    assert "  track_script {\n    coredns_backstop\n  }" in instance     # the slow backstop stays
    assert "http://127.0.0.1:8080/health" in conf
    assert "init_file" not in conf      # keepalived must never overwrite the watch's verdict


def test_keepalived_records_every_state_change_per_instance(tmp_path):
    files = rendered("dns1", "keepalived", tmp_path)
    instance = files["keepalived.conf"][files["keepalived.conf"].index("vrrp_instance dns_vip {"):]
    assert f'  notify "/bin/sh {tmp_path}/nodes/dns1/keepalived-notify.sh"' in instance
    script = tmp_path / "notify.sh"
    script.write_text(files["keepalived-notify.sh"])
    node_dir = tmp_path / "nodes" / "dns1"
    node_dir.mkdir(parents=True)
    for args, state in ((["INSTANCE", "dns_vip", "MASTER", "150"], "MASTER\n"),
                        (["INSTANCE", "dns_vip", "FAULT", "150"], "FAULT\n")):
        subprocess.run(["/bin/sh", str(script), *args], check=True)
        assert (node_dir / "keepalived-dns_vip.vrrp").read_text() == state
    # a name that could leave the directory is refused
    assert subprocess.run(["/bin/sh", str(script), "INSTANCE", "../x", "MASTER", "1"]).returncode == 1
    assert not (tmp_path / "nodes" / "x.vrrp").exists() and not (node_dir / "keepalived-..").exists()


def test_zone_points_service_name_at_anycast_vip(tmp_path):
    files = rendered("dns1", "coredns", tmp_path)
    zone = next(t for n, t in files.items() if n.endswith(".db"))
    corefile = next(t for n, t in files.items() if n.endswith("Corefile"))
    weights = next(t for n, t in files.items() if n.endswith(".weights"))
    assert "payment.example. 5 IN SOA ns.payment.example. hostmaster.payment.example. 1 60 10 3600 5" in zone
    assert "lb.payment.example. 5 IN A 10.0.0.100" in zone
    assert "ns.payment.example. 5 IN A 192.168.1.100" in zone
    assert "lb.payment.example.\n10.0.0.100 1\n" in weights
    assert "payment.example:53 {" in corefile and "prometheus 10.2.0.2:9153" in corefile
    assert f"loadbalance weighted {tmp_path}/nodes/dns1/coredns.weights {{\n    reload 100ms" in corefile
    assert "file " in corefile and "reload 100ms" in corefile


def test_etcd_members_form_one_cluster_with_gateway(tmp_path):
    data = yaml.safe_load(only(rendered("etcd2", "etcd", tmp_path)))
    assert data["name"] == "etcd2"
    assert data["initial-cluster"] == ("etcd1=http://10.2.0.11:2380,etcd2=http://10.2.0.12:2380,"
                                       "etcd3=http://10.2.0.13:2380")
    assert data["enable-grpc-gateway"] is True
    assert data["advertise-client-urls"] == "http://10.2.0.12:2379"


def test_prometheus_scrapes_every_lbapp_process_coredns_and_etcd(tmp_path):
    data = yaml.safe_load(only(rendered("prometheus", "prometheus", tmp_path)))
    jobs = {job["job_name"]: [t["targets"][0] for t in job["static_configs"]] for job in data["scrape_configs"]}
    assert jobs["lbserver"] == [f"10.2.0.10{i}:9100" for i in range(1, 5)]
    assert jobs["backend"] == [f"10.2.0.11{i}:8080" for i in range(1, 7)]
    assert jobs["etcd"] == ["10.2.0.11:2379", "10.2.0.12:2379", "10.2.0.13:2379"]
    assert len(jobs["coredns"]) == 2


def prometheus_daemon(topo, tmp_path: Path):
    ctx = NodeContext("ref", topo, "prometheus", "ref-prometheus", tmp_path / "nodes" / "prometheus")
    return next(d for d in daemons_for(ctx) if d.name == "prometheus")


def test_a_fresh_prometheus_scrapes_fast_until_settled_and_a_restarted_one_at_the_topologys_interval(tmp_path):
    daemon = prometheus_daemon(TOPO, tmp_path)
    fresh = yaml.safe_load(only(daemon.render()))["global"]
    assert (fresh["scrape_interval"], fresh["scrape_timeout"]) == ("250ms", "250ms")
    steady = yaml.safe_load(daemon.steady_config())["global"]
    assert (steady["scrape_interval"], steady["scrape_timeout"]) == ("1000ms", "800ms")
    daemon.data_path.mkdir(parents=True)          # it has run before: a restart
    assert yaml.safe_load(only(daemon.render()))["global"]["scrape_interval"] == "1000ms"


def test_prometheus_first_scrapes_are_capped_in_all_and_never_slower_than_the_topologys(tmp_path):
    scale = load_topology("scale")
    daemon = prometheus_daemon(scale, tmp_path)
    targets = sum(len(job["targets"]) for job in daemon.scrape_jobs())
    assert targets > 100
    interval = daemon.first_scrape_interval()
    assert interval == pytest.approx(targets / 100) and interval < scale.nodes["prometheus"].scrape_interval_s
    fast = TOPO.nodes["prometheus"].model_copy(update={"scrape_interval_s": 0.1})
    slow = TOPO.model_copy(update={"nodes": {**TOPO.nodes, "prometheus": fast}})
    assert prometheus_daemon(slow, tmp_path).first_scrape_interval() == 0.1


# Issue #6: the LB server refuses a wildcard admin address (it answered on the VIP); the lab
# must render the loopback and the node's control-LAN address instead. The template and the lab
# code that renders it are the lead's (templates/lbserver.yaml.j2, topo/daemons/lbapp.py):
# strict, so this fails as soon as they render what it asks, and the marker must go then.
def test_lbserver_settings_render_to_valid_settings(tmp_path):
    settings = parse_settings(yaml.safe_load(only(rendered("lb1", "lbserver", tmp_path))))
    assert settings.name == "lb1" and settings.lb_id == "payment"
    assert settings.listen == ["0.0.0.0:80"]
    assert settings.admin_list == ["127.0.0.1:9100", "10.2.0.101:9100"]
    assert settings.etcd_endpoints == ["http://10.2.0.11:2379", "http://10.2.0.12:2379", "http://10.2.0.13:2379"]
    assert settings.redis_url == "redis://10.2.0.20:6379/0"


def test_console_settings_render_to_valid_settings(tmp_path):
    settings = parse_console_settings(yaml.safe_load(only(rendered("console", "console", tmp_path))))
    assert settings.listen == "10.2.0.50:8080"
    assert settings.etcd_endpoints == ["http://10.2.0.11:2379", "http://10.2.0.12:2379", "http://10.2.0.13:2379"]
    assert settings.redis_url == "redis://10.2.0.20:6379/0"
    assert settings.lb_servers == {"payment": {f"lb{i}": f"http://10.2.0.10{i}:9100" for i in range(1, 5)}}
    assert settings.token_file == str(tmp_path / "console.token")   # the lab's directory, not the node's


def test_reporters_and_forwarder_command_lines(tmp_path):
    def argv(node, daemon):
        ctx = NodeContext("ref", TOPO, node, f"ref-{node}", tmp_path / "nodes" / node)
        return next(d for d in daemons_for(ctx) if d.name == daemon).argv()

    lb1 = argv("lb1", "reporter")
    assert lb1[lb1.index("--announce-state") + 1] == str(tmp_path / "nodes" / "lb1" / "announcer.state")
    assert "--dns-vip" not in lb1
    dns2 = argv("dns2", "reporter")
    assert dns2[dns2.index("--dns-vip") + 1] == "192.168.1.100" and "--announce-state" not in dns2
    assert dns2[dns2.index("--etcd") + 1] == "http://10.2.0.11:2379,http://10.2.0.12:2379,http://10.2.0.13:2379"
    forwarder = argv("console", "forwarder")
    assert forwarder[forwarder.index("--listen") + 1] == "127.0.0.1:8080"
    assert forwarder[forwarder.index("--upstream") + 1] == "10.2.0.50:8080"
    assert forwarder[forwarder.index("--netns") + 1] == "ref-console"


def test_router_flow_affinity_marks_every_lb():
    targets = affinity_targets(TOPO, "r1")
    assert [(t["node"], t["address"], t["mark"], t["table"]) for t in targets] == [
        ("lb1", "10.0.1.1", 1, 101), ("lb2", "10.0.1.2", 2, 102), ("lb3", "10.0.1.3", 3, 103),
        ("lb4", "10.0.1.4", 4, 104)]
    ruleset = render("router-affinity.nft.j2", lab="ref", node="r1", vip="10.0.0.100", lbs=targets,
                     table_base=100)
    assert "elements = { 10.0.1.1 : 1, 10.0.1.2 : 2, 10.0.1.3 : 3, 10.0.1.4 : 4 }" in ruleset
    assert "ct state new ct mark set rt ip nexthop map @lb_mark" in ruleset


def test_missing_template_variable_is_an_error():
    import jinja2

    with pytest.raises(jinja2.UndefinedError):
        render("redis.conf.j2", lab="x", node="redis")
