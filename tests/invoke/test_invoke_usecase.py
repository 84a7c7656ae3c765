"""The use case alone: faasauth.gateway.call.invoke with an httpx.MockTransport and fake collaborators."""

from __future__ import annotations

import io
from pathlib import Path
from typing import Callable

import httpx
import pytest

from faasauth.errors import NotLoggedIn
from faasauth.tokens.function import ObtainedToken
from faasauth.gateway.call import Invocation, invoke
from faasauth.store.remembered import RememberedFunctions
from faasauth.gateway.body import RequestBody
from faasauth.config.settings import Settings
from faasauth.store.home import Home
from faasauth.tokens.function import FunctionToken

GATEWAY = "https://gw.example.com"
CHALLENGE = {"WWW-Authenticate": "Bearer realm=IAM function invoke"}


class FakeTokens:
    def __init__(self, *tokens: tuple[str, bool], error: Exception | None = None) -> None:
        self.tokens = list(tokens)
        self.error = error
        self.calls: list[str | None] = []

    def __call__(self, reject: str | None = None) -> ObtainedToken:
        self.calls.append(reject)
        if self.error is not None:
            raise self.error
        value, cached = self.tokens.pop(0)
        return ObtainedToken(FunctionToken(value, expires_at=9e9), cached, "key")


def run(
    handler: Callable[[httpx.Request], httpx.Response],
    tokens: FakeTokens,
    tmp_path: Path,
    seen: list[httpx.Request] | None = None,
    **invocation: object,
) -> tuple[list[httpx.Request], bytes, RememberedFunctions]:
    """Invoke `env` with b"payload"; every request the transport saw lands in `seen`."""
    seen = [] if seen is None else seen

    def record(request: httpx.Request) -> httpx.Response:
        request.read()
        seen.append(request)
        return handler(request)

    notes = RememberedFunctions(Home(tmp_path / "home"))
    out = io.BytesIO()
    with httpx.Client(transport=httpx.MockTransport(record)) as client:
        invoke(
            Invocation(name="env", **invocation),  # type: ignore[arg-type]
            settings=Settings(gateway=GATEWAY, home=tmp_path / "home"),
            client=client,
            body=RequestBody(io.BytesIO(b"payload")),
            tokens=tokens,
            notes=notes,
            out=out,
        )
    return seen, out.getvalue(), notes


def test_cached_token_refused_is_rejected_by_name(tmp_path: Path) -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        if request.headers.get("authorization") == "Bearer new":
            return httpx.Response(200, content=request.content)
        return httpx.Response(401, headers=CHALLENGE, text="invalid JWT token: x\n")

    tokens = FakeTokens(("old", True), ("new", False))
    seen, out, notes = run(handler, tokens, tmp_path, auth=True)
    assert out == b"payload"
    assert tokens.calls == [None, "old"]
    assert [r.headers["authorization"] for r in seen] == ["Bearer old", "Bearer new"]
    assert [r.content for r in seen] == [b"payload", b"payload"]
    assert notes.needs_auth(GATEWAY, "openfaas-fn:env")  # it asked, so it is remembered


def test_no_login_after_the_probe_sends_one_request(tmp_path: Path) -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(401, headers=CHALLENGE, text="Bearer must be present\n")

    tokens = FakeTokens(error=NotLoggedIn("not logged in to https://gw.example.com"))
    seen: list[httpx.Request] = []
    with pytest.raises(NotLoggedIn):
        run(handler, tokens, tmp_path, seen)
    assert len(seen) == 1
    assert "authorization" not in seen[0].headers


def test_url_namespace_and_async(tmp_path: Path) -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(202)

    seen, _, _ = run(handler, FakeTokens(("t", False)), tmp_path, namespace="dev",
                     is_async=True, auth=True)
    assert str(seen[0].url) == "https://gw.example.com/async-function/env.dev"
    assert seen[0].headers["authorization"] == "Bearer t"
