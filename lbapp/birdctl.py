"""Minimal client of BIRD's control socket: the line protocol birdc speaks."""
from __future__ import annotations

import ipaddress
import socket


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
        """`show protocols` as name -> {proto, table, state, since, info}."""
        found = {}
        for code, text in reply_blocks(self.command("show protocols")):
            if code != "1002":
                continue
            fields = text.split(None, 5)
            if len(fields) >= 4:
                found[fields[0]] = {
                    "proto": fields[1], "table": fields[2], "state": fields[3],
                    "since": fields[4] if len(fields) > 4 else "",
                    "info": fields[5].strip() if len(fields) > 5 else "",
                }
        return found

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
