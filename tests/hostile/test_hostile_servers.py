"""Hardening against hostile and broken servers (issue 16): a scripted server on 127.0.0.1
plays the identity provider or the gateway; faasauth must keep every secret out of what it
prints, refuse downgrades, and stop reading answers that are too large or too slow."""

from __future__ import annotations

import base64
import gzip
import json
import time
from typing import Callable
from urllib.parse import quote, quote_plus

import httpx
import pytest

from cli_support import CliResult, cli_runner
from hostile.server import HostileServer, Request, drip, endless_chunks

SECRET = "SuperSecret+%:1 spaced/x"
SUBJECT = "OpaqueSubj+Token/with=odd&chars%"


@pytest.fixture
def run(capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> Callable[..., CliResult]:
    return cli_runner(capsys, monkeypatch)


def forms_of(secret: str, client_id: str = "cid") -> list[str]:
    pair = f"{quote_plus(client_id, safe='')}:{quote_plus(secret, safe='')}"
    basic = base64.b64encode(pair.encode()).decode()
    return [secret, quote_plus(secret, safe=""), quote(secret, safe=""),
            quote(secret, safe="").lower(), quote_plus(secret, safe="").lower(), basic]


def echo(request: Request) -> str:
    return f"{request.headers.get('Authorization', '')} {request.body.decode('latin-1')}"


def assert_clean(text: str, secret: str) -> None:
    leaked = [form for form in forms_of(secret) if form in text]
    assert not leaked, f"leaked {leaked!r} in {text!r}"


# -- 1. echoed secrets in encoded forms ------------------------------------------------


@pytest.mark.parametrize("method", ["client_secret_basic", "client_secret_post"])
@pytest.mark.parametrize("how", ["oauth_error", "text_500"])
def test_a_token_endpoint_echoing_the_request_never_shows_the_secret(
    hostile: HostileServer, run: Callable[..., CliResult], monkeypatch: pytest.MonkeyPatch,
    method: str, how: str,
) -> None:
    hostile.discovery(token_endpoint_auth_methods_supported=[method])

    @hostile.route("/token")
    def token(request: Request) -> None:
        if how == "oauth_error":
            request.json(400, {"error": "invalid_client", "error_description": echo(request)})
        else:
            request.send(500, echo(request).encode(), "text/plain")

    monkeypatch.setenv("FAASAUTH_CLIENT_SECRET", SECRET)
    result = run("auth", "-v", "--authority", hostile.url, "--client-id", "cid")
    assert result.code in (3, 4), result.err
    assert_clean(result.err + result.out, SECRET)
    assert "<redacted>" in result.err  # the echo was there, and was redacted


def test_a_gateway_echoing_an_opaque_subject_token_never_shows_it(
    hostile: HostileServer, run: Callable[..., CliResult], monkeypatch: pytest.MonkeyPatch
) -> None:
    @hostile.route("/oauth/token")
    def exchange(request: Request) -> None:
        request.json(400, {"error": "invalid_request", "error_description": echo(request)})

    monkeypatch.setenv("FAASAUTH_SUBJECT_TOKEN", SUBJECT)
    result = run("exchange", "-v", "-g", hostile.url)
    assert result.code == 4, result.err
    assert_clean(result.err + result.out, SUBJECT)


# -- 2. discovery must not downgrade the token endpoint ------------------------------


def _resolve(document: dict[str, object], authority: str) -> None:
    from faasauth.config.settings import Settings
    from faasauth.idp.discovery import resolve_endpoints
    from faasauth.runtime import Runtime

    def answer(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, json=document)

    rt = Runtime(Settings(gateway="https://gw.example.com"),
                 http_options={"transport": httpx.MockTransport(answer)})
    try:
        resolve_endpoints(rt, authority, token_url=None, device_url=None, need_device=False)
    finally:
        rt.close()


def test_an_https_authority_naming_an_http_token_endpoint_is_refused() -> None:
    from faasauth.errors import MalformedResponse

    authority = "https://idp.example.com"
    with pytest.raises(MalformedResponse) as raised:
        _resolve({"issuer": authority, "token_endpoint": "http://other-host/token"}, authority)
    assert "token_endpoint" in raised.value.message and "other-host" in raised.value.message
    # loopback stays allowed, and https is fine
    _resolve({"issuer": authority, "token_endpoint": "http://127.0.0.1:9/token"}, authority)
    _resolve({"issuer": authority, "token_endpoint": "https://other-host/token"}, authority)


def test_discovery_naming_another_issuer_is_refused(
    hostile: HostileServer, run: Callable[..., CliResult], monkeypatch: pytest.MonkeyPatch
) -> None:
    hostile.discovery(issuer="http://evil.example")
    monkeypatch.setenv("FAASAUTH_CLIENT_SECRET", SECRET)
    result = run("auth", "--authority", hostile.url, "--client-id", "cid")
    assert result.code == 3
    assert "issuer" in result.err and "evil.example" in result.err
    assert not [r for r in hostile.seen if r.path == "/token"]  # no secret was sent


# -- 3 and 4. answers too large, too slow ----------------------------------------------


def _auth_against(hostile: HostileServer, run: Callable[..., CliResult],
                  monkeypatch: pytest.MonkeyPatch, *extra: str) -> tuple[CliResult, float]:
    hostile.discovery()
    monkeypatch.setenv("FAASAUTH_CLIENT_SECRET", SECRET)
    started = time.monotonic()
    result = run("auth", "--authority", hostile.url, "--client-id", "cid", *extra)
    return result, time.monotonic() - started


def test_a_huge_token_answer_is_not_read_whole(
    hostile: HostileServer, run: Callable[..., CliResult], monkeypatch: pytest.MonkeyPatch
) -> None:
    hostile.route("/token")(lambda r: r.send(200, b'{"x": "' + b"a" * 5_000_000 + b'"}'))
    result, _ = _auth_against(hostile, run, monkeypatch)
    assert result.code == 3
    assert "more than 256 KiB" in result.err and "127.0.0.1:" in result.err


def test_an_endless_chunked_answer_ends_at_the_cap(
    hostile: HostileServer, run: Callable[..., CliResult], monkeypatch: pytest.MonkeyPatch
) -> None:
    hostile.route("/token")(lambda r: endless_chunks(r, b"x" * 65536, seconds=15))
    result, took = _auth_against(hostile, run, monkeypatch)
    assert result.code == 3 and "more than 256 KiB" in result.err
    assert took < 10


def test_a_gzip_bomb_is_capped_after_decompression(
    hostile: HostileServer, run: Callable[..., CliResult], monkeypatch: pytest.MonkeyPatch
) -> None:
    bomb = gzip.compress(b'{"access_token": "' + b"0" * 50_000_000 + b'"}', 9)
    assert len(bomb) < 100_000
    hostile.route("/token")(
        lambda r: r.send(200, bomb, headers={"Content-Encoding": "gzip"}))
    result, _ = _auth_against(hostile, run, monkeypatch)
    assert result.code == 3 and "more than 256 KiB" in result.err


def test_a_dripping_answer_meets_the_overall_deadline(
    hostile: HostileServer, run: Callable[..., CliResult], monkeypatch: pytest.MonkeyPatch
) -> None:
    head = (b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
            b"Content-Length: 100000\r\nConnection: close\r\n\r\n")
    hostile.route("/token")(lambda r: drip(r, head, b" ", every=0.2, seconds=15))
    result, took = _auth_against(hostile, run, monkeypatch, "--timeout", "1")
    assert result.code == 3
    assert "did not finish its answer within 1s" in result.err
    assert took < 5


def test_a_huge_discovery_document_is_refused(
    hostile: HostileServer, run: Callable[..., CliResult], monkeypatch: pytest.MonkeyPatch
) -> None:
    document = json.dumps({"issuer": "x", "pad": "p" * 400_000}).encode()
    hostile.route("/.well-known/openid-configuration")(lambda r: r.send(200, document))
    monkeypatch.setenv("FAASAUTH_CLIENT_SECRET", SECRET)
    result = run("auth", "--authority", hostile.url, "--client-id", "cid")
    assert result.code == 3 and "more than 256 KiB" in result.err
