"""The JSON API (``/api/...``). Reads need nothing; writes need ``Authorization: Bearer TOKEN``
and ``If-Match: VERSION`` (the version a GET returned, also sent as its ETag), a JSON body
(``Content-Type: application/json``) of at most ``max_body_bytes``. Every refusal is a 4xx with
``{"error", "field", "reason"}`` and nothing written.

    GET    /api/lbs                                   every LB, version, who serves it
    GET    /api/lbs/{lb_id}                           config, version, per LB server version,
                                                      backends with health and weight
    PUT    /api/lbs/{lb_id}/config                    replace the config
    PATCH  /api/lbs/{lb_id}/config                    JSON merge patch (RFC 7386)
    POST   /api/lbs/{lb_id}/backends                  add {"address", "port", "name"?, "weight"?}
    DELETE /api/lbs/{lb_id}/backends/{name}           remove
    PUT    /api/lbs/{lb_id}/weights                   {"be1": 3, ...}
    PUT    /api/lbs/{lb_id}/algorithm                 {"algorithm": ..., "hash": {...}?}
    POST   /api/lbs/{lb_id}/nodes/{node}/drain        drain an LB server; DELETE: undrain
    GET    /api/orchestrator                          leader and shards (null when absent)
    GET    /api/status                                LB announcements, DNS VIP holder
    GET    /api/audit?lb_id=&limit=                   the newest changes first
    GET    /api/live                                  the last minutes of request rates
"""
from __future__ import annotations

import json
from functools import partial
from typing import Any

from aiohttp import web

from lbapp.console import edits
from lbapp.console.auth import Auth
from lbapp.console.edits import EditError
from lbapp.console.service import Console

CONSOLE = web.AppKey("console", Console)
AUTH = web.AppKey("auth", Auth)
MAX_BODY = web.AppKey("max_body", int)
JSON_TYPES = ("application/json", "application/merge-patch+json")


def refuse(exc: EditError) -> web.Response:
    return web.json_response(exc.doc(), status=exc.status)


def expected_version(request: web.Request) -> int:
    raw = request.headers.get("If-Match")
    if raw is None:
        raise EditError(428, "If-Match", "send If-Match with the version you read "
                        "(GET returns it as ETag)", reason="no_version")
    text = raw.strip().removeprefix("W/").strip('"')
    if not text.isdigit():
        raise EditError(400, "If-Match", f"not a version: {raw!r}", reason="bad_version")
    return int(text)


async def json_body(request: web.Request) -> Any:
    if request.content_type not in JSON_TYPES:
        raise EditError(415, "Content-Type", f"must be application/json, got "
                        f"{request.content_type!r}", reason="content_type")
    try:
        raw = await request.read()
    except web.HTTPRequestEntityTooLarge:
        raise EditError(413, "(body)", f"larger than {request.app[MAX_BODY]} bytes",
                        reason="too_large") from None
    try:
        return json.loads(raw)
    except (ValueError, UnicodeDecodeError) as exc:
        raise EditError(400, "(body)", f"not valid JSON: {exc}", reason="malformed_json") from None


def writer(request: web.Request) -> str:
    user = request.app[AUTH].bearer_user(request)
    if user is None:
        raise EditError(401, "Authorization", "writes need 'Authorization: Bearer <token>' "
                        "(lblab status shows the token)", reason="unauthorized")
    return f"{user}@{request.remote}"


async def _write(request: web.Request, action: str, make_edit) -> web.Response:
    console = request.app[CONSOLE]
    try:
        who = writer(request)
        version = expected_version(request)
        edit = await make_edit(request)
        written = await console.change(request.match_info["lb_id"], edit, version, who, action)
    except EditError as exc:
        if exc.reason in ("unauthorized", "no_version", "bad_version", "content_type",
                          "too_large", "malformed_json"):
            console.metrics.rejects.labels(exc.reason).inc()
        return refuse(exc)
    return web.json_response({"version": written.version, "audit_id": written.audit_id,
                              "published_to": written.subscribers,
                              "committed_at": written.committed_at},
                             headers={"ETag": f'"{written.version}"'})


def body_edit(function):
    async def make(request: web.Request):
        body = await json_body(request)
        return partial(function, body=body)
    return make


async def _remove_edit(request: web.Request):
    return partial(edits.remove_backend, name=request.match_info["name"])


async def list_lbs(request: web.Request) -> web.Response:
    return web.json_response({"lbs": await request.app[CONSOLE].overview()})


async def get_lb(request: web.Request) -> web.Response:
    try:
        view = await request.app[CONSOLE].detail(request.match_info["lb_id"])
    except EditError as exc:
        return refuse(exc)
    return web.json_response(view, headers={"ETag": f'"{view["version"]}"'})


async def drain(request: web.Request) -> web.Response:
    console = request.app[CONSOLE]
    try:
        who = writer(request)
        result = await console.set_drain(request.match_info["lb_id"], request.match_info["node"],
                                         request.method == "POST", who)
    except EditError as exc:
        return refuse(exc)
    return web.json_response(result)


async def orchestrator(request: web.Request) -> web.Response:
    return web.json_response(await request.app[CONSOLE].store.orchestrator())


async def lab_status(request: web.Request) -> web.Response:
    return web.json_response(await request.app[CONSOLE].store.lab_status())


async def audit(request: web.Request) -> web.Response:
    limit_text = request.query.get("limit", "50")
    if not limit_text.isdigit() or not 1 <= int(limit_text) <= 1000:
        return refuse(EditError(400, "limit", "must be an integer 1-1000"))
    entries = await request.app[CONSOLE].store.audit(int(limit_text),
                                                     request.query.get("lb_id") or None)
    return web.json_response({"entries": entries})


async def live(request: web.Request) -> web.Response:
    return web.json_response({"points": list(request.app[CONSOLE].sampler.points)})


def add_routes(app: web.Application) -> None:
    lb = "/api/lbs/{lb_id}"
    write_routes = [
        ("PUT", f"{lb}/config", "replace", body_edit(edits.replace)),
        ("PATCH", f"{lb}/config", "patch", body_edit(edits.merge_patch)),
        ("POST", f"{lb}/backends", "add backend", body_edit(edits.add_backend)),
        ("DELETE", f"{lb}/backends/{{name}}", "remove backend", _remove_edit),
        ("PUT", f"{lb}/weights", "set weights", body_edit(edits.set_weights)),
        ("PUT", f"{lb}/algorithm", "set algorithm", body_edit(edits.set_algorithm)),
    ]
    for method, path, action, make_edit in write_routes:
        app.router.add_route(method, path, partial(_write, action=action, make_edit=make_edit))
    app.router.add_get("/api/lbs", list_lbs)
    app.router.add_get(lb, get_lb)
    app.router.add_post(f"{lb}/nodes/{{node}}/drain", drain)
    app.router.add_delete(f"{lb}/nodes/{{node}}/drain", drain)
    app.router.add_get("/api/orchestrator", orchestrator)
    app.router.add_get("/api/status", lab_status)
    app.router.add_get("/api/audit", audit)
    app.router.add_get("/api/live", live)
