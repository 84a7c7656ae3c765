"""The thin client: `faasauth invoke` handed to a running proxy (the chg design).

With FAASAUTH_PROXY naming a proxy's socket, `faasauth invoke ...` imports only this
module (the standard library's os, socket, struct, array, signal: no click, httpx or ssl),
sends argv, the environment, the working directory and umask, and its stdin, stdout and
stderr themselves (SCM_RIGHTS) to the proxy's command socket, and waits: the proxy's warm
process forks, runs the very same `faasauth invoke` on those descriptors (its requests to
the gateway over the proxy's warm connections, faasauth/relay.py), and sends back the exit
status. A terminal stays a terminal; stdin streams; Ctrl-C (and SIGTERM, SIGHUP) is passed
on to the command. No proxy answering, or one of another version: one line on stderr and
the direct path, so a stale FAASAUTH_PROXY never breaks a call.

Start-up is the point: the C modules `_socket` and `_signal` stand in for `socket`
(which imports selectors, enum and collections: 5 ms) and `signal` (enum again).

The wire (both ways, each field a 4-byte big-endian length and its bytes):
    client -> proxy   MAGIC, version, cwd, umask, argc, argv..., envc, "K=V"...  + fds 0 1 2
    proxy -> client   b"ok" and the command's pid, or b"no" and why; later b"exit" and code
"""

from __future__ import annotations

import os
import sys

import _socket

TYPE_CHECKING = False  # not `import typing`: this module is timed
if TYPE_CHECKING:
    from typing import NoReturn

MAGIC = b"faasauth-handoff-1"


def length(size: int) -> bytes:
    return size.to_bytes(4, "big")


def pack(fields: list[bytes]) -> bytes:
    return b"".join(length(len(f)) + f for f in fields)


def unpack(data: bytes) -> list[bytes]:
    fields, at = [], 0
    while at + 4 <= len(data):
        size = int.from_bytes(data[at: at + 4], "big")
        at += 4
        fields.append(data[at: at + size])
        at += size
    return fields


def read_message(sock: _socket.socket) -> list[bytes] | None:
    """One length-prefixed message (a 4-byte total, then packed fields); None at EOF."""
    head = _read_exactly(sock, 4)
    if head is None:
        return None
    body = _read_exactly(sock, int.from_bytes(head, "big"))
    return None if body is None else unpack(body)


def send_message(sock: _socket.socket, fields: list[bytes]) -> None:
    body = pack(fields)
    sock.sendall(length(len(body)) + body)


def _read_exactly(sock: _socket.socket, size: int) -> bytes | None:
    parts, left = [], size
    while left:
        chunk = sock.recv(left)
        if not chunk:
            return None
        parts.append(chunk)
        left -= len(chunk)
    return b"".join(parts)


def wants_handoff(argv: list[str]) -> bool:
    """`invoke` (after -v/--verbose at most) and a proxy named in the environment."""
    if not os.environ.get("FAASAUTH_PROXY") or not hasattr(_socket, "AF_UNIX"):
        return False
    rest = [a for a in argv[:3] if a not in ("-v", "--verbose")]
    return bool(rest) and rest[0] == "invoke"


def _say(message: str) -> None:
    try:
        os.write(2, f"faasauth: {message}\n".encode("utf-8", "replace"))
    except OSError:
        pass


def run(argv: list[str], version: str) -> int | None:
    """The exit status of `faasauth <argv>` run by the proxy, or None: run it directly."""
    path = os.environ["FAASAUTH_PROXY"]
    sock = _socket.socket(_socket.AF_UNIX, _socket.SOCK_STREAM)
    try:
        sock.connect(path + ".cmd")
    except OSError:
        sock.close()
        _say(f"no faasauth proxy answers at {path} (FAASAUTH_PROXY); invoking directly")
        return None
    umask = os.umask(0o22)
    os.umask(umask)
    fields = [MAGIC, version.encode(), os.fsencode(os.getcwd()), str(umask).encode(),
              str(len(argv)).encode(), *(os.fsencode(a) for a in argv),
              *(k + b"=" + v for k, v in os.environb.items())]
    body = pack(fields)
    fds = b"".join(fd.to_bytes(4, sys.byteorder) for fd in (0, 1, 2))  # C ints
    try:
        sock.sendmsg([length(len(body)), body],
                     [(_socket.SOL_SOCKET, _socket.SCM_RIGHTS, fds)])
        reply = read_message(sock)
    except OSError:
        reply = None
    if not reply or reply[0] != b"ok":
        why = reply[1].decode("utf-8", "replace") if reply and len(reply) > 1 else \
            "it closed the connection"
        sock.close()
        _say(f"the faasauth proxy at {path} cannot run this ({why}); invoking directly")
        return None
    pid = int(reply[1])
    import _signal

    def forward(signum: int, _frame: object) -> None:
        try:
            os.kill(pid, signum)
        except OSError:
            pass

    for signum in (_signal.SIGINT, _signal.SIGTERM, _signal.SIGHUP):
        _signal.signal(signum, forward)
    while True:
        try:
            done = read_message(sock)
            break
        except InterruptedError:
            continue
        except OSError:
            done = None
            break
    if not done or done[0] != b"exit":
        _say("the faasauth proxy ended the call without an exit status (was it stopped?)")
        return 5
    return int(done[1])


def exit_now(code: int) -> NoReturn:
    """End the thin client with the command's exit status, without the interpreter's
    finalization (4 ms here, a sixth of a warm call through the proxy): there is nothing
    to finalize, as it writes with os.write only and registers no atexit handler."""
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except (OSError, ValueError):
            pass
    os._exit(code)
