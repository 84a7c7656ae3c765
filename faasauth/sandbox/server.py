"""HTTP plumbing for the sandbox: one threading HTTP/1.1 server per origin.

The stdlib `http.server` parses request lines and headers; this module adds what it lacks:
request bodies framed by `Transfer-Encoding: chunked` (a streaming client uploading stdin of
unknown length sends those), responses streamed with a known length or chunked, keep-alive
that never leaves an unread body on the connection, a fixed `--latency`, and one record per
request for the log. An app is a plain callable `Request -> Response`.
"""

from __future__ import annotations

import itertools
import socket
import ssl
import sys
import threading
import time
import traceback
from collections.abc import Callable, Iterable, Iterator
from email.message import Message
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Protocol

from faasauth.sandbox.requestlog import RequestRecord

CHUNK = 64 * 1024
MAX_LINE = 64 * 1024


class BadRequest(Exception):
    """The request cannot be read; answered with a 400 and the connection is closed."""


class _Readable(Protocol):
    def read(self, size: int = -1, /) -> bytes: ...

    def readline(self, size: int = -1, /) -> bytes: ...


class Body:
    """A request body read from the socket: by Content-Length, chunked, or empty."""

    def __init__(self, rfile: _Readable, headers: Message) -> None:
        self._rfile = rfile
        self._chunked = False
        self._left = 0  # bytes left: of the body (length framing) or of the current chunk
        self._done = False
        self.received = 0
        encoding = headers.get("Transfer-Encoding")
        length = headers.get("Content-Length")
        if encoding is not None:
            if encoding.strip().lower() != "chunked":
                raise BadRequest(f"unsupported Transfer-Encoding: {encoding}")
            self._chunked = True
        elif length is not None:
            if not length.strip().isdigit():
                raise BadRequest("invalid Content-Length")
            self._left = int(length)
            self._done = self._left == 0
        else:
            self._done = True

    @property
    def chunked(self) -> bool:
        return self._chunked

    def read(self, size: int = -1) -> bytes:
        """Up to `size` bytes (all that is left when negative); b"" at the end."""
        if size < 0:
            return b"".join(iter(lambda: self.read(CHUNK), b""))
        if self._done or size == 0:
            return b""
        if self._chunked and self._left == 0:
            self._left = self._next_chunk_size()
            if self._left == 0:
                self._read_trailers()
                self._done = True
                return b""
        data = self._rfile.read(min(size, self._left))
        if not data:
            raise BadRequest("connection closed in the middle of the body")
        self._left -= len(data)
        self.received += len(data)
        if self._left == 0:
            if self._chunked:
                if self._rfile.read(2) != b"\r\n":
                    raise BadRequest("malformed chunk")
            else:
                self._done = True
        return data

    def __iter__(self) -> Iterator[bytes]:
        return iter(lambda: self.read(CHUNK), b"")

    def drain(self) -> None:
        """Read and drop what is left of the body.

        All of it, however large: closing instead would reset a connection whose client is
        still uploading, and it would never read the answer (a 401 to a big upload, say).
        """
        while not self._done:
            self.read(CHUNK)

    def _next_chunk_size(self) -> int:
        line = self._rfile.readline(MAX_LINE)
        size = line.split(b";", 1)[0].strip()
        try:
            return int(size, 16)
        except ValueError:
            raise BadRequest("malformed chunk size") from None

    def _read_trailers(self) -> None:
        while True:
            line = self._rfile.readline(MAX_LINE)
            if line in (b"\r\n", b"\n", b""):
                return


class Request:
    def __init__(self, method: str, target: str, headers: Message, body: Body) -> None:
        self.method = method
        self.target = target
        path, _, query = target.partition("?")
        self.path = path
        self.query = query
        self.headers = headers
        self.body = body

    def header(self, name: str) -> str | None:
        value = self.headers.get(name)
        return None if value is None else value.strip()


class Response:
    """Status, headers and a body: bytes, or a stream of chunks with or without a length.

    `token` is the kind of token the request presented, for the request log; `after` runs
    once the response has been written (the async gateway starts its work there).
    """

    def __init__(
        self,
        status: int,
        headers: Iterable[tuple[str, str]] = (),
        body: bytes = b"",
        *,
        stream: Iterable[bytes] | None = None,
        length: int | None = None,
        token: str = "none",
        after: Callable[[], None] | None = None,
    ) -> None:
        self.status = status
        self.headers = list(headers)
        self.body = body
        self.stream = stream
        self.length = length
        self.token = token
        self.after = after


def text_response(status: int, text: str) -> Response:
    return Response(status, [("Content-Type", "text/plain; charset=utf-8")], text.encode("utf-8"))


App = Callable[[Request], Response]


class SandboxHTTPServer(ThreadingHTTPServer):
    """A loopback server for one origin ("idp" or "gateway")."""

    daemon_threads = True
    request_queue_size = 128

    def __init__(
        self,
        port: int,
        origin: str,
        *,
        on_record: Callable[[RequestRecord], None],
        latency_ms: int = 0,
        untracked_prefix: str = "/_sandbox/",
        tls: ssl.SSLContext | None = None,
    ) -> None:
        super().__init__(("127.0.0.1", port), _Handler)
        self.tls = tls
        self._connection_numbers = itertools.count(1)
        self.origin = origin
        self.app: App | None = None
        self.on_record = on_record
        self.latency = latency_ms / 1000.0
        self.untracked_prefix = untracked_prefix
        self._connections: set[socket.socket] = set()
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        scheme = "https" if self.tls is not None else "http"
        return f"{scheme}://127.0.0.1:{self.server_address[1]}"

    def get_request(self) -> tuple[socket.socket, object]:
        """Accept; with TLS, wrap the connection, its handshake left to the handler's thread
        (a client that never finishes one holds up only itself)."""
        conn, address = self.socket.accept()
        if self.tls is not None:
            conn = self.tls.wrap_socket(
                conn, server_side=True, do_handshake_on_connect=False
            )
        return conn, address

    def next_connection(self) -> int:
        """The number of a new connection: 1, 2, ... per server, for the request log."""
        return next(self._connection_numbers)

    def start(self, app: App) -> None:
        self.app = app
        self._thread = threading.Thread(
            target=self.serve_forever,
            kwargs={"poll_interval": 0.05},
            name=f"faasauth-sandbox-{self.origin}",
            daemon=True,
        )
        self._thread.start()

    def stop(self) -> None:
        if self._thread is not None:
            stopper = threading.Thread(target=self.shutdown)
            stopper.start()
            try:  # wake serve_forever's select() so that it sees the request to stop now
                socket.create_connection(("127.0.0.1", self.server_address[1]), timeout=0.5).close()
            except OSError:
                pass
            stopper.join()
            self._thread.join()
            self._thread = None
        with self._lock:
            connections = list(self._connections)
        for conn in connections:  # end idle keep-alive connections so their threads finish
            try:
                conn.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
        self.server_close()

    def track(self, conn: socket.socket, add: bool) -> None:
        with self._lock:
            (self._connections.add if add else self._connections.discard)(conn)


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    timeout = 300
    server: SandboxHTTPServer

    def setup(self) -> None:
        super().setup()
        # headers and body go out in two writes: without this, Nagle's algorithm and the
        # client's delayed ACK would add about 40 ms to every answer
        self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.connection_number = self.server.next_connection()
        self.server.track(self.connection, True)
        if isinstance(self.connection, ssl.SSLSocket):
            try:
                self.connection.do_handshake()
            except (OSError, ValueError):
                self.close_connection = True  # handle() then reads nothing and ends

    def finish(self) -> None:
        try:
            super().finish()
        finally:
            self.server.track(self.connection, False)

    def log_message(self, format: str, *args: object) -> None:  # noqa: A002
        pass  # the sandbox logs one line per request itself

    def version_string(self) -> str:
        return "faasauth-sandbox"

    def handle_one_request(self) -> None:
        try:
            self.raw_requestline = self.rfile.readline(MAX_LINE + 1)
            if len(self.raw_requestline) > MAX_LINE:
                self.send_error(414)
                return
            if not self.raw_requestline:
                self.close_connection = True
                return
            if not self.parse_request():
                return
            self._serve()
            self.wfile.flush()
        except (TimeoutError, ConnectionError, OSError):
            self.close_connection = True

    def _serve(self) -> None:
        started = time.time()
        try:
            body = Body(self.rfile, self.headers)
        except BadRequest as exc:
            self.close_connection = True
            self._write(text_response(400, f"{exc}\n"), head=False)
            return
        request = Request(self.command, self.path, self.headers, body)
        try:
            assert self.server.app is not None
            response = self.server.app(request)
        except BadRequest as exc:
            self.close_connection = True
            response = text_response(400, f"{exc}\n")
        except Exception:  # a bug in the sandbox: answer 500, keep serving
            traceback.print_exc(file=sys.stderr)
            self.close_connection = True
            response = text_response(500, "faasauth sandbox: internal error\n")
        tracked = not request.path.startswith(self.server.untracked_prefix)
        if tracked and self.server.latency:
            time.sleep(self.server.latency)
        if tracked:  # recorded before the answer leaves, so a client that has it can count it
            self.server.on_record(
                RequestRecord(
                    origin=self.server.origin,
                    method=self.command,
                    path=request.path,
                    status=response.status,
                    token=response.token,
                    started=started,
                    duration_ms=round((time.time() - started) * 1000, 1),
                    connection=self.connection_number,
                )
            )
        try:
            self._write(response, head=self.command == "HEAD")
            try:
                body.drain()
            except BadRequest:
                self.close_connection = True
        finally:
            if response.after is not None:  # even when the client went away meanwhile
                response.after()

    def _write(self, response: Response, *, head: bool) -> None:
        self.send_response_only(response.status)
        self.send_header("Date", self.date_time_string())
        for name, value in response.headers:
            self.send_header(name, value)
        chunked = False
        if response.stream is None:
            self.send_header("Content-Length", str(len(response.body)))
        elif response.length is not None:
            self.send_header("Content-Length", str(response.length))
        elif self.request_version == "HTTP/1.1":
            chunked = True
            self.send_header("Transfer-Encoding", "chunked")
        else:
            self.close_connection = True
        if self.close_connection:
            self.send_header("Connection", "close")
        self.end_headers()
        if response.stream is None:
            if not head:
                self.wfile.write(response.body)
            return
        try:
            if head:
                return
            for chunk in response.stream:
                if not chunk:
                    continue
                if chunked:
                    self.wfile.write(b"%x\r\n%s\r\n" % (len(chunk), chunk))
                else:
                    self.wfile.write(chunk)
            if chunked:
                self.wfile.write(b"0\r\n\r\n")
        finally:
            close = getattr(response.stream, "close", None)
            if close is not None:
                close()
