"""Control-plane stores and monitoring: etcd members, Redis, Prometheus."""
from __future__ import annotations

import json
from pathlib import Path

from topo import probes
from topo.daemons.base import Daemon
from topo.render import render

ETCD_CLIENT_PORT = 2379
REDIS_PORT = 6379
PROMETHEUS_PORT = 9090


def etcd_endpoints(topo) -> list[str]:
    return [f"http://{_control(node)}:{ETCD_CLIENT_PORT}" for node in topo.nodes_of("etcd").values()]


def redis_url(topo) -> str | None:
    nodes = list(topo.nodes_of("redis").values())
    return f"redis://{_control(nodes[0])}:{REDIS_PORT}/0" if nodes else None


def _control(spec) -> str:
    lans = spec.interfaces
    return str(lans["control"] if "control" in lans else next(iter(lans.values())))


class Etcd(Daemon):
    kind = "etcd"
    ready_timeout = 20.0

    @property
    def config_path(self) -> Path:
        return self.path(".yaml")

    @property
    def data_dir(self) -> Path:
        return self.ctx.run_dir / "etcd-data"

    def render(self) -> dict[Path, str]:
        topo = self.ctx.topo
        cluster = ",".join(f"{name}=http://{_control(spec)}:2380" for name, spec in topo.nodes_of("etcd").items())
        text = render("etcd.yaml.j2", lab=self.ctx.lab, member=self.ctx.node, data_dir=str(self.data_dir),
                      address=self.ctx.control_address, initial_cluster=cluster)
        return {self.config_path: text}

    def argv(self) -> list[str]:
        return ["etcd", "--config-file", str(self.config_path)]

    def check_ready(self) -> str | None:
        # /health is true only once this member sees a leader, i.e. the cluster has quorum
        try:
            status, _, body = probes.http_get(self.ctx.ns, self.ctx.control_address, ETCD_CLIENT_PORT,
                                              "/health", timeout=1.0)
        except OSError as exc:
            return f"/health: {exc}"
        if status == 200 and json.loads(body).get("health") == "true":
            return None
        return f"/health: {body[:80].decode(errors='replace')}"


class Redis(Daemon):
    kind = "redis"

    @property
    def config_path(self) -> Path:
        return self.path(".conf")

    def render(self) -> dict[Path, str]:
        text = render("redis.conf.j2", lab=self.ctx.lab, node=self.ctx.node,
                      address=self.ctx.control_address, port=REDIS_PORT)
        return {self.config_path: text}

    def argv(self) -> list[str]:
        return ["redis-server", str(self.config_path)]

    def check_ready(self) -> str | None:
        ok = probes.redis_ping(self.ctx.ns, self.ctx.control_address, REDIS_PORT, timeout=0.5)
        return None if ok else "no PONG"


class Prometheus(Daemon):
    kind = "prometheus"

    @property
    def config_path(self) -> Path:
        return self.path(".yml")

    def scrape_jobs(self) -> list[dict]:
        from topo.daemons.dns import METRICS_PORT as COREDNS_METRICS
        from topo.daemons.lbapp import BACKEND_METRICS_PATH

        topo = self.ctx.topo

        def targets(role: str, port_of) -> list[dict]:
            return [{"node": name, "address": f"{_control(spec)}:{port_of(spec)}"}
                    for name, spec in topo.nodes_of(role).items()]

        jobs = [
            {"name": "lbserver", "path": "/metrics", "targets": targets("lb", lambda s: s.admin_port)},
            {"name": "backend", "path": BACKEND_METRICS_PATH, "targets": targets("backend", lambda s: s.port)},
            {"name": "coredns", "path": "/metrics", "targets": targets("dns", lambda s: COREDNS_METRICS)},
            {"name": "etcd", "path": "/metrics", "targets": targets("etcd", lambda s: ETCD_CLIENT_PORT)},
        ]
        return [job for job in jobs if job["targets"]]

    def render(self) -> dict[Path, str]:
        interval = self.ctx.spec.scrape_interval_s
        text = render("prometheus.yml.j2", lab=self.ctx.lab, node=self.ctx.node, jobs=self.scrape_jobs(),
                      interval=f"{int(interval * 1000)}ms", timeout=f"{int(interval * 800)}ms")
        return {self.config_path: text}

    def argv(self) -> list[str]:
        return ["prometheus", f"--config.file={self.config_path}",
                f"--storage.tsdb.path={self.ctx.run_dir / 'prometheus-data'}",
                f"--web.listen-address={self.ctx.control_address}:{PROMETHEUS_PORT}",
                "--web.enable-lifecycle", "--log.level=warn"]

    def check_ready(self) -> str | None:
        ok = probes.http_ok(self.ctx.ns, self.ctx.control_address, PROMETHEUS_PORT, "/-/ready", timeout=0.5)
        return None if ok else "/-/ready not 200"

    def targets_health(self) -> dict[str, str]:
        """job/node -> up|down|unknown, from Prometheus' own view of its targets."""
        status, _, body = probes.http_get(self.ctx.ns, self.ctx.control_address, PROMETHEUS_PORT,
                                          "/api/v1/targets?state=active", timeout=1.0)
        if status != 200:
            return {}
        result = {}
        for target in json.loads(body)["data"]["activeTargets"]:
            labels = target.get("labels", {})
            result[f"{labels.get('job')}/{labels.get('node')}"] = target.get("health", "unknown")
        return result
