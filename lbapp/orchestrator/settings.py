"""Settings of one orchestrator member: a YAML file (rendered by the lab from a template).

Example::

    name: orch1                         # member name (unique in the cluster)
    etcd_endpoints: ["http://10.2.0.11:2379", "http://10.2.0.12:2379", "http://10.2.0.13:2379"]
    redis_url: "redis://10.2.0.20:6379/0"   # health changes are published here; null: etcd only
    metrics_listen: "0.0.0.0:9300"      # /metrics, /-/status
    lease_ttl_s: 2                      # member and leader lease; kept alive every TTL/4
    etcd_timeout_ms: 500                # per etcd request and member
    health_check:                       # HAProxy-like defaults; the lab: 200 / 150 / 2 / 2
      interval_ms: 2000
      timeout_ms: 1000
      rise: 2
      fall: 3
      max_in_flight: 256
    history_file: /run/lblab/LAB/nodes/orch1/checks.jsonl   # optional
    autoscale:                          # optional: the leader scales this LB tier
      lb_id: payment
      prometheus_url: "http://10.2.0.30:9090"
      interval_s: 3
      rate_window_s: 10
      selector: 'job="lbserver"'
      node_label: node
      policy: {min_active: 2, max_active: 4, scale_up_rps: 300, scale_down_rps: 100,
               scale_up_cpu: 0.7, scale_down_cpu: 0.3, cooldown_s: 20}
    log_level: info
    log_file: /var/log/orch1.log        # optional; stderr if absent

Only ``name`` and ``etcd_endpoints`` are required. Unknown keys are errors.
"""
from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from lbapp.orchestrator.autoscale import ScalePolicy
from lbapp.settingsfile import (EtcdEndpoints, HostPort, HttpUrl, Identifier, LogLevel,
                                RedisUrl, load_document, parse_document)

WHAT = "orchestrator settings"
_LABEL = re.compile(r"^[a-zA-Z_][a-zA-Z0-9_]*$")
# a PromQL label matcher list without braces: name="value", name=~"regex", ...
_SELECTOR = re.compile(r'^\s*([a-zA-Z_][a-zA-Z0-9_]*\s*(=|!=|=~|!~)\s*"[^"\\{}]*"\s*,?\s*)*$')


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)


class HealthCheckSettings(_Strict):
    interval_ms: int = Field(default=2000, ge=10, le=3_600_000)
    timeout_ms: int = Field(default=1000, ge=1, le=3_600_000)
    rise: int = Field(default=2, ge=1, le=100)
    fall: int = Field(default=3, ge=1, le=100)
    max_in_flight: int = Field(default=256, ge=1, le=10_000)

    @model_validator(mode="after")
    def _timeout_within_interval(self) -> "HealthCheckSettings":
        if self.timeout_ms > self.interval_ms:
            raise ValueError("timeout_ms must not exceed interval_ms")
        return self


class AutoscaleSettings(_Strict):
    lb_id: Identifier
    prometheus_url: HttpUrl
    interval_s: float = Field(default=3.0, ge=0.2, le=3600)
    rate_window_s: int = Field(default=10, ge=1, le=3600)
    query_timeout_s: float = Field(default=2.0, gt=0, le=60)
    selector: str = 'job="lbserver"'
    node_label: str = "node"
    policy: ScalePolicy = ScalePolicy()

    @field_validator("selector")
    @classmethod
    def _selector(cls, value: str) -> str:
        if not _SELECTOR.match(value):
            raise ValueError('must be PromQL label matchers without braces, e.g. job="lbserver"')
        return value

    @field_validator("node_label")
    @classmethod
    def _label(cls, value: str) -> str:
        if not _LABEL.match(value):
            raise ValueError("must be a Prometheus label name")
        return value


class Settings(_Strict):
    name: Identifier
    etcd_endpoints: EtcdEndpoints
    redis_url: RedisUrl = None
    metrics_listen: HostPort | None = None
    lease_ttl_s: int = Field(default=2, ge=1, le=600)
    etcd_timeout_ms: int = Field(default=500, ge=10, le=60_000)
    health_check: HealthCheckSettings = HealthCheckSettings()
    history_file: str | None = None
    autoscale: AutoscaleSettings | None = None
    log_level: LogLevel = "info"
    log_file: str | None = None


def parse_settings(data: Any, source: str = "settings") -> Settings:
    return parse_document(Settings, data, source, WHAT)


def load_settings(path: str | Path) -> Settings:
    return load_document(Settings, path, WHAT)
