"""keepalived's own parser accepts the DNS node's config as the lab renders it, with the DNS
watch's track file (keepalived only warns about a bad keyword and runs on, so only
`keepalived -t` catches it).
`-t` checks interfaces, so it runs in a scratch namespace with the config's interface; needs root."""
from __future__ import annotations

import os
import shutil
import subprocess

import pytest

from lblab.daemons.base import NodeContext
from lblab.daemons.keepalived import Keepalived
from lblab.topology.load import load_topology

pytestmark = pytest.mark.skipif(shutil.which("keepalived") is None or os.geteuid() != 0,
                                reason="needs keepalived and root (a scratch network namespace)")



def dns1_config(tmp_path) -> str:
    ctx = NodeContext("ref", load_topology("reference"), "dns1", "ref-dns1", tmp_path / "dns1")
    (text,) = Keepalived(ctx).render().values()
    return text


@pytest.fixture
def scratch_ns():
    name = f"lbtest-ka-{os.getpid()}"
    subprocess.run(["ip", "netns", "add", name], check=True)
    try:
        subprocess.run(["ip", "-n", name, "link", "add", "eth-client", "type", "veth",
                        "peer", "name", "eth-peer"], check=True)
        yield name
    finally:
        subprocess.run(["ip", "netns", "del", name], check=False)


def keepalived_test(ns: str, conf: str, tmp_path) -> subprocess.CompletedProcess:
    path = tmp_path / "keepalived.conf"
    path.write_text(conf)
    return subprocess.run(["ip", "netns", "exec", ns, "keepalived", "-t", "-l", "-f", str(path)],
                          capture_output=True, text=True, timeout=30)


def test_keepalived_accepts_the_dns_node_config(scratch_ns, tmp_path):
    result = keepalived_test(scratch_ns, dns1_config(tmp_path), tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr


def test_keepalived_test_mode_does_catch_a_bad_keyword(scratch_ns, tmp_path):
    conf = dns1_config(tmp_path).replace("weight 0 reverse", "weight 0 backwards")
    result = keepalived_test(scratch_ns, conf, tmp_path)
    assert result.returncode != 0
    assert "unknown weight option backwards" in result.stdout + result.stderr
