"""The announcer on an LB node (lbapp/announcer.py): offers the LB to clients while the local LB
server is ready and withdraws it when the LB fails or drains. One class per channel the scaling
mode announces through: BGP (BIRD's `vip` protocol), VRRP (a file keepalived tracks), DNS (the
LB's record in etcd)."""
from __future__ import annotations

import json
from pathlib import Path

from lbapp.keys import dns_record_key
from lblab.daemons.base import PythonDaemon
from lblab.daemons.bird import BirdSpeaker
from lblab.daemons.etcd import etcd_endpoints
from lblab.daemons.lbserver import LbServer


class Announcer(PythonDaemon):
    kind = "announcer"
    module = "lbapp.announcer"
    preload = "lbapp.announcer"
    wave = 1

    @property
    def state_path(self) -> Path:
        return self.path(".state")

    def channel_args(self) -> list[str]:
        raise NotImplementedError

    def argv(self) -> list[str]:
        settings = self.ctx.topo.announce
        return [self.python(), "-m", self.module,
                "--ready-url", f"{LbServer(self.ctx).admin_url}/-/ready", *self.channel_args(),
                "--interval-ms", str(settings.interval_ms), "--timeout-ms", str(settings.timeout_ms),
                "--rise", str(settings.rise), "--fall", str(settings.fall),
                "--state-file", str(self.state_path)]

    def prepare(self) -> None:
        self.state_path.unlink(missing_ok=True)

    def check_ready(self) -> str | None:
        return None if self.state_path.is_file() else "no state file yet"

    def announcing(self) -> bool | None:
        try:
            return bool(json.loads(self.state_path.read_text())["announcing"])
        except (FileNotFoundError, ValueError, KeyError):
            return None


class BgpAnnouncer(Announcer):
    """Enables the BIRD speaker's `vip` protocol: BGP announces the anycast VIP."""

    def channel_args(self) -> list[str]:
        return ["--bird-socket", str(BirdSpeaker(self.ctx).socket_path), "--protocol", BirdSpeaker.VIP_PROTOCOL]


class VrrpAnnouncer(Announcer):
    """Writes the file the node's keepalived tracks: while "0", the node is in FAULT and its
    VRRP peer holds the VIP."""

    @property
    def track_path(self) -> Path:
        return self.path(".ok")

    def prepare(self) -> None:
        super().prepare()
        self.track_path.unlink(missing_ok=True)

    def channel_args(self) -> list[str]:
        return ["--track-file", str(self.track_path)]


class DnsAnnouncer(Announcer):
    """Keeps the LB's DNS record in etcd on a lease: the DNS nodes serve it while it is there."""

    def __init__(self, ctx, address: str, weight: int = 1, lease_ttl_s: int = 2):
        super().__init__(ctx)
        self.address, self.weight, self.lease_ttl_s = address, weight, lease_ttl_s

    @property
    def record_key(self) -> str:
        return dns_record_key(self.ctx.topo.service.lb_id, self.ctx.node)

    def channel_args(self) -> list[str]:
        record = json.dumps({"address": self.address, "weight": self.weight}, separators=(",", ":"))
        return ["--etcd", *etcd_endpoints(self.ctx.topo), "--record-key", self.record_key,
                "--record-value", record, "--lease-ttl-s", str(self.lease_ttl_s)]
