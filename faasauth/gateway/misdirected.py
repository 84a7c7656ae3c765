"""Answers that say the gateway URL (-g) points at the wrong place.

    a redirect to another origin   httpx drops the Authorization header on the way (as Go's
                                   client does): a challenge from there can never be
                                   answered, so no token is asked for and the message names
                                   the redirect's target, the URL to pass as -g instead
    a 404 without the gateway's    the OpenFaaS gateway tags every /function/ answer
    headers                        (X-Call-Id, X-Start-Time, X-Served-By: its call-id
                                   middleware), its own 404 and a function's alike; a 404
                                   with none of them is some other server's (the IdP's port)
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from faasauth.errors import FunctionFailed, UsageFailure

if TYPE_CHECKING:
    import httpx

    from faasauth.config.settings import Settings

GATEWAY_HEADERS = ("x-call-id", "x-start-time", "x-served-by")
FUNCTION_PATHS = ("/function/", "/async-function/")


def _port(url: httpx.URL) -> int | None:
    return url.port if url.port is not None else {"http": 80, "https": 443}.get(url.scheme)


def keeps_token(url: httpx.URL, location: httpx.URL) -> bool:
    """Whether httpx carries Authorization from `url` on to the redirect `location`: the
    same origin, or an http -> https upgrade of the same host on the default ports."""
    if url.host != location.host:
        return False
    if url.scheme == location.scheme:
        return _port(url) == _port(location)
    return (url.scheme, _port(url), location.scheme, _port(location)) == (
        "http", 80, "https", 443)


def token_dropped_at(response: httpx.Response) -> httpx.URL | None:
    """Where `response` came from when a redirect on its way left the origin a token would
    have been carried to; None when there was no such redirect."""
    urls = [hop.request.url for hop in response.history] + [response.request.url]
    for before, after in zip(urls, urls[1:]):
        if not keeps_token(before, after):
            return response.request.url
    return None


def gateway_of(url: httpx.URL) -> str:
    """The gateway URL that serves `url`: what comes before /function/ (or its origin)."""
    path = url.path
    cut = min((path.find(p) for p in FUNCTION_PATHS if p in path), default=-1)
    base = url.copy_with(path=path[:cut] if cut >= 0 else "/", query=None, fragment=None)
    return str(base).rstrip("/")


def redirected_away(target: str, settings: Settings, final: httpx.URL) -> UsageFailure:
    """A challenge that came from another origin than the gateway's: no token was sent."""
    suggested = gateway_of(final)
    shown = str(final.copy_with(query=None, fragment=None))
    upgrade = settings.gateway.startswith("http://") and final.scheme == "https"
    return UsageFailure(
        f"{target}: the gateway {settings.gateway} redirected the call to {shown}, another "
        "origin, which asks for a function token; faasauth sends tokens only to the "
        "gateway's own origin, so none was sent",
        hint=(f"the gateway redirects http to https: pass -g {suggested}" if upgrade
              else f"if {suggested} is the gateway, pass -g {suggested}"),
    )


def from_a_gateway(response: httpx.Response) -> bool:
    return any(name in response.headers for name in GATEWAY_HEADERS)


def not_a_gateway(target: str, settings: Settings, status: str, reason: str) -> FunctionFailed:
    """A 404 for /function/NAME without any header the OpenFaaS gateway puts on it."""
    source = settings.gateway_source
    came = f" (it came from {source})" if source else ""
    return FunctionFailed(
        f"{target}: {settings.gateway} answered {status}"
        + (f" ({reason})" if reason else "")
        + " without the headers an OpenFaaS gateway sends: -g may not be an OpenFaaS gateway",
        hint=f"check the gateway URL{came}: the gateway's port, not the identity provider's "
             "or another server's",
    )
