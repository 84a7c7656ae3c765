"""Calls through `faasauth proxy`: the token added as invoke decides, the security rules
(Host, Origin, Sec-Fetch-Site, the caller's own Authorization), the token never in an
answer, redirects, and what a caller reads when the proxy cannot make the call."""

from __future__ import annotations

import json
import re
from typing import Callable

import httpx
import pytest

from faasauth.proxy.forward import masked
from faasauth.sandbox import Sandbox
from hostile.server import HostileServer, Request

from .conftest import Running, http_over

CHALLENGE = {"WWW-Authenticate": "Bearer realm=IAM function invoke",
             "X-OpenFaaS-Internal": "faas-middleware"}
TOKEN = "eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJwcm94eS10ZXN0In0." + "s" * 40


def test_calls_over_tcp_and_the_unix_socket_carry_a_function_token(
    sandbox: Sandbox, start_proxy: Callable[..., Running]
) -> None:
    proxy = start_proxy()
    assert proxy.url is not None
    tcp = httpx.post(f"{proxy.url}/function/echo-auth", content=b"hi")
    with http_over(proxy.socket) as unix:
        over_socket = unix.post("/function/echo-auth", content=b"ho")
    assert (tcp.status_code, tcp.content) == (200, b"hi")
    assert (over_socket.status_code, over_socket.content) == (200, b"ho")
    calls = [r for r in sandbox.requests if r.path == "/function/echo-auth"]
    # the first call probes (401), then every call carries a function token
    assert [(r.status, r.token) for r in calls] == [
        (401, "none"), (200, "function"), (200, "function")]
    assert sandbox.count("/oauth/token") == 1


def test_an_open_function_gets_no_token(sandbox: Sandbox, start_proxy: Callable[..., Running]) -> None:
    proxy = start_proxy()
    answer = httpx.get(f"{proxy.url}/function/echo?x=1")
    assert answer.status_code == 200
    assert [r.token for r in sandbox.requests if r.path == "/function/echo"] == ["none"]
    assert sandbox.count("/oauth/token") == 0


def test_auth_sends_a_token_at_once(sandbox: Sandbox, start_proxy: Callable[..., Running]) -> None:
    proxy = start_proxy("--auth")
    assert httpx.post(f"{proxy.url}/function/echo-auth", content=b"x").status_code == 200
    assert [r.status for r in sandbox.requests if r.path == "/function/echo-auth"] == [200]


@pytest.mark.parametrize("host", ["evil.example.com", "evil.example.com:{port}", "127.0.0.2:{port}",
                                  "localhost:1", "127.0.0.1"])
def test_a_foreign_host_header_is_refused_as_dns_rebinding(
    sandbox: Sandbox, start_proxy: Callable[..., Running], host: str
) -> None:
    proxy = start_proxy()
    port = proxy.url.rsplit(":", 1)[1] if proxy.url else ""
    answer = httpx.post(f"{proxy.url}/function/echo-auth", content=b"x",
                        headers={"Host": host.format(port=port)})
    assert answer.status_code == 403
    assert "DNS-rebound" in answer.text
    assert sandbox.count("/function/") == 0


@pytest.mark.parametrize("headers", [
    {"Origin": "https://evil.example"},
    {"Origin": "null"},
    {"Sec-Fetch-Site": "cross-site"},
    {"Sec-Fetch-Site": "same-site"},
])
def test_a_web_page_of_another_site_is_refused(
    sandbox: Sandbox, start_proxy: Callable[..., Running], headers: dict[str, str]
) -> None:
    proxy = start_proxy()
    answer = httpx.post(f"{proxy.url}/function/echo-auth", content=b"x", headers=headers)
    assert answer.status_code == 403
    assert "--allow-origin" in answer.text
    assert sandbox.count("/function/") == 0


def test_the_proxys_own_page_and_a_typed_address_are_served(
    sandbox: Sandbox, start_proxy: Callable[..., Running]
) -> None:
    proxy = start_proxy()
    assert proxy.url is not None
    own = httpx.post(f"{proxy.url}/function/echo", content=b"x",
                     headers={"Origin": proxy.url, "Sec-Fetch-Site": "same-origin"})
    typed = httpx.get(f"{proxy.url}/function/echo", headers={"Sec-Fetch-Site": "none"})
    assert (own.status_code, typed.status_code) == (200, 200)


def test_allow_origin_answers_cors_and_its_preflight(
    sandbox: Sandbox, start_proxy: Callable[..., Running]
) -> None:
    proxy = start_proxy("--allow-origin", "http://localhost:3000/")
    origin = {"Origin": "http://localhost:3000", "Sec-Fetch-Site": "cross-site"}
    preflight = httpx.options(f"{proxy.url}/function/echo-auth", headers={
        **origin, "Access-Control-Request-Method": "POST",
        "Access-Control-Request-Headers": "content-type"})
    assert preflight.status_code == 204
    assert preflight.headers["access-control-allow-origin"] == "http://localhost:3000"
    assert preflight.headers["access-control-allow-headers"] == "content-type"
    answer = httpx.post(f"{proxy.url}/function/echo-auth", content=b"hi", headers=origin)
    assert (answer.status_code, answer.content) == (200, b"hi")
    assert answer.headers["access-control-allow-origin"] == "http://localhost:3000"
    other = httpx.post(f"{proxy.url}/function/echo-auth", content=b"hi",
                       headers={"Origin": "http://localhost:3001"})
    assert other.status_code == 403


def test_allow_origin_refuses_what_is_not_an_origin(sandbox: Sandbox) -> None:
    from .conftest import faasauth

    result = faasauth("proxy", "--allow-origin", "http://x.example/path")
    assert result.returncode == 2
    assert b"is not an origin" in result.stderr
    assert b"Traceback" not in result.stderr


def _hostile_gateway(hostile: HostileServer, monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """A gateway whose function echoes the Authorization it gets, in a header and in the
    body (split across chunks); tokens from its /oauth/token."""
    monkeypatch.setenv("OPENFAAS_URL", hostile.url)
    monkeypatch.setenv("FAASAUTH_SUBJECT_TOKEN", TOKEN.replace("proxy", "subje"))
    exchanged: list[str] = []

    @hostile.route("/oauth/token")
    def token(request: Request) -> None:
        exchanged.append(request.body.decode())
        request.json(200, {"access_token": TOKEN, "token_type": "Bearer", "expires_in": 300})

    @hostile.route("/function/echo-auth")
    def echo(request: Request) -> None:
        sent = request.headers.get("Authorization", "")
        if not sent:
            request.send(401, b"Bearer must be present in Authorization header\n",
                         "text/plain", CHALLENGE)
            return
        value = sent.encode()
        body = b'{"seen": "' + value[:20] + b'", "rest": "' + value[20:] + b'", "all": "' + value + b'"}'
        request.send(200, body, headers={"X-Echo": sent})

    @hostile.route("/function/refuse")
    def refuse(request: Request) -> None:
        sent = request.headers.get("Authorization", "")
        if not sent:
            request.send(401, b"Bearer must be present\n", "text/plain", CHALLENGE)
            return
        request.send(401, b"invalid JWT token: " + sent.removeprefix("Bearer ").encode() + b"\n",
                     "text/plain", CHALLENGE)

    return exchanged


def test_the_token_never_reaches_the_caller(
    hostile: HostileServer, monkeypatch: pytest.MonkeyPatch, start_proxy: Callable[..., Running]
) -> None:
    _hostile_gateway(hostile, monkeypatch)
    proxy = start_proxy()
    answer = httpx.post(f"{proxy.url}/function/echo-auth", content=b"x")
    assert answer.status_code == 200
    assert TOKEN not in answer.text and TOKEN not in str(answer.headers)
    assert answer.headers["x-echo"] == "Bearer " + "*" * len(TOKEN)
    assert json.loads(answer.text)["all"] == "Bearer " + "*" * len(TOKEN)
    refused = httpx.post(f"{proxy.url}/function/refuse", content=b"x")
    assert refused.status_code == 401
    assert TOKEN not in refused.text
    assert hostile.seen[-1].headers["Authorization"] == f"Bearer {TOKEN}"  # it was sent


def test_masking_survives_any_chunk_boundary() -> None:
    secret = b"SECRET-TOKEN"
    text = b"a" * 5 + secret + b"b" * 3 + secret
    for size in range(1, len(text) + 1):
        chunks = [text[i:i + size] for i in range(0, len(text), size)]
        out = b"".join(masked(iter(chunks), secret))
        assert out == text.replace(secret, b"*" * len(secret)), size


def test_a_callers_own_authorization_goes_through_untouched(
    hostile: HostileServer, monkeypatch: pytest.MonkeyPatch, start_proxy: Callable[..., Running]
) -> None:
    exchanged = _hostile_gateway(hostile, monkeypatch)
    proxy = start_proxy("--auth")
    answer = httpx.post(f"{proxy.url}/function/echo-auth", content=b"x",
                        headers={"Authorization": "Bearer the-callers-own"})
    assert answer.status_code == 200
    assert hostile.seen[-1].headers["Authorization"] == "Bearer the-callers-own"
    assert exchanged == []  # nothing of the proxy's was added or even fetched


def test_a_redirect_on_the_gateway_points_at_the_proxy_and_another_stays(
    hostile: HostileServer, monkeypatch: pytest.MonkeyPatch, start_proxy: Callable[..., Running]
) -> None:
    _hostile_gateway(hostile, monkeypatch)
    hostile.routes["/function/moved"] = lambda r: r.send(
        302, b"", "text/plain", {"Location": f"{hostile.url}/function/echo?x=1"})
    hostile.routes["/function/away"] = lambda r: r.send(
        307, b"", "text/plain", {"Location": "https://elsewhere.example/x"})
    proxy = start_proxy()
    moved = httpx.get(f"{proxy.url}/function/moved")
    assert (moved.status_code, moved.headers["location"]) == (302, f"{proxy.url}/function/echo?x=1")
    away = httpx.get(f"{proxy.url}/function/away")
    assert (away.status_code, away.headers["location"]) == (307, "https://elsewhere.example/x")


def test_without_a_login_the_caller_reads_what_to_run(
    sandbox: Sandbox, start_proxy: Callable[..., Running], tmp_path_factory: pytest.TempPathFactory
) -> None:
    import os

    proxy = start_proxy(env={**os.environ, "FAASAUTH_HOME": str(tmp_path_factory.mktemp("empty"))})
    answer = httpx.post(f"{proxy.url}/function/echo-auth", content=b"x")
    assert answer.status_code == 401
    assert answer.text.startswith("faasauth proxy: ")
    assert "faasauth auth" in answer.text
    assert "www-authenticate" not in answer.headers  # not the function's challenge


def test_the_gateway_down_is_a_502_naming_it(
    start_proxy: Callable[..., Running], monkeypatch: pytest.MonkeyPatch
) -> None:
    import socket

    with socket.socket() as free:
        free.bind(("127.0.0.1", 0))
        port = free.getsockname()[1]
    monkeypatch.setenv("OPENFAAS_URL", f"http://127.0.0.1:{port}")
    monkeypatch.setenv("FAASAUTH_SUBJECT_TOKEN", TOKEN)
    proxy = start_proxy()
    answer = httpx.get(f"{proxy.url}/function/echo")
    assert answer.status_code == 502
    assert f"127.0.0.1:{port}" in answer.text and "cannot connect" in answer.text


def test_other_paths_and_the_control_endpoints_over_tcp(
    sandbox: Sandbox, start_proxy: Callable[..., Running]
) -> None:
    proxy = start_proxy()
    other = httpx.get(f"{proxy.url}/system/functions")
    assert other.status_code == 404 and "/function/NAME" in other.text
    for path in ("/_faasauth/status", "/_faasauth/stop"):
        assert httpx.post(f"{proxy.url}{path}").status_code == 404
    relay = httpx.get(f"{proxy.url}/function/echo", headers={"X-Faasauth-Relay": "1"})
    assert relay.status_code == 403
    with http_over(proxy.socket) as unix:
        status = unix.get("/_faasauth/status").json()
    assert status["gateway"] == sandbox.gateway_url and status["pid"] == proxy.pid
    assert re.fullmatch(r"http://127\.0\.0\.1:\d+", status["url"])
    assert proxy.proc.poll() is None


def test_a_large_body_streams_both_ways(sandbox: Sandbox, start_proxy: Callable[..., Running]) -> None:
    proxy = start_proxy("--auth")
    body = bytes(range(256)) * 40000  # 10 MB
    chunks = (body[i:i + 65536] for i in range(0, len(body), 65536))
    with httpx.Client(timeout=30) as client:
        answer = client.post(f"{proxy.url}/function/echo-auth", content=chunks)
    assert answer.status_code == 200 and answer.content == body
