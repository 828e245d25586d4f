"""Who may talk to the server. Three checks, before any route runs:

- the `Host` header names this server (localhost names, the bound address, `allowed_hosts`),
  so a page whose DNS name is rebound to this machine cannot read the library;
- a request that changes or uploads something (anything but GET/HEAD/OPTIONS) that a browser
  says comes from another origin is refused, so another site cannot post a form here;
- when `access_token` is set, every request carries it: `Authorization: Bearer TOKEN`, or the
  cookie a browser gets by opening any page with `?token=TOKEN` once."""

from __future__ import annotations

import hmac
import ipaddress
from urllib.parse import urlencode, urlsplit

from flask import Flask, Response, redirect, request

from vidseek.core.settings import Settings
from vidseek.web.errors import error_response

LOOPBACK_NAMES = frozenset({"localhost", "127.0.0.1", "::1"})
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
TOKEN_COOKIE = "vidseek_token"
TOKEN_PARAM = "token"


def is_loopback(address: str) -> bool:
    """Whether a bind address only accepts connections from this machine."""
    try:
        return ipaddress.ip_address(address.strip("[]")).is_loopback
    except ValueError:
        return address.lower() == "localhost"


def host_name(host: str) -> str:
    """The name in a Host header or address: no port, no IPv6 brackets, lower case."""
    host = host.strip().lower()
    if host.startswith("["):
        return host[1:].partition("]")[0]
    if host.count(":") == 1:  # name:port (a bare IPv6 address has several colons)
        host = host.partition(":")[0]
    return host.rstrip(".")


def allowed_host_names(settings: Settings) -> frozenset[str] | None:
    """The Host names this server answers to; None when any name is allowed (`*`)."""
    extra = {host_name(n) for n in settings.allowed_hosts.split(",") if n.strip()}
    if "*" in extra:
        return None
    return LOOPBACK_NAMES | {host_name(settings.host)} | extra


def token_matches(presented: str | None, token: str) -> bool:
    """Whether `presented` is the access token (compared in constant time)."""
    return presented is not None and hmac.compare_digest(presented.encode(), token.encode())


def refusal(method: str, host: str, origin: str | None, fetch_site: str | None,
            allowed: frozenset[str] | None) -> tuple[int, str] | None:
    """Why a request must be refused by its Host and origin, as (status, message), or None."""
    if allowed is not None and host_name(host) not in allowed:
        return 400, (f"this server does not answer to the host name {host_name(host)!r}; add it "
                     "to the allowed_hosts setting (VIDSEEK_ALLOWED_HOSTS) to reach it by that name")
    if method in SAFE_METHODS:
        return None
    cross_site = fetch_site is not None and fetch_site not in ("same-origin", "none")
    if cross_site or (origin is not None and urlsplit(origin).netloc.lower() != host.lower()):
        return 403, f"{method} from another site ({origin or fetch_site}) is refused"
    return None


def install_guard(app: Flask, settings: Settings) -> None:
    """Check Host, origin and (when set) the access token before every request of `app`."""
    allowed = allowed_host_names(settings)
    token = settings.access_token

    @app.before_request
    def _guard() -> Response | tuple | None:
        refused = refusal(request.method, request.headers.get("Host", ""),
                          request.headers.get("Origin"), request.headers.get("Sec-Fetch-Site"),
                          allowed)
        if refused:
            return error_response(*refused)
        if not token:
            return None
        scheme, _, bearer = request.headers.get("Authorization", "").partition(" ")
        if token_matches(bearer if scheme.lower() == "bearer" else None, token) or \
                token_matches(request.cookies.get(TOKEN_COOKIE), token):
            return None
        if token_matches(request.args.get(TOKEN_PARAM), token):
            return _remember_token(token) if request.method == "GET" else None
        body, status = error_response(401, "this server needs its access token: open "
                                           f"/?{TOKEN_PARAM}=TOKEN once in the browser, or send "
                                           "the header `Authorization: Bearer TOKEN`")
        body.headers["WWW-Authenticate"] = 'Bearer realm="vidseek"'
        return body, status


def _remember_token(token: str) -> Response:
    """Set the token cookie and send the browser on to the same address without the token, so
    it stays out of the address bar, the history and any link copied from there."""
    rest = [(k, v) for k, v in request.args.items(multi=True) if k != TOKEN_PARAM]
    response = redirect(request.path + (f"?{urlencode(rest)}" if rest else ""), code=303)
    response.set_cookie(TOKEN_COOKIE, token, httponly=True, samesite="Lax",
                        secure=request.is_secure)
    return response
