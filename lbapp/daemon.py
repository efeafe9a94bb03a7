"""What the command line of every lbapp daemon shares: load the settings file (or just check
it: ``--check``), then log to the file or stderr the settings name, one line per record."""
from __future__ import annotations

import argparse
import logging
import sys
from typing import Callable, Sequence, TypeVar

from lbapp.settingsfile import SettingsError

S = TypeVar("S")


def setup_logging(level: str, log_file: str | None, name: str) -> None:
    handler: logging.Handler
    handler = logging.FileHandler(log_file) if log_file else logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter(
        f"%(asctime)s {name} %(name)s %(levelname)s %(message)s"))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    logging.getLogger("aiohttp.access").setLevel(logging.WARNING)


def load_or_exit_code(path: str, check: bool, load: Callable[[str], S]) -> S | int:
    """The settings, or the exit code to return at once: 2 for a bad file (the error printed,
    naming the file and fields), 0 after ``--check`` of a good one."""
    try:
        settings = load(path)
    except SettingsError as exc:
        print(exc, file=sys.stderr)
        return 2
    if check:
        print(f"{path}: ok")
        return 0
    return settings


def logging_or_exit_code(path: str, level: str, log_file: str | None, name: str) -> int | None:
    """Set up logging; the exit code 2 (error printed) if the log file cannot be opened."""
    try:
        setup_logging(level, log_file, name)
    except OSError as exc:
        print(f"{path}: log_file: cannot open {log_file}: {exc.strerror}", file=sys.stderr)
        return 2
    return None


def settings_main(argv: Sequence[str] | None, prog: str, description: str, settings_doc: str,
                  load: Callable[[str], S], log_name: Callable[[S], str]) -> S | int:
    """The whole command line of a daemon that takes only ``--settings FILE [--check]``: the
    settings with logging set up, or the exit code to return at once."""
    parser = argparse.ArgumentParser(prog=prog, description=description)
    parser.add_argument("--settings", required=True, metavar="FILE",
                        help=f"YAML settings file (see {settings_doc})")
    parser.add_argument("--check", action="store_true", help="validate the settings and exit")
    args = parser.parse_args(argv)
    settings = load_or_exit_code(args.settings, args.check, load)
    if isinstance(settings, int):
        return settings
    failed = logging_or_exit_code(args.settings, settings.log_level, settings.log_file,
                                  log_name(settings))
    return settings if failed is None else failed
