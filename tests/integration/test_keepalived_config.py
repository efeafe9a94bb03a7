"""keepalived's own parser accepts the configs the lab renders: the DNS node's (DNS VIP, DNS watch
file, backstop script) and an LB node's in scaling vip (its LB VIP, the announcer's file) —
keepalived only warns about a bad keyword and runs on, so only `keepalived -t` catches one.
`-t` checks interfaces, so it runs in a scratch namespace with the configs' interfaces; needs root."""
from __future__ import annotations

import os
import shutil
import subprocess

import pytest

from lblab.daemons.base import NodeContext
from lblab.kinds import kind_of
from lblab.topology.load import load_topology

pytestmark = pytest.mark.skipif(shutil.which("keepalived") is None or os.geteuid() != 0,
                                reason="needs keepalived and root (a scratch network namespace)")


@pytest.fixture
def scratch_ns():
    name = f"lbtest-ka-{os.getpid()}"
    subprocess.run(["ip", "netns", "add", name], check=True)
    try:
        for ifname in ("eth-client", "eth-edge"):
            subprocess.run(["ip", "-n", name, "link", "add", ifname, "type", "veth",
                            "peer", "name", f"p-{ifname}"], check=True)
        yield name
    finally:
        subprocess.run(["ip", "netns", "del", name], check=False)


def rendered(topology: str, node: str, tmp_path) -> str:
    topo = load_topology(topology)
    ctx = NodeContext("ref", topo, node, "x", tmp_path / node)
    daemon = next(d for d in kind_of(topo.nodes[node].role).daemons(ctx) if d.name == "keepalived")
    return next(text for path, text in daemon.render().items() if path.suffix == ".conf")


def keepalived_test(ns: str, conf: str, tmp_path) -> subprocess.CompletedProcess:
    path = tmp_path / "keepalived.conf"
    path.write_text(conf)
    return subprocess.run(["ip", "netns", "exec", ns, "keepalived", "-t", "-l", "-f", str(path)],
                          capture_output=True, text=True, timeout=30)


@pytest.mark.parametrize("topology, node", [("reference", "dns1"), ("vip", "lb2")])
def test_keepalived_accepts_the_config_the_lab_renders(scratch_ns, tmp_path, topology, node):
    result = keepalived_test(scratch_ns, rendered(topology, node, tmp_path), tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr


def test_keepalived_test_mode_does_catch_a_bad_keyword(scratch_ns, tmp_path):
    conf = rendered("reference", "dns1", tmp_path).replace("weight 0 reverse", "weight 0 backwards")
    result = keepalived_test(scratch_ns, conf, tmp_path)
    assert result.returncode != 0
    assert "unknown weight option backwards" in result.stdout + result.stderr
