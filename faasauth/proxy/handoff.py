"""Running `faasauth invoke` handed over by the thin client (proxy/thin.py).

At start, before the proxy starts any thread, a warm process is forked (it has click,
httpx, ssl, yaml and every module invoke uses already imported): it holds the command
socket (`<proxy socket>.cmd`, 0600, peers of another uid refused) and a child per call. That child takes the caller's stdin, stdout and stderr, working directory,
umask, environment and argv, runs the same `faasauth.cli.app.main` a direct call runs
(its gateway requests over the proxy's warm connections: faasauth/relay.py), and sends
the exit status back. It runs in a session of its own: a Ctrl-C at the proxy's terminal
is not the caller's; the caller's own Ctrl-C reaches it from the thin client.

One child always waits in accept() already forked, so a call pays no fork: it tells the
warm process, which forks the next. The warm process ends when the proxy does (the pipe
from it closes), and its waiting child with it.
"""

from __future__ import annotations

import os
import select
import signal
import socket
import sys
from dataclasses import dataclass
from typing import Callable, Sequence

Command = Callable[[], None]  # runs the CLI on sys.argv and exits (faasauth.cli.app.main)

from faasauth._version import __version__
from faasauth.proxy.guard import peer_uid
from faasauth.proxy.paths import command_path
from faasauth.proxy.thin import MAGIC, send_message, unpack

PRELOAD = (
    "faasauth.flows.invoke", "faasauth.flows.exchange",
    "faasauth.flows.subject", "faasauth.flows.login", "faasauth.gateway.call",
    "faasauth.gateway.function_auth", "faasauth.gateway.body", "faasauth.gateway.challenge",
    "faasauth.gateway.exchange", "faasauth.store.remembered", "faasauth.store.cache",
    "faasauth.store.choice", "faasauth.store.backends", "faasauth.config.settings",
    "faasauth.config.names",
    "faasauth.relay", "faasauth.http", "faasauth.tokens.jwt", "faasauth.console", "yaml",
    "httpx", "httpcore._sync.http11", "h11", "jwt",
)
MAX_MESSAGE = 4 * 1024 * 1024


@dataclass
class Handoff:
    pid: int
    path: str
    _pipe: int

    def stop(self) -> None:
        try:
            os.close(self._pipe)  # the warm process sees EOF and exits
        except OSError:
            pass
        try:
            os.waitpid(self.pid, 0)
        except ChildProcessError:
            pass
        try:
            os.unlink(self.path)
        except OSError:
            pass


def start_handoff(http_socket: str, gateway: str, command: Command,
                  preload: Sequence[str] = (), close: tuple[int, ...] = ()) -> Handoff | None:
    """Bind the command socket and fork the warm process, which runs `command` for each
    call (the CLI, passed in by it) with `preload` and PRELOAD imported, and closes
    `close` (the --background exports pipe must see its end); None without fork."""
    if not hasattr(os, "fork") or not hasattr(socket, "AF_UNIX"):
        return None
    import importlib

    for name in (*PRELOAD, *preload):
        try:
            importlib.import_module(name)
        except ImportError:
            pass
    path = command_path(http_socket)
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    old = os.umask(0o177)
    try:
        listener.bind(path)
    finally:
        os.umask(old)
    listener.listen(128)
    read_end, write_end = os.pipe()
    sys.stdout.flush()
    sys.stderr.flush()
    pid = os.fork()
    if pid == 0:
        code = 0
        try:
            os.close(write_end)
            for fd in close:
                os.close(fd)
            _warm(listener, read_end, http_socket, gateway, command)
        except BaseException:
            code = 1
        finally:
            os._exit(code)
    os.close(read_end)
    listener.close()
    return Handoff(pid, path, write_end)


def _warm(listener: socket.socket, parent: int, http_socket: str, gateway: str,
          command: Command) -> None:
    """Keep one spare child waiting in accept(): the fork is off the caller's path. Each
    child takes one call, tells this process (which forks the next spare), and runs it."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the proxy's terminal; the pipe ends us
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    signal.signal(signal.SIGCHLD, signal.SIG_IGN)  # children reaped by the system
    import gc

    gc.collect()
    gc.freeze()  # the warm objects out of the collector's sight: fewer copy-on-write faults
    taken_r, taken_w = os.pipe()
    while True:
        spare = os.fork()
        if spare == 0:
            code = 0
            try:
                os.close(taken_r)
                code = _spare(listener, taken_w, http_socket, gateway, command)
            finally:
                os._exit(code)
        ready, _, _ = select.select([taken_r, parent], [], [])
        if parent in ready:
            try:
                os.kill(spare, signal.SIGTERM)  # still waiting in accept(): no call lost
            except OSError:
                pass
            return
        os.read(taken_r, 1)


def _spare(listener: socket.socket, taken: int, http_socket: str, gateway: str,
           command: Command) -> int:
    import gc

    gc.disable()  # one short call: a collection would only copy pages
    while True:
        try:
            conn, _ = listener.accept()
            break
        except InterruptedError:
            continue
    os.write(taken, b"1")
    os.close(taken)
    listener.close()
    try:
        return _one(conn, http_socket, gateway, command)
    except BaseException:  # said on the caller's stderr when it got that far; never a hang
        import traceback

        traceback.print_exc()
        return 5
    finally:
        conn.close()


def _one(conn: socket.socket, http_socket: str, gateway: str, command: Command) -> int:
    uid = peer_uid(conn)
    if uid is not None and uid != os.geteuid():
        send_message(conn, [b"no", b"the proxy serves its own user only"])
        return 2
    conn.settimeout(5)
    head, fds = _receive(conn)
    fields = unpack(head)
    if len(fields) < 5 or fields[0] != MAGIC or len(fds) != 3:
        for fd in fds:
            os.close(fd)
        send_message(conn, [b"no", b"not a faasauth handoff"])
        return 2
    argc = int(fields[4]) if fields[4].isdigit() else -1
    words = [a for a in fields[5: 5 + argc] if a not in (b"-v", b"--verbose")][:1] \
        if argc >= 0 else []
    if words != [b"invoke"]:  # what the thin client hands over, and nothing else
        for fd in fds:
            os.close(fd)
        send_message(conn, [b"no", b"it runs only faasauth invoke"])
        return 2
    if fields[1] != __version__.encode():
        for fd in fds:
            os.close(fd)
        send_message(conn, [b"no", b"it runs faasauth " + __version__.encode()])
        return 2
    return _run(conn, fields, fds, http_socket, gateway, command)


def _receive(conn: socket.socket) -> tuple[bytes, list[int]]:
    import array

    fds = array.array("i")
    data, ancillary, _flags, _addr = conn.recvmsg(65536, socket.CMSG_SPACE(3 * fds.itemsize))
    for level, kind, payload in ancillary:
        if level == socket.SOL_SOCKET and kind == socket.SCM_RIGHTS:
            fds.frombytes(payload[: len(payload) - len(payload) % fds.itemsize])
    if len(data) < 4:
        return b"", list(fds)
    size = int.from_bytes(data[:4], "big")
    if size > MAX_MESSAGE:
        return b"", list(fds)
    body = data[4:]
    while len(body) < size:
        chunk = conn.recv(min(size - len(body), 1 << 20))
        if not chunk:
            break
        body += chunk
    return body[:size], list(fds)


def _run(conn: socket.socket, fields: list[bytes], fds: list[int], http_socket: str,
         gateway: str, command: Command) -> int:
    """In the per-call child: become the caller's `faasauth invoke` and run it."""
    from faasauth.relay import RELAY_GATEWAY, RELAY_SOCKET

    os.setsid()
    for signum in (signal.SIGCHLD, signal.SIGTERM, signal.SIGHUP, signal.SIGPIPE):
        signal.signal(signum, signal.SIG_DFL)
    signal.signal(signal.SIGPIPE, signal.SIG_IGN)  # as Python starts: EPIPE, not a signal
    signal.signal(signal.SIGINT, signal.default_int_handler)
    conn.settimeout(None)
    send_message(conn, [b"ok", str(os.getpid()).encode()])
    import time

    started = time.monotonic()
    log = os.dup(2)  # the proxy's log, before stderr becomes the caller's
    for target, fd in enumerate(fds):
        os.dup2(fd, target)
    for fd in fds:
        if fd > 2:
            os.close(fd)
    cwd, umask, argc = fields[2], int(fields[3]), int(fields[4])
    argv = [os.fsdecode(a) for a in fields[5: 5 + argc]]
    env = dict(item.split(b"=", 1) for item in fields[5 + argc:] if b"=" in item)
    os.chdir(cwd)
    os.umask(umask)
    os.environ.clear()
    for key, value in env.items():
        os.environb[key] = value
    os.environ[RELAY_SOCKET] = http_socket
    os.environ[RELAY_GATEWAY] = gateway
    sys.argv = ["faasauth", *argv]
    encoding = sys.stdout.encoding or "utf-8"
    sys.stdin = open(0, "r", closefd=False, encoding=encoding)
    sys.stdout = open(1, "w", closefd=False, encoding=encoding,
                      buffering=1 if os.isatty(1) else -1)
    sys.stderr = open(2, "w", closefd=False, encoding=encoding, errors="backslashreplace",
                      buffering=1)
    code = 5
    try:
        command()
    except SystemExit as exit_:
        code = exit_.code if isinstance(exit_.code, int) else (0 if exit_.code is None else 1)
    finally:
        for stream in (sys.stdout, sys.stderr):
            try:
                stream.flush()
            except (OSError, ValueError):
                pass
        try:
            send_message(conn, [b"exit", str(code).encode()])
        except OSError:
            pass
        # The command and its function's name only: an option may carry a key (--key=...).
        words = [a for a in argv if a not in ("-v", "--verbose")][:2]
        what = " ".join(w for w in words if not w.startswith("-"))
        line = f"faasauth proxy: ran {what} (exit {code}) " \
            f"{(time.monotonic() - started) * 1000:.0f}ms\n"
        try:
            os.write(log, line.encode("utf-8", "replace"))
        except OSError:
            pass
    return code
