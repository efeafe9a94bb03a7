"""The console's JSON API as the lab uses it (the `config` fault, `lblab console`, tests): HTTP
made inside the console node's namespace, writes with the lab's console token and the version
just read (If-Match), so a concurrent edit is refused rather than overwritten.

Every refusal becomes a ``ConsoleApiError`` carrying the console's own message (which names the
field); nothing here checks a config: the console is the one place that does.
"""
from __future__ import annotations

import http.client
import json
import time
from typing import Any
from urllib.parse import quote, urlencode

from lblab.daemons.console import PORT, token_path
from lblab.lab import probes
from lblab.lab.errors import LabError


READ_RETRY_S = 5.0     # etcd too slow for the console's short timeouts (a leader election, a
                       # saturated box) is usually over in a second or two


class ConsoleApiError(LabError):
    def __init__(self, message: str, status: int | None = None, field: str | None = None,
                 reason: str | None = None) -> None:
        super().__init__(message)
        self.status, self.field, self.reason = status, field, reason


def segment(text: str) -> str:
    """One path segment, whatever the text holds ('/', '..', '%', spaces...)."""
    return quote(text, safe="")


def shortened(text: str, limit: int = 400) -> str:
    """At most ``limit`` characters of a message (the console echoes what it refuses)."""
    return text if len(text) <= limit else f"{text[:limit]}... ({len(text)} characters)"


def replace_keys(document: dict, changes: dict) -> dict:
    """Keys of ``changes`` replace the document's; a null value removes the key."""
    merged = {**document, **changes}
    return {key: value for key, value in merged.items() if value is not None}


class ConsoleApi:
    def __init__(self, lab, node: str | None = None, timeout: float = 10.0,
                 user: str = "lblab") -> None:
        """``user``: who the console's audit log names (with the address it came from)."""
        consoles = lab.node_names("console")
        if not consoles:
            raise ConsoleApiError(f"lab {lab.name} has no console node: LB configs change "
                                  "through the console")
        if node is not None and node not in consoles:
            raise ConsoleApiError(f"{node!r} is not a console node of lab {lab.name} "
                                  f"(consoles: {', '.join(consoles)})")
        ctx = lab.ctx(node or consoles[0])
        self.node, self.ns, self.address = ctx.node, ctx.ns, ctx.control_address
        self.timeout, self.user = timeout, user
        self._token_path = token_path(ctx)

    @property
    def token(self) -> str:
        try:
            token = self._token_path.read_text().strip()
        except OSError as exc:
            raise ConsoleApiError(f"console token {self._token_path}: {exc.strerror} (is the "
                                  "console running?)") from None
        return token

    # -- HTTP -------------------------------------------------------------------------------
    def request(self, method: str, path: str, body: Any = None, version: int | None = None,
                authorized: bool = True) -> tuple[int, dict[str, str], Any]:
        """One request -> (status, headers, JSON answer, or the text of a non-JSON answer)."""
        headers = {"Accept": "application/json"}
        data = None
        if body is not None:
            data = json.dumps(body).encode()
            headers["Content-Type"] = "application/json"
        if version is not None:
            headers["If-Match"] = f'"{version}"'
        if authorized:
            headers["Authorization"] = f"Bearer {self.token}"
            headers["X-Console-User"] = self.user
        try:
            status, answer_headers, raw = probes.http_request(
                self.ns, method, self.address, PORT, path, self.timeout, body=data, headers=headers)
        except (OSError, http.client.HTTPException) as exc:
            raise ConsoleApiError(f"console {self.address}:{PORT} ({self.node}): {method} {path}: "
                                  f"{exc or type(exc).__name__}") from None
        try:
            answer = json.loads(raw) if raw else {}
        except ValueError:
            answer = raw.decode("utf-8", "replace").strip()
        return status, answer_headers, answer

    def call(self, method: str, path: str, body: Any = None, version: int | None = None) -> Any:
        """The JSON answer of a request that must succeed; ConsoleApiError naming the field.
        A read the console could not serve because etcd did not answer in time (503) is asked
        again for up to ``READ_RETRY_S``; a write is not (it may have been made)."""
        deadline = time.monotonic() + READ_RETRY_S
        status, _, answer = self.request(method, path, body, version)
        while status == 503 and method == "GET" and time.monotonic() < deadline:
            time.sleep(0.2)
            status, _, answer = self.request(method, path, body, version)
        if status >= 400:
            refused = f"console refused {method} {path[:100]} (HTTP {status}): "
            if isinstance(answer, dict) and "error" in answer:
                field, error = answer.get("field"), str(answer["error"])
                named = error if not field or error.startswith(f"{field}:") else f"{field}: {error}"
                raise ConsoleApiError(refused + shortened(named), status, field,
                                      answer.get("reason"))
            raise ConsoleApiError(refused + shortened(str(answer)), status)
        return answer

    # -- reads ------------------------------------------------------------------------------
    def lbs(self) -> list[dict]:
        return self.call("GET", "/api/lbs")["lbs"]

    def lb(self, lb_id: str) -> dict:
        """Config, version, the version each LB server serves, backends, drained nodes."""
        return self.call("GET", f"/api/lbs/{segment(lb_id)}")

    def audit(self, lb_id: str | None = None, limit: int = 20) -> list[dict]:
        query = urlencode({"limit": limit, **({"lb_id": lb_id} if lb_id else {})})
        return self.call("GET", f"/api/audit?{query}")["entries"]

    def lab_status(self) -> dict:
        return self.call("GET", "/api/status")

    # -- writes -----------------------------------------------------------------------------
    def edit(self, lb_id: str, kind: str, value: Any) -> dict:
        """One edit (``EDITS``) of the config as it is now, guarded by the version just read ->
        the answer (new version, committed_at, ...) and the config before (``previous``)."""
        method, suffix, body = edit_request(kind, value)
        current = self.lb(lb_id)
        if callable(body):
            body = body(current["config"])
        answer = self.call(method, f"/api/lbs/{segment(lb_id)}/{suffix}", body, current["version"])
        return {**answer, "previous": current["config"]}

    def set_drain(self, lb_id: str, node: str, drained: bool) -> dict:
        return self.call("POST" if drained else "DELETE",
                         f"/api/lbs/{segment(lb_id)}/nodes/{segment(node)}/drain")


EDITS = ("set", "replace", "algorithm", "weights", "add_backend", "remove_backend")


def edit_request(kind: str, value: Any) -> tuple[str, str, Any]:
    """(method, path under the LB, body or a function of the current config) of one edit."""
    if kind == "set":
        return "PUT", "config", lambda document: replace_keys(document, value)
    if kind == "replace":
        return "PUT", "config", value
    if kind == "algorithm":
        return "PUT", "algorithm", value if isinstance(value, dict) else {"algorithm": value}
    if kind == "weights":
        return "PUT", "weights", value
    if kind == "add_backend":
        return "POST", "backends", value
    if kind == "remove_backend":
        return "DELETE", f"backends/{segment(str(value))}", None
    raise ValueError(f"unknown edit {kind!r} (one of {', '.join(EDITS)})")
