"""A fake OpenFaaS gateway + watchdog on loopback (a threaded stdlib server).

It answers as /work/shared/openfaas-facts.md says, byte for byte where it matters:

- `POST /oauth/token` (form): the token exchange. Accepts the subject token in
  `gateway.subject_token`; mints JWT-shaped tokens `{"access_token", "token_type": "Bearer",
  "expires_in": gateway.expires_in, "scope": "function"}`; a wrong subject gets 400
  `{"error": "invalid_request", "error_description": "No policies found for subject: ..."}`.
- `/function/NAME[.NS]`: the watchdog with `jwt_auth=true` when the function is
  `protected`: no bearer -> 401 `Bearer must be present in Authorization header`, an unknown
  or revoked one -> 401 `invalid JWT token: <token>` (the token echoed back), both with
  `WWW-Authenticate: Bearer realm=IAM function invoke` (unquoted),
  `X-OpenFaaS-Internal: faas-middleware`, `Content-Type: text/plain; charset=utf-8`; a
  valid token whose audience misses the function, or a `forbidden` function -> 403
  `insufficient permissions\\n`, no WWW-Authenticate. Otherwise the function echoes the
  body (status, body, headers and delay configurable).
- `/async-function/NAME[.NS]`: 202 at once, as the gateway does (no auth check).
- Every answer on those two routes carries `X-Call-Id` and `X-Start-Time`, as the real
  gateway's call-id middleware adds them (a 404 without them is not a gateway's).

Every request is recorded (`gateway.requests`, with the body's size and sha256), so tests
count round trips. Used by tests/invoke and benchmarks/bench_invoke.py.
"""

from __future__ import annotations

import base64
import hashlib
import json
import re
import secrets
import socket
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

REALM_HEADER = "Bearer realm=IAM function invoke"
SUBJECT_TOKEN = "subject-token-for-tests-0123456789"


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


@dataclass
class Recorded:
    method: str
    path: str  # without the query
    query: str
    headers: list[tuple[str, str]]
    body: bytes
    size: int
    chunked: bool
    sha256: str = ""
    status: int = 0

    def header(self, name: str) -> str | None:
        return next((v for k, v in self.headers if k.lower() == name.lower()), None)

    def header_values(self, name: str) -> list[str]:
        return [v for k, v in self.headers if k.lower() == name.lower()]

    @property
    def authorization(self) -> str | None:
        return self.header("Authorization")

    @property
    def form(self) -> dict[str, list[str]]:
        return parse_qs(self.body.decode())


@dataclass
class Function:
    protected: bool = True
    forbidden: bool = False
    challenge: str | None = REALM_HEADER  # the WWW-Authenticate sent with the 401
    status: int = 200
    body: bytes | None = None  # None: echo the request body
    headers: dict[str, str] = field(default_factory=dict)
    reject_early: bool = False  # answer 401 without reading the body, then hang up
    delay: float = 0.0  # seconds before answering


class _QuietServer(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 128  # the listen() backlog: 32 processes connect at once
    def handle_error(self, request: Any, client_address: Any) -> None:
        import sys

        if not isinstance(sys.exc_info()[1], (ConnectionError, TimeoutError)):
            super().handle_error(request, client_address)  # a bug in the fake: show it


class FakeGateway:
    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.requests: list[Recorded] = []
        self.functions: dict[str, Function] = {}
        self.issued: dict[str, list[str]] = {}  # token -> audiences
        self.subject_token = SUBJECT_TOKEN
        self.expires_in: Any = 300
        self.exchange_delay = 0.0
        self.record_bodies = True
        self.server = _QuietServer(("127.0.0.1", 0), _handler_for(self))
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(
            target=self.server.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True
        )
        self.thread.start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()

    # -- set-up --------------------------------------------------------------------------

    def add(self, name: str, namespace: str = "openfaas-fn", **spec: Any) -> Function:
        function = Function(**spec)
        self.functions[f"{namespace}:{name}"] = function
        return function

    def revoke_tokens(self) -> None:
        """As if the signing key rotated: every token issued so far is now invalid."""
        with self.lock:
            self.issued.clear()

    def mint(self, audiences: list[str]) -> str:
        header = _b64(b'{"alg":"RS256","kid":"test"}')
        payload = _b64(json.dumps({"n": len(self.issued) + 1, "aud": audiences}).encode())
        token = f"{header}.{payload}.{_b64(secrets.token_bytes(24))}"
        with self.lock:
            self.issued[token] = audiences
        return token

    # -- what happened -------------------------------------------------------------------

    def reset(self) -> None:
        with self.lock:
            self.requests.clear()

    @property
    def exchanges(self) -> list[Recorded]:
        return [r for r in self.requests if r.path == "/oauth/token"]

    def calls(self, path_part: str = "") -> list[Recorded]:
        return [
            r for r in self.requests
            if r.path.startswith(("/function/", "/async-function/")) and path_part in r.path
        ]

    def summary(self) -> list[str]:
        """`POST /function/env 401` style lines, handy in assertion messages."""
        return [f"{r.method} {r.path} {r.status}{' +token' if r.authorization else ''}"
                for r in self.requests]


def _matches(patterns: list[str], target: str) -> bool:
    """The watchdog's rule: `*` alone matches all, else `*` is a wildcard in an unanchored
    regular expression."""
    return any(
        p == "*" or re.search(re.escape(p).replace(r"\*", ".*"), target) for p in patterns
    )


def _handler_for(gateway: FakeGateway) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, *_args: Any) -> None:
            pass

        def _read_body(self) -> tuple[bytes, int, bool, str]:
            keep = gateway.record_bodies or self.path.startswith("/oauth/")
            parts: list[bytes] = []
            size = 0
            digest = hashlib.sha256()
            if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
                while True:
                    line = self.rfile.readline()
                    length = int(line.split(b";")[0].strip(), 16)
                    if length == 0:
                        while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                            pass
                        break
                    left = length
                    while left:
                        data = self.rfile.read(min(left, 1 << 20))
                        if not data:
                            raise ConnectionError("short chunk")
                        left -= len(data)
                        size += len(data)
                        digest.update(data)
                        if keep:
                            parts.append(data)
                    self.rfile.readline()
                return b"".join(parts), size, True, digest.hexdigest()
            left = int(self.headers.get("Content-Length") or 0)
            while left:
                data = self.rfile.read(min(left, 1 << 20))
                if not data:
                    break
                left -= len(data)
                size += len(data)
                digest.update(data)
                if keep:
                    parts.append(data)
            return b"".join(parts), size, False, digest.hexdigest()

        def _record(self, body: bytes, size: int, chunked: bool, sha256: str = "") -> Recorded:
            parts = urlsplit(self.path)
            record = Recorded(
                self.command, parts.path, parts.query, list(self.headers.items()), body, size,
                chunked, sha256,
            )
            with gateway.lock:
                gateway.requests.append(record)
            return record

        def _answer(
            self,
            record: Recorded | None,
            status: int,
            body: bytes,
            headers: dict[str, str] | None = None,
            close: bool = False,
        ) -> None:
            if record is not None:
                record.status = status
            self.send_response(status)
            headers = dict(headers or {})
            if urlsplit(self.path).path.startswith(("/function/", "/async-function/")):
                # the gateway's call-id middleware tags every answer of a function route
                headers.setdefault("X-Call-Id", secrets.token_hex(8))
                headers.setdefault("X-Start-Time", str(time.time_ns()))
            for name, value in headers.items():
                self.send_header(name, value)
            self.send_header("Content-Length", str(len(body)))
            if close:
                self.send_header("Connection", "close")
                self.close_connection = True
            self.end_headers()
            self.wfile.write(body)

        def _dispatch(self) -> None:
            path = urlsplit(self.path).path
            function = None
            for prefix in ("/function/", "/async-function/"):
                if path.startswith(prefix):
                    function = path[len(prefix):]
                    break
            if function is not None:
                name, _, namespace = function.partition(".")
                target = f"{namespace or 'openfaas-fn'}:{name}"
                spec = gateway.functions.get(target)
                if spec is not None and spec.reject_early and path.startswith("/function/"):
                    if not (self.headers.get("Authorization") or "").startswith("Bearer "):
                        record = self._record(b"", 0, False)
                        self._unauthorized(record, spec, "Bearer must be present in "
                                           "Authorization header", close=True)
                        # Go's server: half-close, wait a little without reading, close.
                        self.wfile.flush()
                        self.connection.shutdown(socket.SHUT_WR)
                        time.sleep(0.3)
                        return
            body, size, chunked, sha256 = self._read_body()
            record = self._record(body, size, chunked, sha256)
            if path == "/oauth/token" and self.command == "POST":
                self._exchange(record)
            elif function is None:
                self._answer(record, 404, b"404 page not found\n", {"Content-Type": "text/plain"})
            elif spec is None:
                self._answer(
                    record, 404, f"error finding function {name}.{namespace or 'openfaas-fn'}"
                    f": not found\n".encode(), {"Content-Type": "text/plain"},
                )
            elif path.startswith("/async-function/"):
                self._answer(record, 202, b"", {"X-Call-Id": secrets.token_hex(8)})
            else:
                self._function(record, spec, target, body)

        do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = _dispatch  # noqa: N815

        def _unauthorized(self, record: Recorded, spec: Function, reason: str,
                          close: bool = False) -> None:
            headers = {
                "Content-Type": "text/plain; charset=utf-8",
                "X-Openfaas-Internal": "faas-middleware",
            }
            if spec.challenge is not None:
                headers["Www-Authenticate"] = spec.challenge
            self._answer(record, 401, (reason + "\n").encode(), headers, close=close)

        def _function(self, record: Recorded, spec: Function, target: str, body: bytes) -> None:
            if spec.protected:
                value = self.headers.get("Authorization") or ""
                bearer = value[len("Bearer "):] if value.startswith("Bearer ") else value
                with gateway.lock:
                    audiences = gateway.issued.get(bearer)
                if not bearer:
                    self._unauthorized(record, spec, "Bearer must be present in Authorization "
                                       "header")
                    return
                if audiences is None:
                    self._unauthorized(record, spec, f"invalid JWT token: {bearer}")
                    return
                if spec.forbidden or (audiences and not _matches(audiences, target)):
                    self._answer(record, 403, b"insufficient permissions\n", {
                        "Content-Type": "text/plain; charset=utf-8",
                        "X-Openfaas-Internal": "faas-middleware",
                    })
                    return
            if spec.delay:
                time.sleep(spec.delay)
            headers = {"Content-Type": "application/octet-stream", "X-Duration-Seconds": "0.001"}
            headers.update(spec.headers)
            self._answer(record, spec.status, body if spec.body is None else spec.body, headers)

        def _exchange(self, record: Recorded) -> None:
            if gateway.exchange_delay:
                time.sleep(gateway.exchange_delay)
            form = record.form
            subject = (form.get("subject_token") or [""])[0]
            ok = (
                form.get("grant_type") == ["urn:ietf:params:oauth:grant-type:token-exchange"]
                and form.get("scope") == ["function"]
                and subject == gateway.subject_token
            )
            if not ok:
                answer = {"error": "invalid_request",
                          "error_description": f"No policies found for subject: {subject[:6]}"}
                self._answer(record, 400, json.dumps(answer).encode(),
                             {"Content-Type": "application/json"})
                return
            token = gateway.mint(form.get("audience", []))
            answer = {"access_token": token, "token_type": "Bearer",
                      "expires_in": gateway.expires_in, "scope": "function"}
            self._answer(record, 200, json.dumps(answer).encode(),
                         {"Content-Type": "application/json"})

    return Handler


