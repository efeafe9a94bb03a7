"""The web UI: pages rendered from ``templates/`` (aiohttp-jinja2), forms that go through the
same write path as the API. Changing anything needs a login (user name + the console token);
every form carries the session's CSRF token. A refused form re-renders its page with the error
(naming the field) and a 4xx status; nothing is written."""
from __future__ import annotations

import asyncio
import json
import re
import urllib.parse
from functools import partial
from typing import Any

import aiohttp_jinja2
from aiohttp import web

from lbapp.config.schema import ALGORITHMS
from lbapp.console import edits
from lbapp.console.api import AUTH, CONSOLE
from lbapp.console.auth import COOKIE
from lbapp.console.edits import EditError

_INTEGER = re.compile(r"^-?\d{1,9}$")


def _number(text: str) -> Any:
    """A form field meant as an integer: int when it is one, else the text (the edit refuses
    it naming the field)."""
    text = text.strip()
    return int(text) if _INTEGER.match(text) else text


async def _page(request: web.Request, template: str, status: int = 200, **context) -> web.Response:
    auth = request.app[AUTH]
    user = auth.session_user(request)
    context.update(user=user, csrf=auth.csrf_token(request) if user else "",
                   notice=request.query.get("ok"), path=request.path)
    return aiohttp_jinja2.render_template(template, request, context, status=status)


async def overview(request: web.Request) -> web.Response:
    return await _page(request, "overview.html", lbs=await request.app[CONSOLE].overview())


async def lb_page(request: web.Request, error: EditError | None = None) -> web.Response:
    try:
        view = await request.app[CONSOLE].detail(request.match_info["lb_id"])
    except EditError as exc:
        return await _page(request, "error.html", status=exc.status, error=exc)
    return await _page(request, "lb.html", status=error.status if error else 200, lb=view,
                       error=error, algorithms=ALGORITHMS)


async def audit_page(request: web.Request) -> web.Response:
    return await _page(request, "audit.html",
                       entries=await request.app[CONSOLE].store.audit(100))


async def orchestrator_page(request: web.Request) -> web.Response:
    return await _page(request, "orchestrator.html",
                       orch=await request.app[CONSOLE].store.orchestrator())


async def live_page(request: web.Request) -> web.Response:
    return await _page(request, "live.html")


async def login_page(request: web.Request) -> web.Response:
    return await _page(request, "login.html", error=None)


async def login(request: web.Request) -> web.Response:
    auth = request.app[AUTH]
    form = await request.post()
    user, token = str(form.get("user", "")).strip(), str(form.get("token", ""))
    if not auth.valid_user(user):
        return await _page(request, "login.html", status=400,
                           error="user: 1-40 letters, digits, '_', '.', '@', '-'")
    if not auth.token_ok(token):
        return await _page(request, "login.html", status=401, error="token: not the console's")
    response = web.HTTPSeeOther("/")
    response.set_cookie(COOKIE, auth.new_session(user), httponly=True, samesite="Strict",
                        path="/")
    return response


async def logout(request: web.Request) -> web.Response:
    response = web.HTTPSeeOther("/")
    response.del_cookie(COOKIE, path="/")
    return response


def _form_edit(kind: str, form: Any) -> tuple[str, edits.Edit]:
    if kind == "algorithm":
        return "set algorithm", partial(edits.set_algorithm,
                                        body={"algorithm": str(form.get("algorithm", ""))})
    if kind == "weights":
        weights = {key.removeprefix("weight."): _number(str(value))
                   for key, value in form.items() if key.startswith("weight.")}
        return "set weights", partial(edits.set_weights, body=weights)
    if kind == "backends":
        body = {"address": str(form.get("address", "")).strip(),
                "port": _number(str(form.get("port", "")))}
        if str(form.get("name", "")).strip():
            body["name"] = str(form["name"]).strip()
        if str(form.get("weight", "")).strip():
            body["weight"] = _number(str(form["weight"]))
        return "add backend", partial(edits.add_backend, body=body)
    if kind == "remove":
        return "remove backend", partial(edits.remove_backend, name=str(form.get("name", "")))
    raise web.HTTPNotFound()


async def submit(request: web.Request) -> web.Response:
    """POST /lb/{lb_id}/{kind}: one of the forms of the LB page."""
    auth, console = request.app[AUTH], request.app[CONSOLE]
    lb_id, kind = request.match_info["lb_id"], request.match_info["kind"]
    try:
        form = await request.post()
    except web.HTTPRequestEntityTooLarge:
        return await lb_page(request, EditError(413, "(form)", "too large", "too_large"))
    user = auth.session_user(request)
    if user is None:
        raise web.HTTPSeeOther("/login")
    if not auth.csrf_ok(request, str(form.get("csrf", ""))):
        console.metrics.rejects.labels("csrf").inc()
        return await lb_page(request, EditError(403, "csrf", "the form is stale or not from "
                                                "this console: reload the page", "csrf"))
    who = f"{user}@{request.remote}"
    try:
        if kind in ("drain", "undrain"):
            await console.set_drain(lb_id, str(form.get("node", "")), kind == "drain", who)
            message = f"{kind} {form.get('node')}"
        else:
            version_text = str(form.get("version", ""))
            if not version_text.isdigit():
                raise EditError(400, "version", "missing from the form: reload the page")
            action, edit = _form_edit(kind, form)
            written = await console.change(lb_id, edit, int(version_text), who, action)
            message = f"{action}: now version {written.version}"
    except EditError as exc:
        return await lb_page(request, exc)
    raise web.HTTPSeeOther(f"/lb/{lb_id}?ok={urllib.parse.quote(message)}")


async def events(request: web.Request) -> web.StreamResponse:
    """Server-sent events: every live sample as it is taken (the last minute first)."""
    sampler = request.app[CONSOLE].sampler
    response = web.StreamResponse(headers={"Content-Type": "text/event-stream",
                                           "Cache-Control": "no-cache"})
    await response.prepare(request)
    queue: asyncio.Queue = asyncio.Queue()
    sampler.listeners.add(queue)
    try:
        for point in list(sampler.points)[-60:]:
            await response.write(f"data: {json.dumps(point)}\n\n".encode())
        while True:
            point = await queue.get()
            await response.write(f"data: {json.dumps(point)}\n\n".encode())
    except (ConnectionResetError, asyncio.CancelledError):
        pass
    finally:
        sampler.listeners.discard(queue)
    return response


def add_routes(app: web.Application) -> None:
    app.router.add_get("/", overview)
    app.router.add_get("/lb/{lb_id}", lb_page)
    app.router.add_post("/lb/{lb_id}/{kind}", submit)
    app.router.add_get("/audit", audit_page)
    app.router.add_get("/orchestrator", orchestrator_page)
    app.router.add_get("/live", live_page)
    app.router.add_get("/events", events)
    app.router.add_get("/login", login_page)
    app.router.add_post("/login", login)
    app.router.add_post("/logout", logout)
