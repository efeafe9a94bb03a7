"""Small network probes run from inside a lab node's namespace (readiness and status checks)."""
from __future__ import annotations

import http.client
import socket

import dns.message
import dns.query
import dns.rdatatype

from lblab.lab import netns


class NamespacedHTTPConnection(http.client.HTTPConnection):
    """An HTTP connection whose socket is made inside a node's namespace."""

    def __init__(self, ns: str, host: str, port: int, timeout: float):
        super().__init__(host, port, timeout=timeout)
        self._ns = ns

    def connect(self):
        sock = netns.socket_in(self._ns)
        sock.settimeout(self.timeout)
        try:
            sock.connect((self.host, self.port))
        except OSError:
            sock.close()
            raise
        self.sock = sock


def http_request(ns: str, method: str, host: str, port: int, path: str = "/", timeout: float = 1.0,
                 body: bytes | str | None = None,
                 headers: dict[str, str] | None = None) -> tuple[int, dict[str, str], bytes]:
    """One HTTP request to host:port from inside namespace ns -> (status, headers, body)."""
    conn = NamespacedHTTPConnection(ns, host, port, timeout)
    try:
        conn.request(method, path, body=body, headers=headers or {})
        response = conn.getresponse()
        body = response.read()
        return response.status, {k.lower(): v for k, v in response.getheaders()}, body
    finally:
        conn.close()


def http_get(ns: str, host: str, port: int, path: str = "/", timeout: float = 1.0,
             headers: dict[str, str] | None = None) -> tuple[int, dict[str, str], bytes]:
    return http_request(ns, "GET", host, port, path, timeout, headers=headers)


def http_ok(ns: str, host: str, port: int, path: str, timeout: float = 1.0) -> bool:
    try:
        status, _, _ = http_get(ns, host, port, path, timeout)
        return status == 200
    except (OSError, http.client.HTTPException):
        return False


def tcp_open(ns: str, host: str, port: int, timeout: float = 1.0) -> bool:
    sock = netns.socket_in(ns)
    sock.settimeout(timeout)
    try:
        sock.connect((host, port))
        return True
    except OSError:
        return False
    finally:
        sock.close()


def dns_a(ns: str, server: str, name: str, timeout: float = 1.0) -> list[str]:
    """A records for name from server, queried from inside ns. Raises on timeout/error."""
    query = dns.message.make_query(name, dns.rdatatype.A)
    sock = netns.socket_in(ns, socket.AF_INET, socket.SOCK_DGRAM)
    sock.setblocking(False)  # dnspython waits with select; a blocking recv would ignore timeout
    try:
        response = dns.query.udp(query, server, timeout=timeout, sock=sock)
    finally:
        sock.close()
    return sorted(item.address for rrset in response.answer for item in rrset
                  if rrset.rdtype == dns.rdatatype.A)


def redis_ping(ns: str, host: str, port: int = 6379, timeout: float = 1.0) -> bool:
    sock = netns.socket_in(ns)
    sock.settimeout(timeout)
    try:
        sock.connect((host, port))
        sock.sendall(b"PING\r\n")
        return sock.recv(64).startswith(b"+PONG")
    except OSError:
        return False
    finally:
        sock.close()
