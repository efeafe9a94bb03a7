"""Who may write: the bearer token (API), or a session cookie from logging in with it (UI),
with a CSRF token in every form.

The session cookie is ``nonce.user.mac`` with mac = HMAC(token, nonce.user): nothing is kept
on the server, and a new token (a new lab) ends every session. The CSRF token of a session is
HMAC(token, "csrf" + nonce): a page of another site cannot know it, and the cookie is
SameSite=Strict besides.
"""
from __future__ import annotations

import hashlib
import hmac
import re
import secrets

from aiohttp import web

COOKIE = "lblab_console"
_USER = re.compile(r"^[A-Za-z0-9_.@-]{1,40}$")


class Auth:
    def __init__(self, token: str) -> None:
        self._token = token.encode()

    def _mac(self, text: str) -> str:
        return hmac.new(self._token, text.encode(), hashlib.sha256).hexdigest()

    def token_ok(self, token: str) -> bool:
        return hmac.compare_digest(token.encode(), self._token)

    @staticmethod
    def valid_user(user: str) -> bool:
        return bool(_USER.match(user))

    def new_session(self, user: str) -> str:
        nonce = secrets.token_hex(16)
        return f"{nonce}.{user}.{self._mac(f'{nonce}.{user}')}"

    def session_user(self, request: web.Request) -> str | None:
        """The logged-in user of a request's session cookie, or None."""
        value = request.cookies.get(COOKIE, "")
        parts = value.split(".")
        if len(parts) != 3:
            return None
        nonce, user, mac = parts
        if not hmac.compare_digest(mac, self._mac(f"{nonce}.{user}")):
            return None
        return user

    def csrf_token(self, request: web.Request) -> str:
        nonce = request.cookies.get(COOKIE, "").split(".")[0]
        return self._mac(f"csrf{nonce}")

    def csrf_ok(self, request: web.Request, given: str) -> bool:
        return (self.session_user(request) is not None
                and hmac.compare_digest(given.encode(), self.csrf_token(request).encode()))

    def bearer_user(self, request: web.Request) -> str | None:
        """'api' (or X-Console-User) for a request carrying the right bearer token."""
        header = request.headers.get("Authorization", "")
        scheme, _, token = header.partition(" ")
        if scheme.lower() != "bearer" or not self.token_ok(token.strip()):
            return None
        user = request.headers.get("X-Console-User", "api")
        return user if self.valid_user(user) else "api"
