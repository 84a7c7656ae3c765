"""The gateway's function list (`GET /system/functions`), for shell completion only.

Standard library only: a TAB must answer within about a second, and importing httpx
alone takes a good part of that. It never logs in, exchanges or renews anything: it sends
the credential faas-cli keeps for the gateway (`faas-cli pro auth`, `faasauth auth
--faas-cli`, `faas-cli login`) when there is one, and only over https or to loopback;
an OpenFaaS gateway without authentication answers without one. Redirects are not
followed (a credential must not travel to another host), loopback is never asked through
a proxy (faasauth.config.proxies), and any failure is simply "no list": completion falls
back to what is known locally.

One deadline bounds the whole listing (name lookup, connecting, TLS, headers, body): the
request runs in a daemon thread that is abandoned when it is not done in time, so a
gateway dripping its answer cannot hold a TAB; a TAB's process ends right after.
"""

from __future__ import annotations

import http.client
import json
import re
import urllib.request
from typing import Any
from urllib.parse import quote, urlsplit

MAX_BYTES = 4 * 1024 * 1024  # a list of a few thousand functions
_NAME = re.compile(r"^[a-z0-9]([-a-z0-9.]{0,251}[a-z0-9])?$")  # a Kubernetes object name


def list_functions(
    gateway: str,
    namespace: str | None,
    *,
    authorization: str | None,
    timeout: float,
    verify: bool | str = True,
) -> list[str] | None:
    """The names of the functions in `namespace` (the gateway's default when None), or None
    when the gateway cannot be asked within `timeout` seconds in all, refuses, or answers
    something else."""
    import threading

    outcome: list[list[str] | None] = []

    def work() -> None:
        try:
            outcome.append(_ask(gateway, namespace, authorization, timeout, verify))
        except Exception:  # whatever the answer did (a RecursionError in JSON too): no list
            outcome.append(None)

    worker = threading.Thread(target=work, name="faasauth-list", daemon=True)
    worker.start()
    worker.join(timeout)
    return outcome[0] if outcome else None


def _ask(gateway: str, namespace: str | None, authorization: str | None, timeout: float,
         verify: bool | str) -> list[str] | None:
    import time

    from faasauth._version import __version__
    from faasauth.config.proxies import is_loopback, proxy_for

    deadline = time.monotonic() + timeout
    url = f"{gateway}/system/functions"
    if namespace:
        url += f"?namespace={quote(namespace, safe='')}"
    parts = urlsplit(url)
    headers = {"Accept": "application/json", "User-Agent": f"faasauth/{__version__}"}
    if authorization and (parts.scheme == "https" or is_loopback(parts.hostname or "")):
        headers["Authorization"] = authorization
    proxy = proxy_for(url)  # None for loopback, whatever NO_PROXY says
    try:
        handlers: list[urllib.request.BaseHandler] = [
            _NoRedirects(), urllib.request.ProxyHandler({parts.scheme: proxy} if proxy else {})]
        if parts.scheme == "https":  # no TLS set-up (CA loading) for an http:// gateway
            handlers.append(_https_handler(verify))
        opener = urllib.request.build_opener(*handlers)
        with opener.open(urllib.request.Request(url, headers=headers), timeout=timeout) as answer:
            if answer.status != 200:
                return None
            body = bytearray()
            while len(body) <= MAX_BYTES and time.monotonic() < deadline:
                chunk = answer.read1(64 * 1024)
                if not chunk:
                    break
                body += chunk
            else:
                return None  # too large, or too slow (the caller has given up by now)
        listed = json.loads(body)
    # URLError, HTTPError, timeouts, a bad CA file, protocol errors, JSON and decoding errors
    except (OSError, ValueError, http.client.HTTPException):
        return None
    return _names(listed)


def _names(listed: Any) -> list[str] | None:
    if not isinstance(listed, list):
        return None
    names = [item.get("name") for item in listed if isinstance(item, dict)]
    return sorted({n for n in names if isinstance(n, str) and _NAME.match(n)})


def _https_handler(verify: bool | str) -> urllib.request.HTTPSHandler:
    import ssl

    context = ssl.create_default_context(cafile=verify if isinstance(verify, str) else None)
    if verify is False:
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
    return urllib.request.HTTPSHandler(context=context)


class _NoRedirects(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args: Any, **kwargs: Any) -> None:
        return None  # the 3xx becomes an HTTPError: no list
