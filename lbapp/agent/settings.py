"""Settings of the agent on one LB node: a YAML file (rendered by the lab from a template).

The agent knows nothing of the lab: it runs the children it is given, in order, while the
node's desired state is ``active``, and stops them (in reverse order) when it is ``standby``::

    node: lb4
    lb_id: payment
    etcd_endpoints: ["http://10.2.0.11:2379", "http://10.2.0.12:2379"]
    initial_state: standby          # until the orchestrator leader writes a desired state
    lease_ttl_s: 2                  # the agent's registration lease
    state_file: /run/lblab/LAB/nodes/lb4/agent.state   # optional: phase and child PIDs (JSON)
    children:
      - name: lbserver
        argv: [/usr/bin/python3, -m, lbapp.lbserver, --settings, /run/.../lbserver.yaml]
        env: {PYTHONPATH: /vagrant}
        log_file: /run/lblab/LAB/nodes/lb4/lbserver.log
        ready_url: http://127.0.0.1:9100/-/ready     # the next child starts once this is 200
        drain_url: http://127.0.0.1:9100/-/drain     # stopping: POST here, wait for the exit
        stop_timeout_ms: 30000                       # then SIGTERM, then SIGKILL
      - name: announcer
        argv: [/usr/bin/python3, -m, lbapp.announcer, ...]

Only ``node``, ``lb_id``, ``etcd_endpoints`` and ``children`` are required. Unknown keys are
errors.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from lbapp.settingsfile import (EtcdEndpoints, HttpUrl, Identifier, LogLevel, load_document,
                                parse_document)

WHAT = "agent settings"


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)


class ChildSpec(_Strict):
    name: Identifier
    argv: list[str] = Field(min_length=1)
    env: dict[str, str] = {}
    cwd: str | None = None
    log_file: str | None = None
    ready_url: HttpUrl | None = None
    ready_timeout_ms: int = Field(default=15_000, ge=100, le=600_000)
    drain_url: HttpUrl | None = None
    stop_timeout_ms: int = Field(default=30_000, ge=100, le=3_600_000)
    # what the agent's zygote imports ahead for a `python -m` child (default: its module)
    preload: str | None = Field(default=None, pattern=r"^[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)*$")

    @field_validator("argv")
    @classmethod
    def _argv(cls, value: list[str]) -> list[str]:
        if not value[0] or any("\0" in arg for arg in value):
            raise ValueError("argv[0] must be a program and no argument may contain NUL")
        return value


class Settings(_Strict):
    node: Identifier
    lb_id: Identifier
    etcd_endpoints: EtcdEndpoints
    etcd_timeout_ms: int = Field(default=500, ge=10, le=60_000)
    initial_state: Literal["active", "standby"] = "standby"
    lease_ttl_s: int = Field(default=2, ge=1, le=600)
    state_file: str | None = None
    children: list[ChildSpec] = Field(min_length=1)
    restart_backoff_ms: tuple[int, int] = (1000, 30_000)
    log_level: LogLevel = "info"
    log_file: str | None = None

    @model_validator(mode="after")
    def _unique_children(self) -> "Settings":
        names = [child.name for child in self.children]
        if len(set(names)) != len(names):
            raise ValueError("children names repeat")
        low, high = self.restart_backoff_ms
        if not 10 <= low <= high <= 3_600_000:
            raise ValueError("restart_backoff_ms must be [low, high] with 10 <= low <= high")
        return self


def parse_settings(data: Any, source: str = "settings") -> Settings:
    return parse_document(Settings, data, source, WHAT)


def load_settings(path: str | Path) -> Settings:
    return load_document(Settings, path, WHAT)
