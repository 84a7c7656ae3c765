"""Issue 21, findings 10-12: the ambient sources' inputs are checked before use.

10. GitHub's request token must be one a header can carry, and no library text (which
    quotes the header) reaches a message.
11. GitHub's request URL must be https:// (or http:// to loopback); the request honours
    --timeout; failures are in faasauth's words.
12. A token whose `aud` does not name the gateway (say, one a stack file chose) is not sent.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path

import pytest

from cli_support import CliResult, make_jwt
from hostile.server import HostileServer, Request, hostile  # noqa: F401 (the fixture)

REQUEST_TOKEN = "request-token-0123456789"


def github_job(monkeypatch: pytest.MonkeyPatch, url: str, token: str = REQUEST_TOKEN) -> None:
    monkeypatch.setenv("GITHUB_ACTIONS", "true")
    monkeypatch.setenv("ACTIONS_ID_TOKEN_REQUEST_URL", url)
    monkeypatch.setenv("ACTIONS_ID_TOKEN_REQUEST_TOKEN", token)


def id_token(aud: object) -> str:
    now = int(time.time())
    return make_jwt({"iss": "https://gitlab.example.com", "sub": "project_path:g/p:ref:main",
                     "aud": aud, "iat": now, "exp": now + 600})


def answers_a_token(hostile: HostileServer, aud: str = "http://127.0.0.1:8080") -> None:
    hostile.route("/idtoken")(lambda r: r.json(200, {"count": 1, "value": id_token(aud)}))


# -- 10. the request token ------------------------------------------------------------------


@pytest.mark.parametrize("token", [
    "secret-request\ntoken-xyz", "secret-request\r\nX-Injected: 1", "secret request token",
    "secret-request-tök", "secret-request\x1b]52;c;token",
])
def test_a_request_token_a_header_cannot_carry_is_refused_unsent(
    hostile: HostileServer, run_cli: Callable[..., CliResult],  # noqa: F811
    monkeypatch: pytest.MonkeyPatch, token: str,
) -> None:
    answers_a_token(hostile)
    github_job(monkeypatch, f"{hostile.url}/idtoken?api-version=2.0", token)
    result = run_cli("auth", "--ambient")
    assert result.code == 2, result.err
    assert "ACTIONS_ID_TOKEN_REQUEST_TOKEN cannot be sent" in result.err
    assert "secret" not in result.err and "Illegal" not in result.err
    assert hostile.seen == []


def test_a_request_token_with_a_final_newline_is_used() -> None:
    from faasauth.idp.ambient_sources import github_request

    env = {"ACTIONS_ID_TOKEN_REQUEST_URL": " https://gh.example/x?a=1\n",
           "ACTIONS_ID_TOKEN_REQUEST_TOKEN": REQUEST_TOKEN + "\n"}
    assert github_request(env) == ("https://gh.example/x?a=1", REQUEST_TOKEN)


def test_a_header_the_library_refuses_is_described_in_faasauths_words() -> None:
    import httpx

    from faasauth.config.settings import Settings
    from faasauth.http import transport_failure

    exc = httpx.LocalProtocolError(f"Illegal header value b'bearer {REQUEST_TOKEN}\\n'")
    failure = transport_failure(exc, "requesting a token", Settings())
    assert REQUEST_TOKEN not in failure.message and "Illegal" not in failure.message
    assert "not sent" in failure.message
    odd = httpx.ConnectError(f"proxy said no to {REQUEST_TOKEN}")
    assert REQUEST_TOKEN not in transport_failure(odd, "x", Settings()).message
    refused = httpx.ConnectError("[Errno 111] Connection refused")
    assert transport_failure(refused, "x", Settings()).message == "x: cannot connect: Connection refused"


# -- 11. the request URL, the timeout, the wording ------------------------------------------


@pytest.mark.parametrize(("url", "why"), [
    ("http://gh.example.com/idtoken?api-version=2.0", "must be an https:// URL"),
    ("ftp://127.0.0.1/idtoken", "must be an https:// URL"),
    ("gh.example.com/idtoken", "is not a valid URL"),
    ("https:///idtoken", "is not a valid URL"),
    ("https://user:pw@gh.example.com/idtoken", "is not a valid URL"),
    ("https://gh.example.com/id token", "is not a valid URL"),
    ("https://gh.example.com:99999/idtoken", "is not a valid URL"),
])
def test_a_request_url_that_is_not_https_or_loopback_is_refused_unsent(
    run_cli: Callable[..., CliResult], monkeypatch: pytest.MonkeyPatch, url: str, why: str,
) -> None:
    github_job(monkeypatch, url)
    result = run_cli("auth", "--ambient", "-g", "https://gw.example.com")
    assert result.code == 2, result.err
    assert f"ACTIONS_ID_TOKEN_REQUEST_URL {why}" in result.err
    assert REQUEST_TOKEN not in result.err and "pw" not in result.err


def test_the_request_honours_timeout(
    hostile: HostileServer, run_cli: Callable[..., CliResult],  # noqa: F811
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    @hostile.route("/idtoken")
    def slow(request: Request) -> None:
        time.sleep(6)
        request.json(200, {"value": id_token("http://127.0.0.1:8080")})

    github_job(monkeypatch, f"{hostile.url}/idtoken?api-version=2.0")
    started = time.monotonic()
    result = run_cli("auth", "--ambient", "--timeout", "1")
    assert time.monotonic() - started < 4.5, result.err
    assert result.code == 3, result.err
    assert "requesting a GitHub Actions ID token" in result.err and "1s" in result.err


def test_a_refused_connection_is_said_in_faasauths_words(
    run_cli: Callable[..., CliResult], monkeypatch: pytest.MonkeyPatch,
) -> None:
    import socket

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    github_job(monkeypatch, f"http://127.0.0.1:{port}/idtoken?api-version=2.0")
    result = run_cli("auth", "--ambient")
    assert result.code == 3, result.err
    assert result.err.startswith(
        f"faasauth: requesting a GitHub Actions ID token (http://127.0.0.1:{port}): "
        "cannot connect: Connection refused"), result.err


# -- 12. a token goes only to the gateway its aud names ---------------------------------------


@pytest.mark.parametrize(("aud", "gateway"), [
    ("https://gw.example.com", "https://gw.example.com"),
    ("https://gw.example.com/", "https://gw.example.com"),
    ("HTTPS://GW.Example.com:443", "https://gw.example.com"),
    ("gw.example.com", "https://gw.example.com"),
    ("gw.example.com:8443", "https://gw.example.com:8443"),
    ("https://gw.example.com", "https://gw.example.com/openfaas"),
    ("https://gw.example.com/openfaas/", "https://gw.example.com/openfaas"),
    ("http://gateway.openfaas:8080", "http://gateway.openfaas:8080"),
    ("http://127.0.0.1:8080", "http://127.0.0.1:8080"),
])
def test_audiences_that_name_the_gateway(aud: str, gateway: str) -> None:
    from faasauth.idp.ambient import names_gateway

    assert names_gateway(aud, gateway)


@pytest.mark.parametrize(("aud", "gateway"), [
    ("https://gw.example.com", "https://evil.example.com"),
    ("https://gw.example.com", "http://gw.example.com"),
    ("https://gw.example.com", "https://gw.example.com:8443"),
    ("gw.example.com:8443", "https://gw.example.com"),
    ("https://gw.example.com.evil.com", "https://gw.example.com"),
    ("https://evil.com@gw.example.com", "https://gw.example.com"),
    ("https://gw.example.com/other", "https://gw.example.com/openfaas"),
    ("https://gw.example.com?x=1", "https://gw.example.com"),
    ("openfaas", "http://gateway.openfaas:8080"),
    ("", "http://gateway.openfaas:8080"),
    ("https://gw.example.com:bad", "https://gw.example.com"),
])
def test_audiences_that_do_not(aud: str, gateway: str) -> None:
    from faasauth.idp.ambient import names_gateway

    assert not names_gateway(aud, gateway)


def gitlab_job(monkeypatch: pytest.MonkeyPatch, aud: object) -> None:
    monkeypatch.setenv("GITLAB_CI", "true")
    monkeypatch.setenv("OPENFAAS_ID_TOKEN", id_token(aud))


def test_a_stack_file_cannot_send_a_gitlab_token_to_its_own_gateway(
    hostile: HostileServer, run_cli: Callable[..., CliResult],  # noqa: F811
    monkeypatch: pytest.MonkeyPatch, isolated_environment: Path,
) -> None:
    hostile.route("/oauth/token")(lambda r: r.json(200, {"access_token": "x", "expires_in": 60}))
    Path("stack.yml").write_text(f"provider:\n  gateway: {hostile.url}\n")
    gitlab_job(monkeypatch, "https://gw.example.com")
    result = run_cli("auth", "--ambient", "--faas-cli")
    assert result.code == 2, result.err
    lines = result.err.splitlines()
    assert lines[0] == (
        "faasauth: the token from GitLab CI ID token in $OPENFAAS_ID_TOKEN is for the audience "
        f"https://gw.example.com, not for the gateway {hostile.url} it would be sent to; "
        "not sent")
    assert lines[1].startswith("hint: name the gateway with -g or OPENFAAS_URL")
    assert hostile.seen == []
    assert not list((isolated_environment / "tokens").glob("*.json"))


@pytest.mark.parametrize("aud", [["https://other.example.com"], None, 42])
def test_a_token_with_no_matching_aud_is_refused(
    run_cli: Callable[..., CliResult], monkeypatch: pytest.MonkeyPatch, aud: object,
) -> None:
    gitlab_job(monkeypatch, aud)
    monkeypatch.setenv("OPENFAAS_URL", "https://gw.example.com")
    result = run_cli("auth", "--ambient")
    assert result.code == 2, result.err
    assert "not for the gateway https://gw.example.com" in result.err


@pytest.mark.parametrize(("aud", "extra"), [
    ("https://gw.example.com/", ()),  # the documented GitLab setup, with a trailing slash
    (["https://gw.example.com", "other"], ()),
    ("openfaas", ("--ambient-audience", "openfaas")),  # an audience asked for explicitly
])
def test_a_token_for_the_gateway_or_the_asked_audience_is_kept(
    run_cli: Callable[..., CliResult], monkeypatch: pytest.MonkeyPatch, aud: object,
    extra: tuple[str, ...],
) -> None:
    gitlab_job(monkeypatch, aud)
    monkeypatch.setenv("OPENFAAS_URL", "https://gw.example.com")
    result = run_cli("auth", "--ambient", *extra)
    assert result.code == 0, result.err


def test_the_library_checks_the_audience_before_an_exchange(
    hostile: HostileServer, monkeypatch: pytest.MonkeyPatch,  # noqa: F811
) -> None:
    import faasauth

    hostile.route("/oauth/token")(lambda r: r.json(200, {"access_token": "x", "expires_in": 60}))
    gitlab_job(monkeypatch, "https://gw.example.com")
    with pytest.raises(faasauth.UsageFailure, match="not for the gateway"):
        faasauth.function_token("openfaas-fn:env", gateway=hostile.url, subject=faasauth.Ambient())
    assert hostile.seen == []
