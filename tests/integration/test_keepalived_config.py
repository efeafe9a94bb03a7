"""keepalived's own parser accepts the DNS node's config, with and without the DNS watch's track
file (keepalived only warns about a bad keyword and runs on, so only `keepalived -t` catches it).
`-t` checks interfaces, so it runs in a scratch namespace with the config's interface; needs root."""
from __future__ import annotations

import os
import shutil
import subprocess

import pytest

from topo.render import render

pytestmark = pytest.mark.skipif(shutil.which("keepalived") is None or os.geteuid() != 0,
                                reason="needs keepalived and root (a scratch network namespace)")

VALUES = dict(lab="ref", node="dns1", interface="eth-client", vrid=51, priority=150, advert_s=0.1,
              own_address="192.168.1.2", peers=["192.168.1.3"], vip="192.168.1.100", prefixlen=24,
              health_port=8080, check_timeout_s=0.5)


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


@pytest.mark.parametrize("extra", [{}, {"track_file": "/run/lblab/ref/nodes/dns1/dnswatch.ok"}],
                         ids=["script only", "with the DNS watch file"])
def test_keepalived_accepts_the_dns_node_config(scratch_ns, tmp_path, extra):
    result = keepalived_test(scratch_ns, render("keepalived.conf.j2", **VALUES, **extra), tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr


def test_keepalived_test_mode_does_catch_a_bad_keyword(scratch_ns, tmp_path):
    conf = render("keepalived.conf.j2", **VALUES, track_file="/tmp/x.ok").replace("weight 0 reverse",
                                                                                  "weight 0 backwards")
    result = keepalived_test(scratch_ns, conf, tmp_path)
    assert result.returncode != 0
    assert "unknown weight option backwards" in result.stdout + result.stderr
