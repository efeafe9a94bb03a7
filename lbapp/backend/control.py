"""The backend app's control listener (aiohttp): run-time knobs, off the data plane.

It listens only where ``--control-listen`` says (the lab: the backend's control-LAN address),
never on the port clients and the LB use, so no client request can change a backend.

- ``GET /-/knobs``     the current knobs (lbapp.backend.knobs) as JSON
- ``PATCH /-/knobs``   merge a partial document, e.g. ``{"health": {"status": 503}}``; 200 with
  the new knobs, or 400 naming every bad field (nothing is applied then)
- ``DELETE /-/knobs``  back to the defaults
"""
from __future__ import annotations

import json
import logging

from aiohttp import web

from lbapp.backend.app import AppState
from lbapp.backend.knobs import Knobs, KnobsError, apply_update

log = logging.getLogger("lbapp.backend.control")

MAX_BODY = 16 * 1024


def build_control_app(app: AppState) -> web.Application:
    async def get_knobs(_: web.Request) -> web.Response:
        return web.json_response(app.faults.knobs.model_dump())

    async def patch_knobs(request: web.Request) -> web.Response:
        if request.content_length is not None and request.content_length > MAX_BODY:
            return _error(413, f"knobs: body over {MAX_BODY} bytes")
        try:
            raw = await request.content.read(MAX_BODY + 1)
        except (ValueError, ConnectionError) as exc:
            return _error(400, f"knobs: cannot read body: {exc}")
        if len(raw) > MAX_BODY:
            return _error(413, f"knobs: body over {MAX_BODY} bytes")
        try:
            update = json.loads(raw)
        except (ValueError, RecursionError) as exc:  # RecursionError: absurd nesting
            return _error(400, f"knobs: not valid JSON: {exc}")
        try:
            knobs = apply_update(app.faults.knobs, update)
        except KnobsError as exc:
            return _error(400, str(exc))
        app.faults.set(knobs)
        log.info("knobs set: %s", knobs.model_dump_json())
        return web.json_response(knobs.model_dump())

    async def reset_knobs(_: web.Request) -> web.Response:
        app.faults.set(Knobs())
        log.info("knobs reset to defaults")
        return web.json_response(app.faults.knobs.model_dump())

    control = web.Application(client_max_size=MAX_BODY)
    control.router.add_get("/-/knobs", get_knobs)
    control.router.add_patch("/-/knobs", patch_knobs)
    control.router.add_delete("/-/knobs", reset_knobs)
    return control


def _error(status: int, message: str) -> web.Response:
    return web.json_response({"error": message}, status=status)


async def start_control(app: AppState, host: str, port: int) -> web.AppRunner:
    runner = web.AppRunner(build_control_app(app), access_log=None, handle_signals=False)
    await runner.setup()
    await web.TCPSite(runner, host, port, reuse_address=True).start()
    return runner
