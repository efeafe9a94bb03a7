"""Settings of one LB server process: a YAML file (rendered by the lab from a template).

Example::

    name: lb1                       # node name; sent as the X-LB response header
    lb_id: payment                  # which load balancer's config to follow in etcd
    listen: ["0.0.0.0:80"]          # data-plane addresses (host:port, IPv6 as [::]:80)
    admin_listen: "0.0.0.0:9100"    # /metrics, /-/ready, /-/healthy, /-/status, POST /-/drain
    etcd_endpoints: ["http://10.3.0.11:2379", "http://10.3.0.12:2379"]
    redis_url: "redis://10.3.0.21:6379/0"   # or null: poll only
    drain_grace_ms: 3000            # keep accepting this long after drain starts
    drain_timeout_ms: 30000         # then wait at most this long for in-flight requests
    max_connections: 10000          # client connections; more get 503 + close
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

from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, field_validator

from lbapp.settingsfile import (EtcdEndpoints, HostPort, Identifier, LogLevel, RedisUrl,
                                SettingsError, load_document, parse_document, parse_hostport)

__all__ = ["Settings", "SettingsError", "load_settings", "parse_hostport", "parse_settings"]
WHAT = "LB server settings"


class Settings(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    name: Identifier
    lb_id: Identifier
    listen: list[HostPort] = Field(min_length=1)
    admin_listen: HostPort
    etcd_endpoints: EtcdEndpoints
    redis_url: RedisUrl = None
    drain_grace_ms: int = Field(default=3000, ge=0, le=600_000)
    drain_timeout_ms: int = Field(default=30_000, ge=0, le=3_600_000)
    max_connections: int = Field(default=10_000, ge=1, le=1_000_000)
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

    @property
    def listen_addresses(self) -> list[tuple[str, int]]:
        return [parse_hostport(item) for item in self.listen]

    @property
    def admin_address(self) -> tuple[str, int]:
        return parse_hostport(self.admin_listen)


def parse_settings(data: Any, source: str = "settings") -> Settings:
    return parse_document(Settings, data, source, WHAT)


def load_settings(path: str | Path) -> Settings:
    return load_document(Settings, path, WHAT)
