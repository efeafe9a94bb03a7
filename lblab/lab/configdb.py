"""The config path as the console drives it: validate, write the LB config to etcd (its v3 JSON
gateway), publish "changed" on Redis; and each LB server's view of what it is serving.

Used by the `config` fault and to measure propagation (write committed -> every LB serving it).
All namespaces share one clock, so an LB's `applied_at` minus the write time is a latency.
"""
from __future__ import annotations

import base64
import json
import time

from lbapp.config.schema import ConfigError, parse_config
from lbapp.keys import config_channel, config_key
from lblab.daemons.etcd import CLIENT_PORT as ETCD_CLIENT_PORT
from lblab.daemons.redis import PORT as REDIS_PORT
from lblab.lab import netns, probes
from lblab.lab.errors import LabError


class ConfigDbError(LabError):
    pass


def _b64(text: str) -> str:
    return base64.b64encode(text.encode()).decode()


def _client_node(lab) -> str:
    """A control-LAN node to talk to etcd/Redis from: the console if the lab has one."""
    for role in ("console", "orchestrator", "etcd"):
        nodes = lab.node_names(role)
        if nodes:
            return nodes[0]
    raise ConfigDbError("the lab has no control-plane node")


def _etcd_post(lab, path: str, body: dict, timeout: float = 2.0) -> dict:
    node = _client_node(lab)
    errors = []
    for member in lab.node_names("etcd"):
        address = str(lab.topo.control_address(member))
        conn = probes.NamespacedHTTPConnection(lab.ns(node), address, ETCD_CLIENT_PORT, timeout)
        try:
            conn.request("POST", f"/v3/{path}", body=json.dumps(body), headers={"Content-Type": "application/json"})
            response = conn.getresponse()
            data = response.read()
            if response.status == 200:
                return json.loads(data)
            errors.append(f"{member}: HTTP {response.status} {data[:100]!r}")
        except OSError as exc:
            errors.append(f"{member}: {exc}")
        finally:
            conn.close()
    raise ConfigDbError(f"etcd {path} failed on every member: {'; '.join(errors)}")


def get_config(lab, lb_id: str) -> tuple[dict, int]:
    """The stored config document and its mod_revision (0 if absent)."""
    data = _etcd_post(lab, "kv/range", {"key": _b64(config_key(lb_id))})
    kvs = data.get("kvs") or []
    if not kvs:
        return {}, 0
    return json.loads(base64.b64decode(kvs[0]["value"])), int(kvs[0]["mod_revision"])


def put_config(lab, lb_id: str, document: dict) -> tuple[int, float]:
    """Validate and write; returns (etcd revision of the write, time the write was committed)."""
    try:
        parse_config(document, source=f"config for {lb_id}")
    except ConfigError as exc:
        raise ConfigDbError(str(exc)) from None
    return put_raw(lab, lb_id, json.dumps(document))


def put_raw(lab, lb_id: str, text: str) -> tuple[int, float]:
    """Write text as the config without validating it (to test that LBs reject bad configs)."""
    data = _etcd_post(lab, "kv/put", {"key": _b64(config_key(lb_id)), "value": _b64(text)})
    return int(data["header"]["revision"]), time.time()


def publish_changed(lab, lb_id: str) -> int | None:
    """PUBLISH on the LB's channel; returns the number of subscribers, None if Redis is down."""
    nodes = lab.node_names("redis")
    if not nodes:
        return None
    node = nodes[0]
    address = str(lab.topo.control_address(node))
    channel, message = config_channel(lb_id), "changed"
    command = (f"*3\r\n$7\r\nPUBLISH\r\n${len(channel)}\r\n{channel}\r\n"
               f"${len(message)}\r\n{message}\r\n").encode()
    sock = netns.socket_in(lab.ns(_client_node(lab)))
    sock.settimeout(1.0)
    try:
        sock.connect((address, REDIS_PORT))
        sock.sendall(command)
        reply = sock.recv(64)
    except OSError:
        return None
    finally:
        sock.close()
    return int(reply[1:].split(b"\r\n")[0]) if reply.startswith(b":") else None


def change_config(lab, lb_id: str, changes: dict) -> dict:
    """Merge changes into the stored config, write it, publish; what the console does."""
    current, _ = get_config(lab, lb_id)
    document = {**current, **changes}
    revision, written = put_config(lab, lb_id, document)
    subscribers = publish_changed(lab, lb_id)
    return {"revision": revision, "written_at": written, "subscribers": subscribers, "previous": current}


def lb_status(lab, lb_node: str, timeout: float = 1.0) -> dict:
    """The LB server's own view (/-/status): config version, applied_at, draining, ..."""
    status, _, body = lab.daemon(lb_node, "lbserver").admin_request("GET", "/-/status", timeout)
    if status != 200:
        raise ConfigDbError(f"{lb_node}: /-/status answered {status}")
    return json.loads(body)


def wait_applied(lab, lb_nodes: list[str], revision: int, written_at: float,
                 timeout: float = 30.0) -> dict[str, float]:
    """Wait until every LB serves config revision >= revision; LB -> seconds from write to apply."""
    latencies: dict[str, float] = {}
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and len(latencies) < len(lb_nodes):
        for node in lb_nodes:
            if node in latencies:
                continue
            try:
                config = lb_status(lab, node).get("config") or {}
            except (OSError, ConfigDbError):
                continue
            if (config.get("version") or 0) >= revision:
                latencies[node] = max(0.0, config["applied_at"] - written_at)
        time.sleep(0.005)
    missing = [n for n in lb_nodes if n not in latencies]
    if missing:
        raise ConfigDbError(f"config revision {revision} not applied within {timeout:.0f}s on {', '.join(missing)}")
    return latencies
