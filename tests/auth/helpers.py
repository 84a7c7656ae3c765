"""Helpers for the `faasauth auth` unit tests (fixtures are in conftest.py)."""

from __future__ import annotations

import base64
import json
import socket
from pathlib import Path
from typing import Any, Callable
from urllib.parse import parse_qs, unquote_plus

from pytest_httpserver import HTTPServer
from werkzeug import Request

from faasauth.runtime import Runtime
from faasauth.idp.prompts import DeviceCode
from faasauth.config.settings import resolve_settings

from cli_support import CliResult, make_jwt  # noqa: F401 - re-exported to the suite


class IdP:
    """An identity provider that says exactly what each test tells it to."""

    def __init__(self, server: HTTPServer) -> None:
        self.server = server
        self.issuer = server.url_for("").rstrip("/")
        self.token_url = server.url_for("/token")
        self.device_url = server.url_for("/device")

    def discovery(self, **fields: Any) -> dict[str, Any]:
        """Serve a discovery document; a field given as None is left out."""
        document: dict[str, Any] = {
            "issuer": self.issuer,
            "token_endpoint": self.token_url,
            "device_authorization_endpoint": self.device_url,
            "jwks_uri": self.server.url_for("/jwks"),
            "token_endpoint_auth_methods_supported": ["client_secret_basic",
                                                      "client_secret_post", "none"],
        }
        document.update(fields)
        document = {k: v for k, v in document.items() if v is not None}
        self.server.expect_request("/.well-known/openid-configuration",
                                   method="GET").respond_with_json(document)
        return document

    def requests(self, path: str) -> list[Request]:
        return [request for request, _ in self.server.log if request.path == path]

    @staticmethod
    def form(request: Request) -> dict[str, str]:
        fields = parse_qs(request.get_data(as_text=True), keep_blank_values=True)
        assert all(len(v) == 1 for v in fields.values()), fields
        return {k: v[0] for k, v in fields.items()}

    @staticmethod
    def basic(request: Request) -> tuple[str, str]:
        """The client id and secret of an HTTP Basic header, decoded per RFC 6749 2.3.1."""
        header = request.headers.get("Authorization", "")
        scheme, _, value = header.partition(" ")
        assert scheme == "Basic", header
        raw_id, colon, raw_secret = base64.b64decode(value).decode("ascii").partition(":")
        assert colon == ":"
        return unquote_plus(raw_id), unquote_plus(raw_secret)


class FakeClock:
    def __init__(self, start: float = 1_000_000.0) -> None:
        self.now = start

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


class RecordingPrompt:
    """A DevicePrompt that waits on a fake clock and remembers what it was asked to do."""

    def __init__(self, clock: FakeClock) -> None:
        self.clock = clock
        self.shown: list[DeviceCode] = []
        self.waits: list[float] = []
        self.closed: list[bool] = []

    def show(self, code: DeviceCode) -> None:
        self.shown.append(code)

    def wait(self, seconds: float, deadline: float) -> None:
        self.waits.append(seconds)
        self.clock.advance(seconds)

    def close(self, approved: bool) -> None:
        self.closed.append(approved)


def make_runtime(clock: Callable[[], float] | None = None,
                 env: dict[str, str] | None = None, **settings: Any) -> Runtime:
    kwargs: dict[str, Any] = {"env": env}
    if clock is not None:
        kwargs["clock"] = clock
    return Runtime(resolve_settings(**settings), **kwargs)


def stored_files(home: Path) -> dict[str, bytes]:
    tokens = home / "tokens"
    if not tokens.exists():
        return {}
    return {p.name: p.read_bytes() for p in sorted(tokens.glob("*.json"))}


def stored_login_entry(home: Path) -> dict[str, Any]:
    files = stored_files(home)
    assert len(files) == 1, files
    envelope = json.loads(next(iter(files.values())))
    assert envelope["key"].startswith("login|")
    value = envelope["value"]
    assert isinstance(value, dict)
    return value


def closed_port() -> int:
    """A loopback port nothing listens on."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])
