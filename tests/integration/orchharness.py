"""Orchestrator members and LB node agents as real processes on 127.0.0.1, and reading what
they keep in etcd (through the JSON gateway, as any other client)."""
from __future__ import annotations

import base64
import json
import time
import urllib.request
from pathlib import Path

import yaml

from lbapp import keys
from tests.integration.harness import (PY, Backend, Lab, Proc, free_port, http_get, metric_value,
                                       wait_until)

# etcd timings that allow a 1 s lease TTL (the default ones make 2 s the minimum)
FAST_ETCD = ("--heartbeat-interval", "50", "--election-timeout", "500")
LAB_CHECKS = {"interval_ms": 200, "timeout_ms": 150, "rise": 2, "fall": 2}


def _b64(text: str | bytes) -> str:
    return base64.b64encode(text.encode() if isinstance(text, str) else text).decode()


def etcd_call(endpoint: str, path: str, body: dict, timeout: float = 3) -> dict:
    req = urllib.request.Request(endpoint + path, data=json.dumps(body).encode(), method="POST")
    with urllib.request.urlopen(req, timeout=timeout) as resp:
        return json.load(resp)


def etcd_range(endpoint: str, key: str, prefix: bool = False) -> dict[str, dict]:
    """key -> {"value": decoded JSON (or raw text), "create_revision", "mod_revision", "lease"}."""
    body = {"key": _b64(key)}
    if prefix:
        end = bytearray(key.encode())
        end[-1] += 1
        body["range_end"] = _b64(bytes(end))
    out = {}
    for kv in etcd_call(endpoint, "/v3/kv/range", body).get("kvs", []):
        raw = base64.b64decode(kv.get("value", ""))
        try:
            value = json.loads(raw)
        except ValueError:
            value = raw.decode(errors="replace")
        out[base64.b64decode(kv["key"]).decode()] = {
            "value": value, "create_revision": int(kv.get("create_revision", 0)),
            "mod_revision": int(kv.get("mod_revision", 0)), "lease": int(kv.get("lease", 0))}
    return out


def etcd_value(endpoint: str, key: str):
    got = etcd_range(endpoint, key)
    return got[key]["value"] if key in got else None


def etcd_put(endpoint: str, key: str, value: str) -> int:
    doc = etcd_call(endpoint, "/v3/kv/put", {"key": _b64(key), "value": _b64(value)})
    return int(doc["header"]["revision"])


class Orch:
    def __init__(self, proc: Proc, name: str, metrics_port: int, history: Path) -> None:
        self.proc, self.name, self.metrics_port, self.history = proc, name, metrics_port, history

    def status(self) -> dict:
        return json.loads(http_get(self.metrics_port, "/-/status", timeout=2)[2])

    def metric(self, name: str, **labels: str) -> float:
        return metric_value(http_get(self.metrics_port, "/metrics", timeout=2)[2].decode(),
                            name, **labels)

    def is_leader(self) -> bool:
        try:
            return self.status()["is_leader"]
        except OSError:
            return False

    def history_events(self) -> list[dict]:
        if not self.history.exists():
            return []
        out = []
        for line in self.history.read_text().splitlines():
            try:
                out.append(json.loads(line))
            except ValueError:
                pass
        return out


def start_orch(lab: Lab, name: str, endpoints: list[str], redis=None, *,
               wait: bool = True, **settings) -> Orch:
    metrics_port = free_port()
    started = sum(1 for proc in lab.procs if proc.name.split("#")[0] == name)
    run_name = f"{name}#{started + 1}" if started else name   # a restart keeps the old logs
    history = lab.tmp / f"{run_name}-checks.jsonl"
    doc = {"name": name, "etcd_endpoints": endpoints,
           "redis_url": f"redis://127.0.0.1:{redis.port}/0" if redis else None,
           "metrics_listen": f"127.0.0.1:{metrics_port}", "lease_ttl_s": 1,
           "health_check": LAB_CHECKS, "history_file": str(history), "log_level": "debug",
           **settings}
    path = lab.tmp / f"{run_name}.yaml"
    path.write_text(yaml.safe_dump(doc))
    proc = lab.start(run_name, [PY, "-m", "lbapp.orchestrator", "--settings", str(path)])
    orch = Orch(proc, name, metrics_port, history)
    if wait:
        wait_until(lambda: orch.status()["shard"] is not None or not proc.alive(), 20,
                   f"{name} following a shard")
        assert proc.alive(), proc.output()
    return orch


class BackendPool:
    """One backend process listening on ``count`` ports, configured as ``count`` backends
    (be1, be2, ...): many health-check targets for the cost of one process."""

    def __init__(self, lab: Lab, count: int, name: str = "pool", control: bool = False) -> None:
        ports: set[int] = set()
        while len(ports) < count:   # free_port may hand out a port twice
            ports.add(free_port())
        self.ports = sorted(ports)
        listen = [arg for port in self.ports for arg in ("--listen", f"127.0.0.1:{port}")]
        self.control_port = free_port() if control else None
        if control:
            listen += ["--control-listen", f"127.0.0.1:{self.control_port}"]
        self.proc = lab.start(name, [PY, "-m", "lbapp.backend", "--name", name, *listen])
        self.names = [f"be{i}" for i in range(1, count + 1)]
        wait_until(lambda: not self.proc.alive() or http_get(self.ports[-1], "/health")[0] == 200,
                   15, f"backend {name}")
        assert self.proc.alive(), self.proc.output()

    def entries(self) -> list[dict]:
        return [{"name": n, "address": "127.0.0.1", "port": p}
                for n, p in zip(self.names, self.ports)]


def lb_config(backends: list[Backend | dict], **extra) -> dict:
    return {"backend_servers": [b if isinstance(b, dict) else b.entry() for b in backends],
            "health_endpoint": "/health", "poll_frequency": 1000, **extra}


def assignment(endpoint: str) -> dict | None:
    """Every member's shard (read at one revision) as one view: {"term", "leader", "members",
    "targets": {target: {"member", "address", "port", "path"}}}; None before any shard."""
    prefix = keys.ORCHESTRATOR_SHARDS_PREFIX
    docs = {key[len(prefix):]: kv["value"]
            for key, kv in etcd_range(endpoint, prefix, prefix=True).items()}
    docs = {member: doc for member, doc in docs.items() if isinstance(doc, dict) and "term" in doc}
    if not docs:
        return None
    newest = max(docs.values(), key=lambda doc: doc["term"])
    return {"term": newest["term"], "leader": newest["leader"], "members": newest["members"],
            "targets": {target: {"member": member, **spec} for member, doc in docs.items()
                        for target, spec in doc["targets"].items()}}


def leaders(orchs: list[Orch]) -> list[Orch]:
    return [o for o in orchs if o.proc.alive() and o.is_leader()]


def health_of(endpoint: str, backend: str, lb_id: str = "payment") -> dict | None:
    return etcd_value(endpoint, keys.health_key(lb_id, backend))


def timed(check, timeout: float, what: str, interval: float = 0.01) -> float:
    """Seconds until ``check()`` is truthy (bounded poll)."""
    started = time.monotonic()
    wait_until(check, timeout, what, interval)
    return time.monotonic() - started


class Prometheus:
    """A real Prometheus scraping the given targets every second (job ``lbserver``, each
    target labelled with its ``node``)."""

    def __init__(self, lab: Lab, targets: dict[str, int]) -> None:
        self.port = free_port()
        config = {"global": {"scrape_interval": "1s", "scrape_timeout": "800ms",
                             "evaluation_interval": "1s"},
                  "scrape_configs": [{"job_name": "lbserver", "static_configs": [
                      {"targets": [f"127.0.0.1:{port}"], "labels": {"node": node}}
                      for node, port in targets.items()]}]}
        path = lab.tmp / "prometheus.yml"
        path.write_text(yaml.safe_dump(config))
        self.proc = lab.start("prometheus", [
            "prometheus", f"--config.file={path}", f"--storage.tsdb.path={lab.tmp / 'tsdb'}",
            f"--web.listen-address=127.0.0.1:{self.port}", "--log.level=warn"])
        wait_until(lambda: http_get(self.port, "/-/ready")[0] == 200, 20, "prometheus ready")

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"


def start_agent(lab: Lab, node: str, endpoints: list[str], initial: str,
                children: list[dict], **settings) -> tuple[Proc, Path]:
    """An LB node agent -> (process, its state file)."""
    state_file = lab.tmp / f"{node}-agent.state"
    doc = {"node": node, "lb_id": "payment", "etcd_endpoints": endpoints,
           "initial_state": initial, "state_file": str(state_file),
           "restart_backoff_ms": [200, 2000], "log_level": "debug", "children": children,
           **settings}
    path = lab.tmp / f"{node}-agent.yaml"
    path.write_text(yaml.safe_dump(doc))
    return lab.start(f"{node}-agent", [PY, "-m", "lbapp.agent", "--settings", str(path)]), \
        state_file


def lb_child(lab: Lab, settings: Path, admin: int, name: str = "lbserver") -> dict:
    """The agent child spec of an LB server with this settings file and admin port."""
    return {"name": name, "argv": [PY, "-m", "lbapp.lbserver", "--settings", str(settings)],
            "log_file": str(lab.tmp / f"{settings.stem}-child.log"),
            "ready_url": f"http://127.0.0.1:{admin}/-/ready",
            "drain_url": f"http://127.0.0.1:{admin}/-/drain", "stop_timeout_ms": 10_000}


def agent_state(state_file: Path) -> dict:
    try:
        return json.loads(state_file.read_text())
    except (OSError, ValueError):
        return {}
