"""What keeps web pages and other programs from driving a server that runs commands: the checks Jupyter makes.

Every request, REST and Socket.IO alike (both go through this aiohttp middleware), is checked before any handler:

* ``Host``: on a loopback bind only loopback names are accepted (``localhost``, ``127.0.0.1``, ``[::1]``, any
  loopback address), on any port, so ssh tunnels and local proxies keep working, plus the names in
  ``allowed_hosts``. A page that rebinds its own DNS name to 127.0.0.1 still sends its own name: refused.
* ``Origin``: a browser sends it with every cross-site request, websockets included (to which browsers apply no
  CORS at all). Refused unless listed in ``allowed_origins``; programs (ohtui, the JS client under Node, curl) send
  none. Listed origins get CORS answers, without credentials: the key travels in a header, never in a cookie.
* ``Content-Type``: a POST to the API must be JSON. A browser sends ``text/plain`` without asking first (a "simple"
  request); JSON it may only send after a preflight, which an unlisted origin does not pass.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Awaitable, Callable, Iterable

from aiohttp import hdrs, web

from ohtui.server.auth import KEY_HEADER, is_loopback

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]

_LOOPBACK_NAMES = frozenset({"localhost"})
_JSON_TYPES = frozenset({"application/json"})
_CORS_HEADERS = ", ".join((KEY_HEADER, "Content-Type"))
_CORS_METHODS = "GET, POST, DELETE, OPTIONS"


def host_name(host_header: str) -> str:
    """The name part of a ``Host`` header (``[::1]:3000`` → ``::1``, ``Example.org.:80`` → ``example.org``)."""
    host = host_header.strip().lower()
    if host.startswith("["):
        return host[1 : host.find("]")] if "]" in host else host[1:]
    if host.count(":") == 1:
        host = host.split(":", 1)[0]
    return host.rstrip(".")


def _is_loopback_name(name: str) -> bool:
    if name in _LOOPBACK_NAMES:
        return True
    try:
        return ipaddress.ip_address(name).is_loopback
    except ValueError:
        return False


class RequestGuard:
    """The ``Host``, ``Origin`` and ``Content-Type`` rules above, for one server."""

    def __init__(self, *, bind_host: str, allowed_origins: Iterable[str] = (), allowed_hosts: Iterable[str] = ()):
        self._check_hosts = is_loopback(bind_host) or bool(tuple(allowed_hosts))
        self._allowed_hosts = frozenset(host_name(host) for host in allowed_hosts)
        self._allowed_origins = frozenset(origin.rstrip("/").lower() for origin in allowed_origins)
        self._any_origin = "*" in self._allowed_origins

    def host_allowed(self, host_header: str | None) -> bool:
        if not self._check_hosts:
            return True
        if not host_header:
            return False
        name = host_name(host_header)
        return _is_loopback_name(name) or name in self._allowed_hosts

    def origin_allowed(self, origin: str | None) -> bool:
        if origin is None:
            return True
        return self._any_origin or origin.rstrip("/").lower() in self._allowed_origins

    @web.middleware
    async def middleware(self, request: web.Request, handler: Handler) -> web.StreamResponse:
        host = request.headers.get(hdrs.HOST)
        if not self.host_allowed(host):
            return json_error(
                403,
                "host_not_allowed",
                f"Host {host!r} is not a name of this server; add it to the allowed_hosts setting if a proxy uses it",
            )
        origin = request.headers.get(hdrs.ORIGIN)
        if not self.origin_allowed(origin):
            return json_error(
                403,
                "origin_not_allowed",
                f"requests from the web page at {origin!r} are refused; add it to the allowed_origins setting to "
                "allow it",
            )
        if origin is not None and request.method == "OPTIONS" and request.path.startswith("/api/"):
            return self._with_cors(web.Response(status=204), origin)
        if request.method == "POST" and request.path.startswith("/api/") and request.content_type not in _JSON_TYPES:
            return json_error(
                415,
                "unsupported_media_type",
                f"the body must be JSON (Content-Type: application/json), got "
                f"{request.headers.get(hdrs.CONTENT_TYPE, 'none')!r}",
            )
        response = await handler(request)
        if origin is not None and request.path.startswith("/api/"):
            self._with_cors(response, origin)
        return response

    @staticmethod
    def _with_cors(response: web.StreamResponse, origin: str) -> web.StreamResponse:
        response.headers[hdrs.ACCESS_CONTROL_ALLOW_ORIGIN] = origin
        response.headers[hdrs.ACCESS_CONTROL_ALLOW_HEADERS] = _CORS_HEADERS
        response.headers[hdrs.ACCESS_CONTROL_ALLOW_METHODS] = _CORS_METHODS
        response.headers[hdrs.VARY] = "Origin"
        return response


def json_error(status: int, code: str, message: str) -> web.Response:
    """Every refusal of the HTTP side: JSON with a code and a sentence, never an HTML page or a traceback."""
    return web.json_response({"error": code, "message": message}, status=status)
