"""Prometheus: scrapes the daemons it is given that have a metrics endpoint."""
from __future__ import annotations

import json
from pathlib import Path

from lblab.daemons.base import Daemon
from lblab.lab import probes
from lblab.lab.templates import render

PORT = 9090


class Prometheus(Daemon):
    kind = "prometheus"
    # Its first scrape comes ~5 s after it starts (service discovery hands over targets at most
    # every 5 s, from start), so it starts first, while the network is still being built.
    before_links = True

    @property
    def config_path(self) -> Path:
        return self.path(".yml")

    def __init__(self, ctx, targets: list[Daemon], **kwargs):
        super().__init__(ctx, **kwargs)
        self.targets = targets

    def scrape_jobs(self) -> list[dict]:
        """One job per daemon kind with metrics, a target per node running it."""
        jobs: dict[str, dict] = {}
        for daemon in self.targets:
            endpoint = daemon.metrics_endpoint()
            if endpoint is None:
                continue
            address, port, path = endpoint
            job = jobs.setdefault(daemon.name, {"name": daemon.name, "path": path, "targets": []})
            job["targets"].append({"node": daemon.ctx.node, "address": f"{address}:{port}"})
        return list(jobs.values())

    def render(self) -> dict[Path, str]:
        interval = self.ctx.spec.scrape_interval_s
        text = render("prometheus.yml.j2", lab=self.ctx.lab, node=self.ctx.node, jobs=self.scrape_jobs(),
                      interval=f"{int(interval * 1000)}ms", timeout=f"{int(interval * 800)}ms")
        return {self.config_path: text}

    def argv(self) -> list[str]:
        return ["prometheus", f"--config.file={self.config_path}",
                f"--storage.tsdb.path={self.ctx.run_dir / 'prometheus-data'}",
                f"--web.listen-address=0.0.0.0:{PORT}",   # the node's addresses come later
                "--web.enable-lifecycle", "--log.level=warn"]

    def check_ready(self) -> str | None:
        ok = probes.http_ok(self.ctx.ns, "127.0.0.1", PORT, "/-/ready", timeout=0.5)
        return None if ok else "/-/ready not 200"

    def targets_health(self) -> dict[str, str]:
        """job/node -> up|down|unknown, from Prometheus' own view of its targets."""
        status, _, body = probes.http_get(self.ctx.ns, "127.0.0.1", PORT, "/api/v1/targets?state=active",
                                          timeout=1.0)
        if status != 200:
            return {}
        result = {}
        for target in json.loads(body)["data"]["activeTargets"]:
            labels = target.get("labels", {})
            result[f"{labels.get('job')}/{labels.get('node')}"] = target.get("health", "unknown")
        return result
