"""The relay: a `faasauth invoke` that a proxy runs (faasauth/proxy/handoff.py) sends its
requests for the proxy's gateway over the proxy's unix socket, which sends them on over
its warm connections exactly as they are (the proxy adds no token: invoke decided).

The proxy sets `_FAASAUTH_RELAY` (its socket) and `_FAASAUTH_RELAY_GATEWAY` (its gateway) in
the environment of the command it runs; Runtime mounts a RelayTransport for that origin
only when the command's own gateway is the same. Every other origin (the IdP, another
gateway) goes direct, as without a proxy.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Mapping

if TYPE_CHECKING:
    import httpx

RELAY_SOCKET = "_FAASAUTH_RELAY"
RELAY_GATEWAY = "_FAASAUTH_RELAY_GATEWAY"
RELAY_HEADER = "X-Faasauth-Relay"


def relay_mounts(env: Mapping[str, str], gateway: str) -> dict[str, httpx.BaseTransport]:
    """httpx mounts sending `gateway`'s origin through the proxy, when one runs this."""
    path = env.get(RELAY_SOCKET)
    if not path or env.get(RELAY_GATEWAY) != gateway:
        return {}
    from urllib.parse import urlsplit

    parts = urlsplit(gateway)
    return {f"{parts.scheme}://{parts.netloc}": _transport(path)}


def _transport(path: str) -> httpx.BaseTransport:
    import httpx

    class RelayTransport(httpx.BaseTransport):
        def __init__(self) -> None:
            # Plain http over the socket: no certificates to load.
            self._uds = httpx.HTTPTransport(uds=path, verify=False)

        def handle_request(self, request: httpx.Request) -> httpx.Response:
            headers = request.headers.copy()
            headers[RELAY_HEADER] = "1"
            url = httpx.URL("http://localhost" + request.url.raw_path.decode("ascii"))
            relayed = httpx.Request(request.method, url, headers=headers,
                                    stream=request.stream, extensions=request.extensions)
            return self._uds.handle_request(relayed)

        def close(self) -> None:
            self._uds.close()

    return RelayTransport()
