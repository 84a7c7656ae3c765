"""A deliberately hostile (or broken) HTTP server on 127.0.0.1 for the hardening tests.

Each test scripts what a path answers with a handler `(request) -> None` that writes raw
bytes to `request.wfile`; `Request` carries what the client sent (method, path, headers,
body), so a handler can echo it back. Bounded: handlers drip or stream for at most
`MAX_SECONDS`, and the server stops with the fixture.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

MAX_SECONDS = 20.0


@dataclass
class Request:
    method: str
    path: str
    headers: dict[str, str]
    body: bytes
    wfile: Any = field(repr=False)

    def send(self, status: int, body: bytes, content_type: str = "application/json",
             headers: dict[str, str] | None = None) -> None:
        lines = [f"HTTP/1.1 {status} Hostile", f"Content-Type: {content_type}",
                 f"Content-Length: {len(body)}", "Connection: close"]
        lines += [f"{k}: {v}" for k, v in (headers or {}).items()]
        self.wfile.write(("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + body)

    def json(self, status: int, document: Any) -> None:
        self.send(status, json.dumps(document).encode())


Handler = Callable[[Request], None]


class HostileServer:
    def __init__(self) -> None:
        self.routes: dict[str, Handler] = {}
        self.seen: list[Request] = []
        server = self

        class _Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: object) -> None:  # quiet
                pass

            def _any(self) -> None:
                length = int(self.headers.get("content-length") or 0)
                body = self.rfile.read(length) if length else b""
                path = self.path.split("?", 1)[0]
                request = Request(self.command, self.path, dict(self.headers.items()), body,
                                  self.wfile)
                server.seen.append(request)
                handler = server.routes.get(path)
                if handler is None:
                    request.send(404, b"not here\n", "text/plain")
                else:
                    try:
                        handler(request)
                    except (BrokenPipeError, ConnectionResetError):
                        pass
                self.close_connection = True

            do_GET = do_POST = _any

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
        self._server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}"
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()

    def route(self, path: str) -> Callable[[Handler], Handler]:
        def register(handler: Handler) -> Handler:
            self.routes[path] = handler
            return handler

        return register

    def discovery(self, **fields: Any) -> None:
        """/.well-known/openid-configuration naming this server's endpoints (overridable)."""
        document = {"issuer": self.url, "token_endpoint": f"{self.url}/token",
                    "device_authorization_endpoint": f"{self.url}/device", **fields}
        self.routes["/.well-known/openid-configuration"] = lambda r: r.json(200, document)

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()


def drip(request: Request, head: bytes, byte: bytes, every: float, seconds: float) -> None:
    """Headers, then one body byte every `every` seconds for `seconds` (bounded)."""
    request.wfile.write(head)
    request.wfile.flush()
    end = time.monotonic() + min(seconds, MAX_SECONDS)
    while time.monotonic() < end:
        request.wfile.write(byte)
        request.wfile.flush()
        time.sleep(every)


def endless_chunks(request: Request, chunk: bytes, seconds: float) -> None:
    """A chunked body that does not end (for `seconds`, at most MAX_SECONDS)."""
    request.wfile.write(b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
                        b"Transfer-Encoding: chunked\r\n\r\n")
    end = time.monotonic() + min(seconds, MAX_SECONDS)
    frame = f"{len(chunk):x}\r\n".encode() + chunk + b"\r\n"
    while time.monotonic() < end:
        request.wfile.write(frame)


@pytest.fixture
def hostile() -> Iterator[HostileServer]:
    server = HostileServer()
    yield server
    server.stop()
