"""The status reporter of an LB or DNS node (``lbapp.statusreport``): keeps what the node's own
components say (the announcer's state, whether the node holds the DNS VIP) in etcd, on a lease,
for the console's live view."""
from __future__ import annotations

from pathlib import Path

from lblab.daemons.base import NodeContext, PythonDaemon
from lblab.daemons.etcd import etcd_endpoints


class StatusReporter(PythonDaemon):
    kind = "reporter"
    module = "lbapp.statusreport"
    preload = "lbapp.statusreport"
    wave = 1            # etcd is up

    def __init__(self, ctx: NodeContext, announce_state: Path | None = None,
                 dns_vip: str | None = None, **kwargs):
        super().__init__(ctx, **kwargs)
        self.announce_state, self.dns_vip = announce_state, dns_vip

    def argv(self) -> list[str]:
        argv = [self.python(), "-m", self.module, "--node", self.ctx.node,
                "--etcd", ",".join(etcd_endpoints(self.ctx.topo))]
        if self.announce_state is not None:
            argv += ["--announce-state", str(self.announce_state)]
        if self.dns_vip is not None:
            argv += ["--dns-vip", self.dns_vip]
        return argv
