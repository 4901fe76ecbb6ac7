"""`lmctui serve`'s web server: textual-serve's, letting in only the person who started it.

A cluster's login node is shared, and every user on it reaches 127.0.0.1: whoever finds
the port would drive the app (queue, cancel, export) as the person who started it. So,
as Jupyter does, the server makes a random token at start and prints it in its URL;
every request (the page, its static files, the websocket that runs the app) must carry
it, in the query string or in the cookie the first visit sets, or gets 403 and no app.
Tokens are compared in constant time. The page is textual-serve's, except that it loads
its font from the server instead of an outside host.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from pathlib import Path

from aiohttp import web
from textual_serve.server import Server

TEMPLATES = Path(__file__).with_name("web")


class TokenServer(Server):
    """textual-serve's `Server` behind a token check (an aiohttp middleware)."""

    def __init__(self, command: str, host: str, port: int, public_url: str, token: str | None = None):
        super().__init__(command, host=host, port=port, title="lmctui", public_url=public_url,
                         templates_path=TEMPLATES)
        self.token = token or secrets.token_urlsafe(32)
        # One cookie name per server: cookies ignore ports, and two servers on one host must not clash.
        self.cookie = "lmctui-" + hashlib.sha256(self.token.encode()).hexdigest()[:16]

    @property
    def url(self) -> str:
        """The address to open: the page, with the token."""
        return f"{self.public_url}/?token={self.token}"

    def allowed(self, request: web.Request) -> tuple[bool, bool]:
        """(whether `request` carries the token, whether it came in the query string)."""
        given = request.query.get("token")
        if given is not None:
            return hmac.compare_digest(given.encode(), self.token.encode()), True
        cookie = request.cookies.get(self.cookie)
        return cookie is not None and hmac.compare_digest(cookie.encode(), self.token.encode()), False

    @web.middleware
    async def require_token(self, request: web.Request, handler):
        ok, in_query = self.allowed(request)
        if not ok:
            return web.Response(status=403, text="403: this lmctui needs the token printed by `lmctui serve`\n")
        response = await handler(request)
        if in_query and isinstance(response, web.Response):
            response.set_cookie(self.cookie, self.token, httponly=True, samesite="Strict", path="/")
        return response

    async def _make_app(self) -> web.Application:
        app = await super()._make_app()
        app.middlewares.append(self.require_token)
        return app

    async def on_startup(self, app: web.Application) -> None:
        """Quiet: `lmctui serve` has said where to go, token included."""

    def initialize_logging(self) -> None:
        """No request log: its lines would carry the token to whatever collects this terminal's output."""
