"""The zone writer on a DNS node (scaling dns; lbapp/zonewriter.py): keeps CoreDNS's zone equal
to the LB records in etcd."""
from __future__ import annotations

import json
from pathlib import Path

from lbapp.keys import dns_records_prefix
from lblab.daemons.base import PythonDaemon
from lblab.daemons.coredns import CoreDns
from lblab.daemons.etcd import etcd_endpoints


class ZoneWriter(PythonDaemon):
    kind = "zonewriter"
    module = "lbapp.zonewriter"
    wave = 1          # etcd is up and the LBs' announcers write their records

    @property
    def state_path(self) -> Path:
        return self.path(".state")

    def argv(self) -> list[str]:
        topo, coredns = self.ctx.topo, CoreDns(self.ctx)
        return [self.python(), "-m", self.module, "--etcd", *etcd_endpoints(topo),
                "--prefix", dns_records_prefix(topo.service.lb_id), "--zone", topo.service.zone,
                "--name", topo.service.name, "--ns-address", coredns.ns_address,
                "--ttl", str(topo.service.dns_ttl), "--zone-file", str(coredns.zone_file),
                "--weights-file", str(coredns.weights_file), "--state-file", str(self.state_path)]

    def prepare(self) -> None:
        self.state_path.unlink(missing_ok=True)

    def check_ready(self) -> str | None:
        return None if self.state_path.is_file() else "no zone written yet"

    def state(self) -> dict | None:
        """serial, answers (address -> weight), rejected (key -> why), since, pid."""
        try:
            return json.loads(self.state_path.read_text())
        except (FileNotFoundError, ValueError):
            return None
