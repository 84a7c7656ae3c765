"""Who may use the proxy: the rules a request passes before anything is sent on.

    over TCP          the peer is on loopback; `Host` names the proxy itself (127.0.0.1,
                      localhost or [::1] with its port): a DNS-rebound name is refused
    from a browser    `Origin` (when not the proxy's own) must be one --allow-origin named;
                      `Sec-Fetch-Site: cross-site|same-site` without an allowed Origin is
                      refused: a web page cannot invoke functions as the user
    over the socket   the peer's uid (SO_PEERCRED) is ours; the socket is 0600 besides
    over TCP, too     the peer's uid is ours, where the system tells it (Linux: the owner of
                      the caller's end in /proc/net/tcp, as identd reads it): another local
                      user cannot use the port either

Pure functions of what the request says: tests/proxy/test_guard.py pins each rule.
"""

from __future__ import annotations

import os
import socket
import struct
from collections.abc import Collection, Mapping

LOOPBACK_NAMES = ("127.0.0.1", "localhost", "[::1]")


class Refusal(Exception):
    """A request the proxy will not forward: `status` and a one-line `reason`."""

    def __init__(self, status: int, reason: str) -> None:
        super().__init__(reason)
        self.status = status
        self.reason = reason


def check_host(host: str | None, port: int) -> None:
    """`Host` must name the proxy on loopback, with its port (80 may be left out)."""
    if not host:
        raise Refusal(400, "the request has no Host header")
    value = host.strip().lower()
    for name in LOOPBACK_NAMES:
        if value == f"{name}:{port}" or (port == 80 and value == name):
            return
    raise Refusal(
        403,
        f"Host {host!r} is not this proxy (127.0.0.1:{port}): refused, as a DNS-rebound "
        "name would be",
    )


def own_origins(port: int) -> frozenset[str]:
    return frozenset(f"http://{name}:{port}" for name in LOOPBACK_NAMES)


def check_browser(
    headers: Mapping[str, str], allowed: Collection[str], own: Collection[str]
) -> str | None:
    """Refuse a cross-site browser request; return the Origin to answer with CORS headers
    (an allowed one), or None."""
    origin = headers.get("origin")
    site = (headers.get("sec-fetch-site") or "").strip().lower()
    if origin is not None:
        normal = origin.strip().rstrip("/").lower()
        if normal in allowed:
            return normal
        if normal in own:
            return None
        raise Refusal(
            403,
            f"a web page at {origin!r} may not call functions through this proxy "
            "(start it with --allow-origin ORIGIN to allow one)",
        )
    if site in ("cross-site", "same-site"):
        raise Refusal(
            403,
            "a request from another site may not call functions through this proxy "
            "(start it with --allow-origin ORIGIN to allow one)",
        )
    return None


def normal_origin(value: str) -> str:
    """An --allow-origin value as browsers send Origin: scheme://host[:port], lower case."""
    from urllib.parse import urlsplit

    text = value.strip().rstrip("/").lower()
    parts = urlsplit(text)
    if parts.scheme not in ("http", "https") or not parts.hostname or parts.path \
            or parts.query or parts.fragment or "@" in parts.netloc:
        raise ValueError(f"{value!r} is not an origin (scheme://host[:port], no path)")
    return text


def peer_uid(sock: socket.socket) -> int | None:
    """The uid of a unix-socket peer, where the system tells it (Linux: SO_PEERCRED)."""
    option = getattr(socket, "SO_PEERCRED", None)
    if option is None:
        return None
    try:
        data = sock.getsockopt(socket.SOL_SOCKET, option, struct.calcsize("3i"))
    except OSError:
        return None
    _pid, uid, _gid = struct.unpack("3i", data)
    return int(uid)


def check_peer(sock: socket.socket) -> None:
    uid = peer_uid(sock)
    if uid is not None and uid != os.geteuid():
        raise Refusal(403, f"the proxy serves its own user only (the caller is uid {uid})")


PROC_NET_TCP = "/proc/net/tcp"


def _proc_address(host: str, port: int) -> str:
    """An IPv4 address and port as /proc/net/tcp writes them (the address in host order)."""
    (packed,) = struct.unpack("=I", socket.inet_aton(host))
    return f"{packed:08X}:{port:04X}"


def tcp_peer_uid(sock: socket.socket, table: str = PROC_NET_TCP) -> int | None:
    """The uid owning the other end of a loopback TCP connection: the line of /proc/net/tcp
    whose local address is our peer and whose remote address is us. None where there is no
    such table (not Linux); -1 when the table has no such line (the caller is gone)."""
    try:
        peer_host, peer_port = sock.getpeername()[:2]
        own_host, own_port = sock.getsockname()[:2]
        local, remote = _proc_address(peer_host, peer_port), _proc_address(own_host, own_port)
    except (OSError, ValueError):
        return None
    try:
        with open(table, encoding="ascii", errors="replace") as lines:
            for line in lines:
                fields = line.split()
                if len(fields) > 7 and fields[1] == local and fields[2] == remote:
                    return int(fields[7]) if fields[7].isdigit() else -1
    except OSError:
        return None
    return -1


def check_tcp_peer(sock: socket.socket, allowed: frozenset[int] | None = frozenset()) -> None:
    """Our own uid, or one --allow-uid named (None: --allow-uid any, as a pod's sidecar)."""
    if allowed is None:
        return
    uid = tcp_peer_uid(sock)
    if uid is not None and uid != os.geteuid() and uid not in allowed:
        raise Refusal(403, "the proxy serves its own user only (the caller is "
                      + (f"uid {uid}; start it with --allow-uid {uid} to serve that user too)"
                         if uid >= 0 else "not found among this machine's connections)"))
