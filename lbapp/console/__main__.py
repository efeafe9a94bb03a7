"""``python -m lbapp.console --settings FILE``: the LB console (web UI + JSON API)."""
from __future__ import annotations

import argparse
import logging
import sys

from aiohttp import web

from lbapp.console.app import build_app
from lbapp.console.settings import SettingsError, load_settings


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m lbapp.console",
                                     description="lbapp console: web UI and JSON API")
    parser.add_argument("--settings", required=True, metavar="FILE",
                        help="YAML settings file (see lbapp.console.settings)")
    parser.add_argument("--check", action="store_true", help="validate the settings and exit")
    args = parser.parse_args(argv)
    try:
        settings = load_settings(args.settings)
        token = settings.read_token()
    except SettingsError as exc:
        print(exc, file=sys.stderr)
        return 2
    if args.check:
        return 0
    handler = (logging.FileHandler(settings.log_file) if settings.log_file
               else logging.StreamHandler(sys.stderr))
    handler.setFormatter(logging.Formatter("%(asctime)s console %(name)s %(levelname)s %(message)s"))
    logging.basicConfig(level=settings.log_level.upper(), handlers=[handler])
    logging.getLogger("aiohttp.access").setLevel(logging.WARNING)
    host, port = settings.listen_address
    web.run_app(build_app(settings, token), host=host, port=port, print=None,
                access_log=None)
    return 0


if __name__ == "__main__":
    sys.exit(main())
