"""Prometheus: scrapes the daemons it is given that have a metrics endpoint."""
from __future__ import annotations

import json
import os
from pathlib import Path

from lblab.daemons.base import Daemon
from lblab.lab import probes
from lblab.lab.errors import LabError
from lblab.lab.templates import render

PORT = 9090
# Until its lab first converges, a fresh Prometheus scrapes faster: the first scrape of each
# target comes at a random point within one interval after service discovery hands the targets
# over, so the topology's interval (1 s in reference) was added to bring-up. Faster, but never
# more than FIRST_SCRAPES_PER_S scrapes a second in all (116 targets in the scale lab).
FIRST_SCRAPE_INTERVAL_S = 0.25
FIRST_SCRAPES_PER_S = 100


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

    @property
    def data_path(self) -> Path:
        return self.ctx.run_dir / "prometheus-data"

    def config_text(self, interval_s: float, timeout_s: float) -> str:
        return render("prometheus.yml.j2", lab=self.ctx.lab, node=self.ctx.node, jobs=self.scrape_jobs(),
                      interval=f"{round(interval_s * 1000)}ms", timeout=f"{round(timeout_s * 1000)}ms")

    def steady_config(self) -> str:
        """The config with the topology's scrape interval."""
        interval = self.ctx.spec.scrape_interval_s
        return self.config_text(interval, interval * 0.8)

    def first_scrape_interval(self) -> float:
        targets = sum(len(job["targets"]) for job in self.scrape_jobs())
        return min(self.ctx.spec.scrape_interval_s,
                   max(FIRST_SCRAPE_INTERVAL_S, targets / FIRST_SCRAPES_PER_S))

    def render(self) -> dict[Path, str]:
        """A fresh Prometheus (no data yet) starts with the faster first-scrape interval until
        ``settle``; a restarted one keeps the topology's."""
        if self.data_path.exists():
            return {self.config_path: self.steady_config()}
        interval = self.first_scrape_interval()
        return {self.config_path: self.config_text(interval, interval)}

    def settle(self) -> bool:
        """Put the topology's scrape interval in force (once the lab has converged): rewrite the
        config and have Prometheus reload it. True when it changed something."""
        steady = self.steady_config()
        if self.config_path.read_text() == steady:
            return False
        staged = self.config_path.with_name(self.config_path.name + ".new")
        staged.write_text(steady)
        os.replace(staged, self.config_path)
        status, _, body = probes.http_request(self.ctx.ns, "POST", "127.0.0.1", PORT, "/-/reload",
                                              timeout=5.0)
        if status != 200:
            raise LabError(f"prometheus on {self.ctx.node}: /-/reload answered HTTP {status}: "
                           f"{body[:200].decode(errors='replace')}")
        return True

    def argv(self) -> list[str]:
        return ["prometheus", f"--config.file={self.config_path}",
                f"--storage.tsdb.path={self.data_path}",
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
