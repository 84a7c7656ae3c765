"""Where a proxy for a gateway lives: its unix socket (and the command socket beside it).

    <home>/proxy/<digest of the gateway>.sock        HTTP, for curl --unix-socket and faasauth
    <home>/proxy/<digest of the gateway>.sock.cmd    `faasauth invoke` handed over (handoff)

A unix socket's path holds at most 107 bytes: a home deeper than that gets a private
0700 directory of its own in the temporary directory instead (checked to be ours).
Only the standard library here: the thin client (proxy/thin.py) imports it.
"""

from __future__ import annotations

import hashlib
import os
import tempfile
from pathlib import Path

MAX_SOCKET_PATH = 100  # sun_path holds 108 bytes with the NUL; ".cmd" comes on top
COMMAND_SUFFIX = ".cmd"


def gateway_digest(gateway: str) -> str:
    return hashlib.sha256(gateway.encode("utf-8")).hexdigest()[:16]


def socket_path(home: Path, gateway: str) -> Path:
    name = f"{gateway_digest(gateway)}.sock"
    path = home / "proxy" / name
    if len(os.fsencode(path)) <= MAX_SOCKET_PATH:
        return path
    return Path(tempfile.gettempdir()) / f"faasauth-{os.geteuid()}" / name


def command_path(http_socket: str | os.PathLike[str]) -> str:
    return os.fspath(http_socket) + COMMAND_SUFFIX
