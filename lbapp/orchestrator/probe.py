"""One active health check: HTTP/1.0 GET of a backend's health path, bounded by a timeout.

A new connection per check (as HAProxy's httpchk), the status line decides: 2xx and 3xx are
good. The backend closes first (HTTP/1.0 without keep-alive), so TIME_WAIT stays on its side.
Every failure has a short reason: timeout, refused, reset, unreachable, status 503, bad response.
"""
from __future__ import annotations

import asyncio
import errno
import time

from lbapp.orchestrator.health import CheckResult

MAX_RESPONSE = 64 * 1024
USER_AGENT = "lbapp-orchestrator"


def request_bytes(host: str, port: int, path: str) -> bytes:
    host_header = f"[{host}]" if ":" in host else host
    return (f"GET {path} HTTP/1.0\r\nHost: {host_header}:{port}\r\n"
            f"User-Agent: {USER_AGENT}\r\nAccept: */*\r\n\r\n").encode("latin-1", "replace")


def verdict(status_line: bytes) -> tuple[bool, str]:
    """'HTTP/1.1 200 OK' -> (True, '200'); anything not a status line -> (False, 'bad response')."""
    parts = status_line.split(b" ", 2)
    if len(parts) < 2 or not parts[0].startswith(b"HTTP/") or not parts[1].isdigit() \
            or len(parts[1]) != 3:
        return False, "bad response"
    code = int(parts[1])
    if 200 <= code < 400:
        return True, str(code)
    return False, f"status {code}"


def _os_reason(exc: OSError) -> str:
    if isinstance(exc, ConnectionRefusedError):
        return "refused"
    if isinstance(exc, (ConnectionResetError, BrokenPipeError, ConnectionAbortedError)):
        return "reset"
    if exc.errno in (errno.EHOSTUNREACH, errno.ENETUNREACH):
        return "unreachable"
    return exc.strerror or type(exc).__name__


async def check(host: str, port: int, path: str, timeout: float) -> CheckResult:
    started = time.monotonic()
    writer = None
    try:
        async with asyncio.timeout(timeout):
            reader, writer = await asyncio.open_connection(host, port, limit=MAX_RESPONSE)
            writer.write(request_bytes(host, port, path))
            line = await reader.readline()
            if not line:
                ok, reason = False, "closed without answer"
            else:
                ok, reason = verdict(line.rstrip(b"\r\n"))
                # read to the end so the backend closes first; bounded by the timeout and size
                await reader.read(MAX_RESPONSE)
    except TimeoutError:
        ok, reason = False, "timeout"
    except ValueError:  # a status line longer than MAX_RESPONSE
        ok, reason = False, "bad response"
    except OSError as exc:
        ok, reason = False, _os_reason(exc)
    finally:
        if writer is not None:
            writer.transport.abort()
    return CheckResult(ok=ok, reason=reason, latency=time.monotonic() - started)
