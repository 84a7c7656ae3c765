"""A proxy's life, as ssh-agent's: start (a stale socket replaced, a live one refused),
serve in the foreground or from a detached child (`--background`, which returns once it
serves and prints the exports), stop (`--stop`), and the status a running one reports.

The exports, for `eval "$(faasauth proxy --background)"`:

    export FAASAUTH_PROXY=<unix socket>       curl --unix-socket "$FAASAUTH_PROXY" ...
    export FAASAUTH_PROXY_URL=http://127.0.0.1:PORT
    export FAASAUTH_PROXY_PID=<pid>
"""

from __future__ import annotations

import errno
import json
import os
import shlex
import signal
import socket
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, TextIO

from faasauth.errors import UsageFailure
from faasauth.runtime import Runtime

STATUS_TIMEOUT = 2.0


@dataclass(frozen=True)
class ProxyOptions:
    port: int | None = 0
    socket_path: str | None = None
    allow_origins: frozenset[str] = frozenset()
    allow_uids: frozenset[int] | None = frozenset()  # besides ours, over TCP; None: any
    always: bool = False
    audience: str | None = None
    idle_exit: float | None = None
    # `faasauth invoke` handed over (proxy/handoff.py) runs this: the CLI's main, which
    # passes itself in; None serves no handoff.
    command: Callable[[], None] | None = None
    preload: tuple[str, ...] = ()


def default_socket(rt: Runtime) -> str:
    from faasauth.proxy.paths import socket_path

    return str(socket_path(rt.settings.home, rt.settings.gateway))


def _unix_request(path: str, method: str, target: str, timeout: float) -> tuple[int, bytes]:
    """One request over the proxy's unix socket with the standard library (fast to load)."""
    import http.client

    class _Connection(http.client.HTTPConnection):
        def connect(self) -> None:
            self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            self.sock.settimeout(timeout)
            self.sock.connect(path)

    conn = _Connection("localhost", timeout=timeout)
    try:
        conn.request(method, target, headers={"Content-Length": "0"} if method == "POST" else {})
        response = conn.getresponse()
        return response.status, response.read(1 << 20)
    finally:
        conn.close()


def running_status(path: str, timeout: float = STATUS_TIMEOUT) -> dict[str, Any] | None:
    """What the proxy at `path` says of itself, or None when none answers there."""
    try:
        status, data = _unix_request(path, "GET", "/_faasauth/status", timeout)
        document = json.loads(data) if status == 200 else None
    except (OSError, ValueError):
        return None
    return document if isinstance(document, dict) else None


def claim_socket(path: str, gateway: str) -> None:
    """Make `path` free for a new proxy: its private directory made, a stale socket of a
    killed proxy removed, a live one refused."""
    from faasauth.store.home import ensure_private_dir

    ensure_private_dir(Path(path).parent)
    if not os.path.lexists(path):
        return
    probe = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    probe.settimeout(STATUS_TIMEOUT)
    try:
        probe.connect(path)
    except OSError as exc:
        if exc.errno not in (errno.ECONNREFUSED, errno.ENOENT, errno.ENOTSOCK):
            raise UsageFailure(f"cannot use the proxy socket {path}: {exc.strerror}") from exc
        from faasauth.proxy.paths import command_path

        for stale in (path, command_path(path)):
            try:
                os.unlink(stale)
            except FileNotFoundError:
                pass
        return
    finally:
        probe.close()
    live = running_status(path) or {}
    raise UsageFailure(
        f"a faasauth proxy for {live.get('gateway', gateway)} is already running at {path}"
        + (f" (process {live['pid']})" if "pid" in live else ""),
        hint=f"use it (export FAASAUTH_PROXY={shlex.quote(path)}), or stop it first: "
        "faasauth proxy --stop",
    )


def exports(proxy_socket: str, url: str | None, pid: int) -> str:
    lines = [f"export FAASAUTH_PROXY={shlex.quote(proxy_socket)}"]
    if url:
        lines.append(f"export FAASAUTH_PROXY_URL={shlex.quote(url)}")
    lines.append(f"export FAASAUTH_PROXY_PID={pid}")
    return "\n".join(lines) + "\n"


KEPT_CONNECTIONS = 64
KEEPALIVE_SECONDS = 30.0


def serve(rt: Runtime, options: ProxyOptions, *, out: TextIO, err: TextIO,
          close_out: bool = False) -> int:
    """Serve until SIGTERM/SIGINT, --stop or --idle-exit; 0 after a clean drain (130 after
    Ctrl-C). The exports go to `out` once both sockets listen."""
    from faasauth.proxy.forward import Forwarder
    from faasauth.proxy.renewal import Renewal
    from faasauth.proxy.server import Proxy

    path = options.socket_path or default_socket(rt)
    claim_socket(path, rt.settings.gateway)
    handoff = None
    if options.command is not None:
        from faasauth.proxy.handoff import start_handoff

        handoff = start_handoff(path, rt.settings.gateway, options.command, options.preload,
                                (out.fileno(),) if close_out else ())  # forks: before any thread is started
    forwarder = Forwarder(rt, always=options.always, audience=options.audience)
    rt.cache  # made once, before the threads share it
    import httpx

    # Kept warm for every caller at once, and across a pause of half a minute (httpx keeps
    # 20 for 5 s: under load each call past the 20th paid a new connection, and its TLS);
    # a lane of one connection per call in flight (faasauth.lanes), not one pool for all:
    # httpx's pool lock held 64 callers in a queue.
    rt.http_options.setdefault("lanes", KEPT_CONNECTIONS)
    rt.http_options.setdefault("limits", httpx.Limits(
        max_connections=1, max_keepalive_connections=1, keepalive_expiry=KEEPALIVE_SECONDS))
    rt.client
    try:
        proxy = Proxy(forwarder, port=options.port, socket_path=path,
                      allow_origins=options.allow_origins, allow_uids=options.allow_uids,
                      log=err,
                      idle_exit=options.idle_exit)
    except OSError as exc:
        if handoff is not None:
            handoff.stop()
        where = f"127.0.0.1:{options.port}" if options.port else path
        raise UsageFailure(f"cannot listen on {where}: {exc.strerror}",
                           hint="choose another --port (0 picks a free one)") from exc
    interrupted: list[int] = []

    def on_signal(signum: int, _frame: object) -> None:
        interrupted.append(signum)
        proxy.stop()

    if threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGTERM, on_signal)
        signal.signal(signal.SIGINT, on_signal)
    renewal = Renewal(forwarder, proxy.say, proxy.draining)
    renewal.start()
    where = f"http://127.0.0.1:{proxy.port} and " if proxy.port is not None else ""
    proxy.say(f"serving {rt.settings.gateway} on {where}{path} (process {os.getpid()})")
    out.write(exports(path, proxy.url, os.getpid()))
    out.flush()
    if close_out:
        out.close()
    try:
        proxy.serve()
    finally:
        if handoff is not None:
            handoff.stop()
    if signal.SIGINT in interrupted:
        return 130
    return 0


def serve_in_background(rt: Runtime, options: ProxyOptions, *, out: TextIO, err: TextIO) -> int:
    """Serve from a detached child (its own session, its log in the home); print the
    exports once it serves. A child that fails to start: its message, and its status."""
    if not hasattr(os, "fork"):
        raise UsageFailure("--background needs fork(); run the proxy in another terminal")
    path = options.socket_path or default_socket(rt)
    claim_socket(path, rt.settings.gateway)  # refused here, in the caller's terminal
    log_path = path + ".log"
    from faasauth.detach import run_detached

    log_fd = os.open(log_path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
    pid, lines, status = run_detached(
        lambda exports, log: serve(rt, options, out=exports, err=log, close_out=True),
        log_fd, stdout_to_log=False, out=out, err=err)
    if status is not None:
        try:
            with open(log_path, encoding="utf-8", errors="replace") as log:
                err.write(log.read()[-4000:])
        except OSError:
            pass
        return status if status > 0 else 3
    out.write(lines)
    out.flush()
    print(f"faasauth proxy: serving {rt.settings.gateway} in the background as process {pid} "
          f"(log: {log_path}); stop it with: faasauth proxy --stop", file=err, flush=True)
    return 0


def stop(rt: Runtime, socket_path: str | None, err: TextIO) -> int:
    """Ask the proxy for this gateway to drain and exit; wait until it has."""
    path = socket_path or default_socket(rt)
    live = running_status(path)
    if live is None:
        print(f"faasauth proxy: no proxy is running for {rt.settings.gateway} ({path})",
              file=err)
        return 0
    try:
        _unix_request(path, "POST", "/_faasauth/stop", STATUS_TIMEOUT)
    except OSError:
        pass
    from faasauth.proxy.server import DRAIN_SECONDS

    deadline = time.monotonic() + DRAIN_SECONDS + 5
    while os.path.exists(path) and time.monotonic() < deadline:
        time.sleep(0.05)
    print(f"faasauth proxy: stopped the proxy for {live.get('gateway')} "
          f"(process {live.get('pid')})", file=err)
    return 0
