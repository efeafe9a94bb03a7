"""Settings of one LB server process: a YAML file (rendered by the lab from a template).

Example::

    name: lb1                       # node name; sent as the X-LB response header
    lb_id: payment                  # which load balancer's config to follow in etcd
    listen: ["0.0.0.0:80"]          # data-plane addresses (host:port, IPv6 as [::]:80)
    admin_listen: ["127.0.0.1:9100", "10.2.0.101:9100"]   # one address or a list (see below)
    etcd_endpoints: ["http://10.3.0.11:2379", "http://10.3.0.12:2379"]
    redis_url: "redis://10.3.0.21:6379/0"   # or null: poll only
    drain_grace_ms: 3000            # keep accepting this long after drain starts
    drain_timeout_ms: 30000         # then wait at most this long for in-flight requests
    max_connections: 10000          # client connection slots (see lbapp.lbserver.slots)
    request_head_timeout_ms: 10000  # a request head must arrive within this of its first byte
                                    # (of the connection's start for the first one): else 408
    log_file: /var/log/lb1.log      # optional; stderr if absent
    log_level: info
    etcd_timeout_ms: 500            # per etcd member and request; then the next member is
                                    # asked (reads go to it after 150 ms already)
    upstream_idle_timeout_ms: 30000 # pooled backend connections idle longer are closed
    upstream_max_idle: 256          # pooled idle connections kept per backend
    x_forwarded_proto: true         # add X-Forwarded-Proto: http
    retry_body_buffer_bytes: 65536  # request body kept for a retry; larger bodies are not retried
    workers: 1                      # data-plane processes (see below)

Only the first five keys are required. Unknown keys are errors.

``admin_listen``: /metrics, /-/ready, /-/healthy, /-/status and POST /-/drain, which must not
answer on the data plane (a client could drain the LB through the VIP). Give IP addresses of
the loopback and the control network (the lab renders ``127.0.0.1:<admin_port>`` and the
node's control-LAN address; the announcer and lab probes use 127.0.0.1). Refused: an address
equal to a ``listen`` address or on the port of a wildcard ``listen``; and ``0.0.0.0`` or
``::`` (which answer on every address, the VIP too) unless ``admin_allow_wildcard: true``.

Client timeouts: ``request_head_timeout_ms`` (the whole request head, like HAProxy's ``timeout
http-request``; default 10 s) here; the keep-alive idle time between requests is the LB
config's ``timeouts.client_idle_ms`` (etcd). When all ``max_connections`` slots are taken, idle
keep-alive connections are closed (oldest idle first) to make room; only if none is idle is a
new connection refused with 503.

``workers``: 1 (the default) is one process doing everything. N > 1 makes the process a
supervisor that starts N worker processes (``python -m lbapp.lbserver --worker I``); each
binds every ``listen`` address with SO_REUSEPORT (the kernel spreads new connections over them)
and follows the config in etcd on its own. The supervisor serves ``admin_listen`` by asking
each worker over a Unix socket: ``/-/ready`` is 200 only when every worker is ready (and the
supervisor is not draining), ``/-/status`` reports the lowest config version the workers serve
(and each worker), ``/metrics`` has every worker's series with a ``worker`` label. SIGTERM,
SIGINT or ``POST /-/drain`` drain every worker. A worker that dies is restarted; if the
supervisor dies, its workers are killed.
"""
from __future__ import annotations

import ipaddress
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationInfo, field_validator

from lbapp.settingsfile import (EtcdEndpoints, HostPort, Identifier, LogLevel, RedisUrl,
                                SettingsError, load_document, parse_document, parse_hostport)

__all__ = ["Settings", "SettingsError", "load_settings", "parse_hostport", "parse_settings"]
WHAT = "LB server settings"


def _admin_ip(host: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address:
    if host == "localhost":
        return ipaddress.IPv4Address("127.0.0.1")
    try:
        return ipaddress.ip_address(host)
    except ValueError:
        raise ValueError(f"{host!r}: give an IP address (or localhost), not a name") from None


def check_admin_address(item: str, listen: list[str], allow_wildcard: bool) -> None:
    """Refuse an admin address the data plane's clients could reach (ValueError)."""
    host, port = parse_hostport(item)
    ip = _admin_ip(host)
    if ip.is_unspecified and not allow_wildcard:
        raise ValueError(f"{item} listens on every address, the data plane's too (a client "
                         "could drain the LB): give the loopback and control-network addresses, "
                         "or set admin_allow_wildcard: true")
    for other in listen:
        other_host, other_port = parse_hostport(other)
        if other_port != port:
            continue
        try:
            other_ip = _admin_ip(other_host)
        except ValueError:
            other_ip = None
        if ip.is_unspecified or other_ip is None or other_ip.is_unspecified or other_ip == ip:
            raise ValueError(f"{item} overlaps the data-plane address {other} (listen)")


class Settings(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    name: Identifier
    lb_id: Identifier
    listen: list[HostPort] = Field(min_length=1)
    admin_allow_wildcard: bool = False
    admin_listen: str | list[str]
    etcd_endpoints: EtcdEndpoints
    redis_url: RedisUrl = None
    drain_grace_ms: int = Field(default=3000, ge=0, le=600_000)
    drain_timeout_ms: int = Field(default=30_000, ge=0, le=3_600_000)
    max_connections: int = Field(default=10_000, ge=1, le=1_000_000)
    request_head_timeout_ms: int = Field(default=10_000, ge=100, le=600_000)
    log_file: str | None = None
    log_level: LogLevel = "info"
    etcd_timeout_ms: int = Field(default=500, ge=10, le=60_000)
    upstream_idle_timeout_ms: int = Field(default=30_000, ge=100, le=3_600_000)
    upstream_max_idle: int = Field(default=256, ge=0, le=100_000)
    x_forwarded_proto: bool = True
    retry_body_buffer_bytes: int = Field(default=65_536, ge=0, le=64 * 1024 * 1024)
    workers: int = Field(default=1, ge=1, le=64)

    @field_validator("listen")
    @classmethod
    def _listen(cls, value: list[str]) -> list[str]:
        if len(set(value)) != len(value):
            raise ValueError("listen addresses repeat")
        return value

    @field_validator("admin_listen")
    @classmethod
    def _admin(cls, value: str | list[str], info: ValidationInfo) -> str | list[str]:
        items = [value] if isinstance(value, str) else value
        if not items:
            raise ValueError("give at least one address")
        if len(set(items)) != len(items):
            raise ValueError("admin addresses repeat")
        listen = info.data.get("listen") or []  # absent if it failed its own validation
        for item in items:
            check_admin_address(item, listen, info.data.get("admin_allow_wildcard", False))
        return value

    @property
    def listen_addresses(self) -> list[tuple[str, int]]:
        return [parse_hostport(item) for item in self.listen]

    @property
    def admin_list(self) -> list[str]:
        return [self.admin_listen] if isinstance(self.admin_listen, str) else self.admin_listen

    @property
    def admin_addresses(self) -> list[tuple[str, int]]:
        return [parse_hostport(item) for item in self.admin_list]


def parse_settings(data: Any, source: str = "settings") -> Settings:
    return parse_document(Settings, data, source, WHAT)


def load_settings(path: str | Path) -> Settings:
    return load_document(Settings, path, WHAT)
