"""The DNS watch on a DNS node: asks the local CoreDNS every 50 ms and writes its verdict to the
file keepalived tracks, so a hung CoreDNS loses the DNS VIP in well under a second
(lbapp/dnswatch.py says how)."""
from __future__ import annotations

import json
from pathlib import Path

from lblab.daemons.base import PythonDaemon


class DnsWatch(PythonDaemon):
    kind = "dnswatch"
    module = "lbapp.dnswatch"
    preload = "lbapp.dnswatch"

    @property
    def track_path(self) -> Path:
        """keepalived's track_file: "1" while CoreDNS answers (missing or "0": FAULT)."""
        return self.path(".ok")

    @property
    def state_path(self) -> Path:
        return self.path(".state")

    def argv(self) -> list[str]:
        # the zone's SOA: always there while CoreDNS serves the zone, even with no LB record
        # (scaling dns with every LB down), which must not cost the DNS VIP
        return [self.python(), "-m", self.module, "--name", self.ctx.topo.service.zone, "--qtype", "SOA",
                "--server", "127.0.0.1", "--port", "53", "--track-file", str(self.track_path),
                "--state-file", str(self.state_path)]

    def prepare(self) -> None:
        self.track_path.unlink(missing_ok=True)
        self.state_path.unlink(missing_ok=True)

    def check_ready(self) -> str | None:
        return None if self.state_path.is_file() else "no state file yet"

    def verdict(self) -> dict | None:
        """The watch's own view: healthy, since, reason, pid (None before its first verdict)."""
        try:
            return json.loads(self.state_path.read_text())
        except (FileNotFoundError, ValueError):
            return None
