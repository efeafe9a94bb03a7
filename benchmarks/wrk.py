"""wrk, the load generator of the benchmark: its command line and its output as numbers."""
from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path

WRK_SCRIPT = Path(__file__).resolve().parent / "wrk_report.lua"


class WrkError(RuntimeError):
    pass


@dataclass
class WrkResult:
    requests: int
    duration_s: float
    rps: float
    p50_us: float
    p99_us: float
    p90_us: float | None = None
    p999_us: float | None = None
    mean_us: float | None = None
    max_us: float | None = None
    socket_errors: int = 0
    non_2xx: int = 0


_UNITS_US = {"us": 1.0, "ms": 1e3, "s": 1e6, "m": 60e6, "h": 3600e6}
_DURATION = re.compile(r"^([\d.]+)(us|ms|s|m|h)$")


def _duration_us(text: str) -> float:
    match = _DURATION.match(text.strip())
    if not match:
        raise WrkError(f"cannot read wrk duration {text!r}")
    return float(match.group(1)) * _UNITS_US[match.group(2)]


def wrk_argv(url: str, threads: int, connections: int, duration_s: float,
             cpu: str | None = None, script: Path = WRK_SCRIPT) -> list[str]:
    # wrk takes whole seconds only
    argv = ["wrk", f"-t{threads}", f"-c{connections}", f"-d{max(1, round(duration_s))}s", "--latency",
            "--timeout", "5s", "-s", str(script), url]
    return ["taskset", "-c", cpu, *argv] if cpu is not None else argv


def parse_wrk(text: str) -> WrkResult:
    """wrk's output -> numbers. The JSON line of wrk_report.lua is used when present (exact
    microseconds); otherwise the text of ``--latency`` (rounded by wrk's formatting)."""
    for line in text.splitlines():
        if line.startswith("WRK_JSON "):
            data = json.loads(line[len("WRK_JSON "):])
            lat = data["latency_us"]
            errors = data["errors"]
            duration = data["duration_us"] / 1e6
            return WrkResult(
                requests=data["requests"], duration_s=duration,
                rps=data["requests"] / duration if duration else 0.0,
                p50_us=float(lat["p50"]), p99_us=float(lat["p99"]), p90_us=float(lat["p90"]),
                p999_us=float(lat["p999"]), mean_us=float(lat["mean"]),
                max_us=float(lat["max"]),
                socket_errors=sum(errors[k] for k in ("connect", "read", "write", "timeout")),
                non_2xx=errors["status"])
    return _parse_wrk_text(text)


def _parse_wrk_text(text: str) -> WrkResult:
    percentiles: dict[str, float] = {}
    requests = duration = rps = None
    mean = maximum = None
    socket_errors = non_2xx = 0
    in_distribution = False
    for raw in text.splitlines():
        line = raw.strip()
        if line.startswith("Latency Distribution"):
            in_distribution = True
            continue
        if in_distribution:
            match = re.match(r"^([\d.]+)%\s+(\S+)$", line)
            if match:
                percentiles[match.group(1)] = _duration_us(match.group(2))
                continue
            in_distribution = False
        match = re.match(r"^Latency\s+(\S+)\s+(\S+)\s+(\S+)", line)
        if match:
            mean, maximum = _duration_us(match.group(1)), _duration_us(match.group(3))
            continue
        match = re.match(r"^(\d+) requests in ([\d.]+\w+),", line)
        if match:
            requests = int(match.group(1))
            duration = _duration_us(match.group(2)) / 1e6
            continue
        match = re.match(r"^Requests/sec:\s+([\d.]+)", line)
        if match:
            rps = float(match.group(1))
            continue
        match = re.match(r"^Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)",
                         line)
        if match:
            socket_errors = sum(int(g) for g in match.groups())
            continue
        match = re.match(r"^Non-2xx or 3xx responses: (\d+)", line)
        if match:
            non_2xx = int(match.group(1))
    if requests is None or rps is None or "50" not in percentiles or "99" not in percentiles:
        tail = "\n".join(text.strip().splitlines()[-8:])
        raise WrkError(f"unexpected wrk output (no requests/latency distribution):\n{tail}")
    return WrkResult(requests=requests, duration_s=duration or 0.0, rps=rps,
                     p50_us=percentiles["50"], p99_us=percentiles["99"],
                     p90_us=percentiles.get("90"), mean_us=mean, max_us=maximum,
                     socket_errors=socket_errors, non_2xx=non_2xx)
