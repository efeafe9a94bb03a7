"""Settings of the console process: a YAML file (rendered by the lab from a template).

Example::

    listen: "0.0.0.0:8080"
    etcd_endpoints: ["http://10.3.0.11:2379", "http://10.3.0.12:2379", "http://10.3.0.13:2379"]
    etcd_timeout_ms: 500              # per etcd member (then the next member is asked)
    redis_url: "redis://10.3.0.21:6379/0"   # or null: LBs see changes at their next poll
    token_file: /run/lblab/reference/console.token   # writes need this token
    lb_servers:                       # per load balancer, its LB servers' admin endpoints
                                      # (served versions; request rates from their /metrics)
      payment:
        lb1: "http://10.0.1.1:9100"
        lb2: "http://10.0.1.2:9100"
    max_body_bytes: 65536             # larger request bodies get 413
    log_file: /run/lblab/reference/nodes/console/console.log   # optional; stderr if absent
    log_level: info

Only ``listen``, ``etcd_endpoints`` and ``token_file`` are required. Unknown keys are errors.
"""
from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from lbapp import keys
from lbapp.etcd.transport import parse_endpoint
from lbapp.lbserver.settings import parse_hostport

NAME = keys.SEGMENT
_LOG_LEVELS = ("debug", "info", "warning", "error")


class SettingsError(ValueError):
    """A settings file that cannot be used; the message names the file and the field."""


def _http_url(value: str) -> str:
    parse_endpoint(value)  # same shape as an etcd endpoint: scheme://host:port
    return value.rstrip("/")


class ConsoleSettings(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    listen: str
    etcd_endpoints: list[str] = Field(min_length=1)
    etcd_timeout_ms: int = Field(default=500, ge=10, le=60_000)
    redis_url: str | None = None
    token_file: str
    lb_servers: dict[str, dict[str, str]] = Field(default_factory=dict)
    max_body_bytes: int = Field(default=65_536, ge=1024, le=16 * 1024 * 1024)
    log_file: str | None = None
    log_level: str = "info"

    @field_validator("listen")
    @classmethod
    def _listen(cls, value: str) -> str:
        parse_hostport(value)
        return value

    @field_validator("etcd_endpoints")
    @classmethod
    def _etcd(cls, value: list[str]) -> list[str]:
        return [parse_endpoint(v) for v in value]

    @field_validator("redis_url")
    @classmethod
    def _redis(cls, value: str | None) -> str | None:
        if value is not None and not re.match(r"^rediss?://[^/]+", value):
            raise ValueError(f"{value!r} must look like redis://host:6379/0")
        return value

    @field_validator("lb_servers")
    @classmethod
    def _lb_servers(cls, value: dict[str, dict[str, str]]) -> dict[str, dict[str, str]]:
        checked = {}
        for lb_id, servers in value.items():
            if not NAME.match(lb_id):
                raise ValueError(f"lb id {lb_id!r}: letters, digits, '_', '.', '-' only")
            for node in servers:
                if not NAME.match(node):
                    raise ValueError(f"{lb_id}: node {node!r}: letters, digits, '_', '.', '-'")
            checked[lb_id] = {node: _http_url(url) for node, url in servers.items()}
        return checked

    @field_validator("log_level")
    @classmethod
    def _level(cls, value: str) -> str:
        if value.lower() not in _LOG_LEVELS:
            raise ValueError(f"must be one of {', '.join(_LOG_LEVELS)}")
        return value.lower()

    @property
    def listen_address(self) -> tuple[str, int]:
        return parse_hostport(self.listen)

    def read_token(self) -> str:
        try:
            token = Path(self.token_file).read_text().strip()
        except OSError as exc:
            raise SettingsError(f"token_file {self.token_file}: cannot read: {exc.strerror}") from None
        if len(token) < 16:
            raise SettingsError(f"token_file {self.token_file}: the token must have at least "
                                "16 characters")
        return token


def parse_settings(data: Any, source: str = "settings") -> ConsoleSettings:
    if not isinstance(data, dict):
        raise SettingsError(f"{source}: expected a mapping of settings at the top level")
    try:
        return ConsoleSettings.model_validate(data)
    except ValidationError as exc:
        lines = [f"{source}: invalid console settings"]
        for item in exc.errors():
            where = ".".join(str(p) for p in item["loc"]) or "(document)"
            lines.append(f"  {where}: {item['msg'].removeprefix('Value error, ')}")
        raise SettingsError("\n".join(lines)) from None


def load_settings(path: str | Path) -> ConsoleSettings:
    path = Path(path)
    try:
        data = yaml.safe_load(path.read_text())
    except OSError as exc:
        raise SettingsError(f"{path}: cannot read settings: {exc.strerror}") from None
    except yaml.YAMLError as exc:
        raise SettingsError(f"{path}: not valid YAML: {exc}") from None
    return parse_settings(data, source=str(path))
