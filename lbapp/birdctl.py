"""Minimal client of BIRD's control socket (the line protocol birdc speaks) and parsers of its
replies, as BIRD 2.0.12 formats them."""
from __future__ import annotations

import ipaddress
import re
import socket
from dataclasses import dataclass, field


class BirdControl:
    """Minimal client of BIRD's control socket (the protocol birdc speaks)."""

    def __init__(self, path: str, timeout: float = 1.0):
        self.path = path
        self.timeout = timeout

    def command(self, line: str) -> list[str]:
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
            sock.settimeout(self.timeout)
            sock.connect(self.path)
            reader = sock.makefile("rb")
            self._read_reply(reader)  # greeting
            sock.sendall(line.encode() + b"\n")
            return self._read_reply(reader)

    @staticmethod
    def _read_reply(reader) -> list[str]:
        lines = []
        while True:
            raw = reader.readline()
            if not raw:
                raise ConnectionError("BIRD closed the control socket")
            text = raw.decode(errors="replace").rstrip("\n")
            lines.append(text)
            # a reply ends with a line "DDDD text" (four digits then a space)
            if len(text) >= 5 and text[:4].isdigit() and text[4] == " ":
                code = int(text[:4])
                if code >= 8000:
                    raise RuntimeError(f"BIRD error: {text}")
                return lines

    def protocols(self) -> dict[str, dict[str, str]]:
        """`show protocols` as name -> {name, proto, table, state, since, info}."""
        rows = (summary_row(text) for code, text in reply_blocks(self.command("show protocols"))
                if code == "1002")
        return {row["name"]: row for row in rows if row}

    def protocol_status(self, name: str) -> ProtocolStatus | None:
        """`show protocols all NAME`, parsed (RuntimeError if BIRD knows no such protocol)."""
        return protocols_all(self.command(f"show protocols all {name}")).get(name)

    def route_prefixes(self, command: str) -> list[str]:
        """Prefixes a `show route ...` command lists (e.g. `show route filtered`)."""
        return route_prefixes(self.command(command))


def reply_blocks(lines: list[str]) -> list[tuple[str, str]]:
    """(code, text) per reply line: "DDDD-text" starts a block of code DDDD, " text" continues it."""
    blocks, code = [], ""
    for line in lines:
        if line.startswith(" "):
            text = line[1:]
        else:
            code, text = line[:4], line[5:]
        blocks.append((code, text))
    return blocks


def summary_row(text: str) -> dict[str, str] | None:
    """One row of the `show protocols` table: name, proto, table, state, since (one word in the
    default time format) and info (the rest, with runs of spaces closed up)."""
    fields = text.split(None, 5)
    if len(fields) < 4:
        return None
    return {"name": fields[0], "proto": fields[1], "table": fields[2], "state": fields[3],
            "since": fields[4] if len(fields) > 4 else "",
            "info": " ".join(fields[5].split()) if len(fields) > 5 else ""}


def route_prefixes(lines: list[str]) -> list[str]:
    """The prefixes of a `show route` reply, in order (a route line starts with its prefix)."""
    prefixes = []
    for code, text in reply_blocks(lines):
        if code != "1007" or not text or text[0].isspace():
            continue
        first = text.split()[0]
        try:
            prefixes.append(str(ipaddress.ip_network(first)))
        except ValueError:
            continue
    return prefixes


@dataclass(frozen=True)
class ChannelLimit:
    """A route limit of a channel: `receive|import|export limit N action A`; hit stays True
    until the protocol restarts (BIRD resets limits only then)."""

    limit: int
    action: str | None
    hit: bool


@dataclass
class ProtocolStatus:
    """One protocol of `show protocols all`. `state` and `info` are the summary row (state up,
    start, down, ...; for BGP info is the session state, with the last error when not up);
    `bgp_state` and `last_error` come from the details. `routes` sums every channel's
    "Routes:" counters (imported, filtered, exported, preferred), absent while a channel is down.
    `limits` is keyed by direction: receive, import, export."""

    name: str
    proto: str
    state: str
    since: str
    info: str
    bgp_state: str | None = None
    last_error: str | None = None
    neighbor: str | None = None
    channel_states: dict[str, str] = field(default_factory=dict)
    limits: dict[str, ChannelLimit] = field(default_factory=dict)
    routes: dict[str, int] = field(default_factory=dict)

    @property
    def established(self) -> bool:
        return self.bgp_state == "Established"

    @property
    def limit_hit(self) -> bool:
        return any(limit.hit for limit in self.limits.values())


_ROUTE_COUNT = re.compile(r"(\d+) (\w+)")
_LIMIT = re.compile(r"(\d+)\s*(\[HIT\])?$")


def protocols_all(lines: list[str]) -> dict[str, ProtocolStatus]:
    """Parse a `show protocols all [NAME]` reply into name -> ProtocolStatus. Lines it does not
    know are skipped, so a later BIRD that adds detail lines still parses."""
    found: dict[str, ProtocolStatus] = {}
    current: ProtocolStatus | None = None
    channel = limit_direction = ""
    for code, text in reply_blocks(lines):
        if code == "1002":          # the summary row starts a protocol
            row = summary_row(text)
            current = None
            if row:
                current = ProtocolStatus(name=row["name"], proto=row["proto"], state=row["state"],
                                         since=row["since"], info=row["info"])
                found[current.name] = current
            channel = limit_direction = ""
            continue
        if code != "1006" or current is None:
            continue
        stripped = text.strip()
        if stripped.startswith("Channel "):
            channel, limit_direction = stripped.split(None, 1)[1], ""
            continue
        key, colon, value = stripped.partition(":")
        if not colon:
            continue
        key, value = key.strip(), value.strip()
        if not channel:
            _protocol_detail(current, key, value)
        elif key.endswith(" limit"):
            limit_direction = key.split()[0].lower()
            if match := _LIMIT.match(value):
                limit, hit = int(match.group(1)), bool(match.group(2))
                current.limits[limit_direction] = ChannelLimit(limit, None, hit)
        elif key == "Action" and limit_direction in current.limits:
            limit = current.limits[limit_direction]
            current.limits[limit_direction] = ChannelLimit(limit.limit, value, limit.hit)
        else:
            limit_direction = ""
            _channel_detail(current, channel, key, value)
    return found


def _protocol_detail(status: ProtocolStatus, key: str, value: str) -> None:
    if key == "BGP state":
        status.bgp_state = value
    elif key == "Last error":
        status.last_error = value
    elif key == "Neighbor address":
        status.neighbor = value


def _channel_detail(status: ProtocolStatus, channel: str, key: str, value: str) -> None:
    if key == "State":
        status.channel_states[channel] = value
    elif key == "Routes":
        for number, kind in _ROUTE_COUNT.findall(value):
            status.routes[kind] = status.routes.get(kind, 0) + int(number)


# The kernel drops a BGP segment whose TCP-MD5 signature does not match before BIRD sees it: BIRD
# logs nothing and shows the session as never leaving Connect/Active. These per-namespace
# counters are the only trace (this kernel logs nothing either).
TCP_MD5_DROPS = {
    "TCPMD5Failure": "with a wrong TCP-MD5 signature",       # the peer's password differs
    "TCPMD5NotFound": "without a TCP-MD5 signature",         # the peer has no password
    "TCPMD5Unexpected": "with an unexpected TCP-MD5 signature",  # we have none for that peer
}


def tcp_md5_drops(netstat: str) -> dict[str, int]:
    """The TCP-MD5 drop counters in /proc/net/netstat text. Read the file of the router's
    namespace as /proc/<pid>/net/netstat of any process in it (its BIRD, say)."""
    lines = netstat.splitlines()
    for header, values in zip(lines, lines[1:]):
        if header.startswith("TcpExt:") and values.startswith("TcpExt:"):
            pairs = dict(zip(header.split()[1:], values.split()[1:]))
            return {name: int(pairs[name]) for name in TCP_MD5_DROPS
                    if name in pairs and pairs[name].isdigit()}
    return {}


def session_summary(status: ProtocolStatus, md5_drops: dict[str, int] | None = None) -> str:
    """One line saying how a BGP session is, for `lblab status`. `md5_drops` is the increase of
    the namespace's TCP-MD5 drop counters over a recent interval, when the caller has it."""
    hits = [f"{direction} limit {limit.limit} hit (action {limit.action})"
            for direction, limit in status.limits.items() if limit.hit]
    if status.established:
        routes = ", ".join(f"{status.routes.get(kind, 0)} {kind}" for kind in ("imported", "filtered"))
        return "Established, " + routes + ("; " + "; ".join(hits) if hits else "")
    where = status.bgp_state or status.state
    if hits:
        return f"{where}: max-prefix, {'; '.join(hits)}" + (
            f"; `birdc enable {status.name}` once the peer announces less"
            if status.state == "down" else "")
    if status.last_error:
        return f"{where}: {status.last_error}"
    dropped = [f"{count} segments {TCP_MD5_DROPS[name]}" for name, count in (md5_drops or {}).items()
               if count and name in TCP_MD5_DROPS]
    if dropped:
        return (f"{where}, no session: the kernel dropped {', '.join(dropped)} "
                "(TCP-MD5 password mismatch)")
    return f"{where}, no session: peer not answering (down, unreachable, or a TCP-MD5 password mismatch)"
