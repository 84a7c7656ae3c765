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


# -- 5. server text reaching the terminal ----------------------------------------------

ESCAPES = "\x1b]52;c;aGVsbG8=\x07\x1b[2J"


def test_device_grant_text_and_oauth_errors_cannot_drive_the_terminal(
    hostile: HostileServer, run: Callable[..., CliResult], monkeypatch: pytest.MonkeyPatch
) -> None:
    hostile.discovery()
    hostile.route("/device")(lambda r: r.json(200, {
        "device_code": "dc-0123456789", "user_code": "ABCD\nfaasauth: forged line",
        # links with escapes are refused outright (hostile/test_browser_links.py)
        "verification_uri": "https://idp.example/device",
        "verification_uri_complete": "https://idp.example/device?c=1",
        "expires_in": 600, "interval": 1}))
    hostile.route("/token")(lambda r: r.json(400, {
        "error": f"access_denied{ESCAPES}", "error_description": f"no\nfaasauth: ok{ESCAPES}"}))
    result = run("auth", "--grant", "device", "--authority", hostile.url, "--client-id", "pub",
                 "--no-browser")
    assert result.code == 4
    assert "\x1b" not in result.err and "\x07" not in result.err
    assert not [line for line in result.err.splitlines() if line.startswith("faasauth: forged")]
    assert not [line for line in result.err.splitlines() if line.startswith("faasauth: ok")]
    assert "\\x1b" in result.err  # shown, escaped


def test_status_shows_a_hostile_subject_escaped(
    run: Callable[..., CliResult], tmp_path: pytest.TempPathFactory,
) -> None:
    from cli_support import make_jwt

    path = tmp_path / "token"  # type: ignore[operator]
    path.write_text(make_jwt({"sub": f"mallory{ESCAPES}\nfaasauth: forged",
                              "iss": f"https://evil{ESCAPES}", "exp": 4_000_000_000}))
    assert run("auth", "--token-file", str(path)).code == 0
    result = run("status")
    assert "\x1b" not in result.out + result.err and "\x07" not in result.out + result.err
    assert "mallory\\x1b" in result.out


# -- 6. the function token in messages ------------------------------------------------

FUNCTION_TOKEN = "fn-token-0123456789abcdef"


def invoke(capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch,
           *args: str) -> CliResult:
    """`faasauth invoke ...` in this process, with an empty binary stdin as a pipe gives."""
    import io
    import sys

    from faasauth.cli import app

    monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(b"")))
    capsys.readouterr()
    with pytest.raises(SystemExit) as info:
        app.main(["invoke", *args])
    out, err = capsys.readouterr()
    assert isinstance(info.value.code, int)
    return CliResult(info.value.code, out, err)


def _gateway(hostile: HostileServer, token: str, refusal: str) -> None:
    hostile.route("/oauth/token")(lambda r: r.json(200, {
        "access_token": token, "token_type": "Bearer", "expires_in": 300}))

    @hostile.route("/function/env")
    def function(request: Request) -> None:
        if "Authorization" not in request.headers:
            request.wfile.write(b"HTTP/1.1 401 Unauthorized\r\nWWW-Authenticate: Bearer "
                                b"realm=IAM function invoke\r\nContent-Length: 0\r\n"
                                b"Connection: close\r\n\r\n")
        else:
            request.wfile.write(f"HTTP/1.1 403 {refusal}\r\nContent-Length: 0\r\n"
                                "Connection: close\r\n\r\n".encode())


def test_a_reason_phrase_carrying_the_token_is_redacted(
    hostile: HostileServer, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    _gateway(hostile, FUNCTION_TOKEN, f"no thanks {FUNCTION_TOKEN}")
    monkeypatch.setenv("FAASAUTH_SUBJECT_TOKEN", SUBJECT)
    result = invoke(capsys, monkeypatch, "-v", "env", "-g", hostile.url)
    assert result.code == 4
    assert FUNCTION_TOKEN not in result.err and "403" in result.err


def test_a_token_a_header_cannot_carry_is_refused_before_sending(
    hostile: HostileServer, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    _gateway(hostile, "evil\r\nX-Injected: 1", "never reached")
    monkeypatch.setenv("FAASAUTH_SUBJECT_TOKEN", SUBJECT)
    result = invoke(capsys, monkeypatch, "env", "-g", hostile.url)
    assert result.code == 3
    # Refused where the exchange's answer is read (issue 21, 4), before a header could be.
    assert "holding characters no token may hold" in result.err
    assert "X-Injected" not in result.err
    assert len([r for r in hostile.seen if r.path == "/function/env"]) == 1  # the probe only


# -- 7. the identity token in clear -----------------------------------------------------


def test_an_exchange_over_plain_http_to_a_remote_gateway_warns_once(
    capsys: pytest.CaptureFixture[str],
) -> None:
    from faasauth.config.settings import Settings
    from faasauth.gateway.exchange import request_function_token
    from faasauth.runtime import Runtime

    def answer(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, json={"access_token": FUNCTION_TOKEN, "expires_in": 60})

    rt = Runtime(Settings(gateway="http://gw.example.com"),
                 http_options={"transport": httpx.MockTransport(answer)})
    request_function_token(rt, SUBJECT, "id_token", ["a:b"])
    request_function_token(rt, SUBJECT, "id_token", ["a:c"])
    rt.close()
    err = capsys.readouterr().err
    assert err.count("over plain http") == 1 and "gw.example.com" in err


def test_a_gateway_without_a_scheme_warns(run: Callable[..., CliResult]) -> None:
    result = run("status", "-g", "gw.example.com:8080")
    assert "has no scheme: using http://" in result.err
    quiet = run("status", "-g", "127.0.0.1:8080")
    assert "has no scheme" not in quiet.err


def test_dripping_headers_meet_the_overall_deadline(
    hostile: HostileServer, run: Callable[..., CliResult], monkeypatch: pytest.MonkeyPatch
) -> None:
    def headers_forever(request: Request) -> None:
        request.wfile.write(b"HTTP/1.1 200 OK\r\n")
        end = time.monotonic() + 10
        while time.monotonic() < end:
            request.wfile.write(b"X-Drip: 1\r\n")
            request.wfile.flush()
            time.sleep(0.2)

    hostile.route("/token")(headers_forever)
    result, took = _auth_against(hostile, run, monkeypatch, "--timeout", "1")
    assert result.code == 3 and "within 1s" in result.err
    assert took < 5


def test_a_function_dripping_its_headers_meets_the_timeout(
    hostile: HostileServer, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    @hostile.route("/function/slow-headers")
    def slow(request: Request) -> None:
        request.wfile.write(b"HTTP/1.1 200 OK\r\n")
        end = time.monotonic() + 10
        while time.monotonic() < end:
            request.wfile.write(b"X-Drip: 1\r\n")
            request.wfile.flush()
            time.sleep(0.2)

    started = time.monotonic()
    result = invoke(capsys, monkeypatch, "slow-headers", "-g", hostile.url, "--timeout", "1")
    assert result.code == 3 and "timed out after 1s waiting for the answer" in result.err
    assert time.monotonic() - started < 5
