"""The proxy's HTTP side: a threaded server on 127.0.0.1 and one on a unix socket, each
connection kept alive, each request checked (proxy/guard.py) and sent on
(proxy/forward.py), one log line per call on stderr.

    /function/NAME[.NS][/path], /async-function/...   sent on to the gateway
    /_faasauth/status   (unix socket only)   JSON: version, gateway, pid, url, socket, calls
    /_faasauth/stop     (unix socket only)   POST: drain and exit, as SIGTERM does
    anything else                            404 with a line saying what the proxy serves

Draining (SIGTERM, --stop, --idle-exit): no new connection is taken, idle keep-alive
connections are closed, calls in flight finish (at most DRAIN_SECONDS), then the sockets
are removed.
"""

from __future__ import annotations

import json
import os
import socket
import socketserver
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler
from typing import Any, Iterator, TextIO

import httpx

from faasauth._version import __version__
from faasauth.errors import FaasauthError
from faasauth.proxy.bodies import ChunkedBody, ContentLengthBody
from faasauth.proxy.forward import (
    FUNCTION_PREFIXES, RELAY_HEADER, Answer, Forwarder, now_ms, refusal,
)
from faasauth.proxy.guard import (
    Refusal, check_browser, check_host, check_peer, check_tcp_peer, own_origins,
)

DRAIN_SECONDS = 30.0
IDLE_CONNECTION_SECONDS = 300.0


class Proxy:
    """Both servers, the forwarder, the log, and the drain."""

    def __init__(self, forwarder: Forwarder, *, port: int | None, socket_path: str,
                 allow_origins: frozenset[str], log: TextIO = sys.stderr,
                 idle_exit: float | None = None,
                 allow_uids: frozenset[int] | None = frozenset()) -> None:  # None: any
        self.forwarder = forwarder
        self.allow_origins, self.allow_uids = allow_origins, allow_uids
        self.log, self.idle_exit = log, idle_exit
        self.socket_path = socket_path
        self.calls = 0
        self.busy = 0
        self.last_activity = time.monotonic()
        self.draining = threading.Event()
        self.stopped = threading.Event()
        self._lock = threading.Lock()
        self._connections: set[socket.socket] = set()
        self._idle: set[socket.socket] = set()
        self.servers: list[socketserver.BaseServer] = []
        self.unix = _UnixServer(socket_path, self)
        self.servers.append(self.unix)
        self.tcp: _TcpServer | None = None
        if port is not None:
            self.tcp = _TcpServer(("127.0.0.1", port), self)
            self.servers.append(self.tcp)
        self.started = time.time()

    @property
    def port(self) -> int | None:
        return self.tcp.server_address[1] if self.tcp is not None else None

    @property
    def url(self) -> str | None:
        return f"http://127.0.0.1:{self.port}" if self.port is not None else None

    def status(self) -> dict[str, Any]:
        return {
            "version": __version__,
            "gateway": self.forwarder.gateway,
            "pid": os.getpid(),
            "url": self.url,
            "socket": self.socket_path,
            "started": self.started,
            "calls": self.calls,
            "in_flight": max(0, self.busy - 1),  # not this status request
        }

    # -- running -------------------------------------------------------------------------

    def serve(self) -> None:
        threads = [threading.Thread(target=s.serve_forever, kwargs={"poll_interval": 0.2},
                                    daemon=True, name=f"faasauth-proxy-{i}")
                   for i, s in enumerate(self.servers)]
        for thread in threads:
            thread.start()
        if self.idle_exit:
            threading.Thread(target=self._watch_idle, daemon=True).start()
        self.draining.wait()
        self._drain()

    def stop(self) -> None:
        self.draining.set()

    def _watch_idle(self) -> None:
        assert self.idle_exit is not None
        while not self.draining.wait(min(1.0, self.idle_exit / 4)):
            with self._lock:
                idle = self.busy == 0 and time.monotonic() - self.last_activity >= self.idle_exit
            if idle:
                self.say(f"idle for {self.idle_exit:g}s: exiting")
                self.stop()

    def _drain(self) -> None:
        for server in self.servers:
            server.shutdown()  # no new connections
        deadline = time.monotonic() + DRAIN_SECONDS
        with self._lock:
            idle = list(self._idle)
        for conn in idle:
            _shut(conn)
        while time.monotonic() < deadline:
            with self._lock:
                if self.busy == 0:
                    break
            time.sleep(0.02)
        with self._lock:
            left = list(self._connections)
        for conn in left:
            _shut(conn)
        for server in self.servers:
            server.server_close()
        try:
            os.unlink(self.socket_path)
        except OSError:
            pass
        self.forwarder.rt.close()
        self.stopped.set()

    # -- bookkeeping ---------------------------------------------------------------------

    def opened(self, conn: socket.socket) -> None:
        with self._lock:
            self._connections.add(conn)
            self._idle.add(conn)
        if self.draining.is_set():
            _shut(conn)

    def closed(self, conn: socket.socket) -> None:
        with self._lock:
            self._connections.discard(conn)
            self._idle.discard(conn)

    def begin(self, conn: socket.socket) -> None:
        with self._lock:
            self._idle.discard(conn)
            self.busy += 1
            self.last_activity = time.monotonic()

    def end(self, conn: socket.socket) -> None:
        with self._lock:
            self.busy -= 1
            self._idle.add(conn)
            self.last_activity = time.monotonic()

    def say(self, message: str) -> None:
        try:
            print(f"faasauth proxy: {message}", file=self.log, flush=True)
        except (OSError, ValueError):
            pass


def _shut(conn: socket.socket) -> None:
    try:
        conn.shutdown(socket.SHUT_RDWR)
    except OSError:
        pass


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "faasauth-proxy"
    timeout = IDLE_CONNECTION_SECONDS  # a kept-alive caller silent this long is let go
    proxy: Proxy
    over_unix: bool
    _peer_checked = False

    def setup(self) -> None:
        super().setup()
        self.proxy.opened(self.connection)

    def finish(self) -> None:
        try:
            super().finish()
        finally:
            self.proxy.closed(self.connection)

    def address_string(self) -> str:
        return "unix" if self.over_unix else str(self.client_address[0])

    def log_message(self, format: str, *args: Any) -> None:  # one line per call, ours
        pass

    def handle_one_request(self) -> None:
        # Not started while draining: the caller retries on a fresh connection elsewhere.
        if self.proxy.draining.is_set():
            self.close_connection = True
            return
        super().handle_one_request()

    def __getattr__(self, name: str) -> Any:
        if name.startswith("do_"):
            return self._any
        raise AttributeError(name)

    # -- one request ---------------------------------------------------------------------

    def _any(self) -> None:
        proxy = self.proxy
        started = time.monotonic()
        proxy.begin(self.connection)
        status, token = 500, "none"
        try:
            status, token = self._serve()
        except (ConnectionError, BrokenPipeError, TimeoutError, OSError):
            self.close_connection = True
        finally:
            proxy.end(self.connection)
            if proxy.draining.is_set():
                self.close_connection = True
        path = self.path.split("?", 1)[0]
        proxy.say(f"{self.command} {path} {status} token={token} {now_ms(started):.0f}ms")

    def _serve(self) -> tuple[int, str]:
        proxy = self.proxy
        try:
            if self.over_unix:
                check_peer(self.connection)
            else:
                assert proxy.port is not None
                if not self._peer_checked:  # once per connection: its owner does not change
                    check_tcp_peer(self.connection, proxy.allow_uids)
                    self._peer_checked = True
                check_host(self.headers.get("host"), proxy.port)
            cors = check_browser(
                {k.lower(): v for k, v in self.headers.items()}, proxy.allow_origins,
                own_origins(proxy.port) if proxy.port is not None else frozenset(),
            )
        except Refusal as refused:
            return self._text(refused.status, f"faasauth proxy: {refused.reason}\n"), "none"
        path = self.path
        if not path.startswith("/"):
            return self._text(400, "faasauth proxy: send a path (/function/NAME), not a URL\n"), "none"
        if path.split("?", 1)[0] in ("/_faasauth/status", "/_faasauth/stop"):
            return self._control(path), "none"
        if self.headers.get(RELAY_HEADER) is not None and not self.over_unix:
            return self._text(403, "faasauth proxy: the relay is served on the unix socket only\n"), "none"
        relay = self.over_unix and self.headers.get(RELAY_HEADER) is not None
        if not relay and not path.startswith(FUNCTION_PREFIXES):
            return self._text(
                404,
                f"faasauth proxy: serves /function/NAME and /async-function/NAME of "
                f"{proxy.forwarder.gateway}, not {path.split('?', 1)[0]}\n",
            ), "none"
        if self.command == "OPTIONS" and cors and self.headers.get("access-control-request-method"):
            return self._preflight(cors), "none"
        body, length = self._body()
        base = self._base()
        with proxy._lock:
            proxy.calls += 1
        try:
            answer = proxy.forwarder.call(self.command, path, list(self.headers.items()),
                                          body, length, base)
        except FaasauthError as exc:
            self.close_connection = self.close_connection or body is not None
            status, text = refusal(exc)
            return self._text(status, text), "none"
        return self._stream(answer, cors), answer.token

    def _base(self) -> str:
        if self.over_unix:
            return "http://localhost"
        return f"http://{self.headers.get('host')}"

    def _body(self) -> tuple[httpx.SyncByteStream | None, int | None]:
        if "chunked" in (self.headers.get("transfer-encoding") or "").lower():
            return ChunkedBody(self.rfile), None
        raw = self.headers.get("content-length")
        if raw is None:
            return None, None
        length = int(raw) if raw.strip().isdigit() else -1
        if length < 0:
            raise ConnectionError("a bad Content-Length")
        return ContentLengthBody(self.rfile, length), length

    def _stream(self, answer: Answer, cors: str | None) -> int:
        try:
            self.send_response_only(answer.status, answer.reason or None)
            for name, value in answer.headers:
                self.send_header(name, value)
            if cors:
                self.send_header("Access-Control-Allow-Origin", cors)
                self.send_header("Vary", "Origin")
            bodyless = self.command == "HEAD" or answer.status in (204, 304)
            chunked = answer.length is None and not bodyless \
                and self.request_version != "HTTP/1.0"
            if answer.length is None and not bodyless and not chunked:
                self.close_connection = True  # HTTP/1.0: the end of the body is the close
            if answer.length is not None:
                self.send_header("Content-Length", str(answer.length))
            elif chunked:
                self.send_header("Transfer-Encoding", "chunked")
            self.end_headers()
            if self.command == "HEAD":
                return answer.status
            write = self.wfile.write
            try:
                for chunk in answer.body:
                    if chunked:
                        write(b"%x\r\n" % len(chunk) + chunk + b"\r\n")
                    else:
                        write(chunk)
            except FaasauthError as exc:
                self.proxy.say(exc.message)
                self.close_connection = True  # the caller sees a short answer
                return answer.status
            if chunked:
                write(b"0\r\n\r\n")
            return answer.status
        finally:
            answer.close()

    def _text(self, status: int, text: str, content_type: str = "text/plain; charset=utf-8") -> int:
        data = text.encode("utf-8")
        self.send_response_only(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(data)))
        self.send_header("X-Faasauth-Proxy", __version__)
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(data)
        return status

    def _preflight(self, origin: str) -> int:
        self.send_response_only(204)
        self.send_header("Access-Control-Allow-Origin", origin)
        self.send_header("Access-Control-Allow-Methods", "GET, POST, PUT, PATCH, DELETE")
        asked = self.headers.get("access-control-request-headers")
        if asked:
            self.send_header("Access-Control-Allow-Headers", asked)
        self.send_header("Access-Control-Max-Age", "600")
        self.send_header("Vary", "Origin")
        self.send_header("Content-Length", "0")
        self.end_headers()
        return 204

    def _control(self, path: str) -> int:
        if not self.over_unix:
            return self._text(404, "faasauth proxy: control endpoints are on the unix socket only\n")
        if path.startswith("/_faasauth/stop"):
            if self.command != "POST":
                return self._text(405, "faasauth proxy: POST /_faasauth/stop\n")
            self.close_connection = True
            status = self._text(202, "faasauth proxy: stopping\n")
            self.proxy.say("asked to stop: draining")
            self.proxy.stop()
            return status
        return self._text(200, json.dumps(self.proxy.status()) + "\n", "application/json")


class _UnixServer(socketserver.ThreadingMixIn, socketserver.UnixStreamServer):
    daemon_threads = True
    block_on_close = False
    request_queue_size = 128  # socketserver's 5 refuses a burst of callers (EAGAIN)

    def __init__(self, path: str, proxy: Proxy) -> None:
        handler = type("UnixHandler", (_Handler,), {"proxy": proxy, "over_unix": True})
        old = os.umask(0o177)  # the socket is 0600 from the start
        try:
            super().__init__(path, handler)
        finally:
            os.umask(old)
        os.chmod(path, 0o600)


class _TcpServer(socketserver.ThreadingMixIn, socketserver.TCPServer):
    daemon_threads = True
    block_on_close = False
    allow_reuse_address = True
    request_queue_size = 128

    def __init__(self, address: tuple[str, int], proxy: Proxy) -> None:
        handler = type("TcpHandler", (_Handler,), {"proxy": proxy, "over_unix": False})
        super().__init__(address, handler)

    def server_bind(self) -> None:
        self.socket.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        super().server_bind()
