"""Issue 21, findings 3 and 9: a server echoing every secret it was sent, in every encoding
(raw, form- and percent-encoded, HTTP Basic decoded, base64 and base64url, alone or inside a
longer base64 text), in its reason phrase, its headers and its error body. Neither the
`--verbose` lines nor the error message may show any of it."""

from __future__ import annotations

import base64
import json
import re
from typing import Callable
from urllib.parse import parse_qsl, quote, quote_plus, unquote_plus

import pytest

from cli_support import CliResult, cli_runner
from hostile.server import HostileServer, Request

SECRET = "SuperSecret+%:1 spaced/x"
SUBJECT = "OpaqueSubj+Token/with=odd&chars%"
SECRET_FIELDS = ("client_secret", "subject_token", "code", "code_verifier", "refresh_token",
                 "device_code")


@pytest.fixture
def run(capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> Callable[..., CliResult]:
    return cli_runner(capsys, monkeypatch)


def encodings(value: str) -> dict[str, str]:
    """Every form of `value` the hostile server echoes (and the test looks for)."""
    raw = value.encode()
    return {
        "raw": value,
        "form": quote_plus(value, safe=""),
        "percent": quote(value, safe=""),
        "percent-lower": re.sub("%[0-9A-F]{2}", lambda m: m.group(0).lower(),
                                quote(value, safe="")),
        "base64": base64.b64encode(raw).decode(),
        "base64-bare": base64.b64encode(raw).decode().rstrip("="),
        "base64url": base64.urlsafe_b64encode(raw).decode().rstrip("="),
        "base64-form": base64.b64encode(quote_plus(value, safe="").encode()).decode(),
        # inside a longer base64 text, at each of the three alignments
        **{f"base64-inside-{n}": base64.b64encode(b"x" * n + b"said: " + raw + b" ok").decode()
           for n in range(3)},
        "base64url-inside": base64.urlsafe_b64encode(b"echo " + raw).decode().rstrip("="),
    }


def secrets_in(request: Request) -> list[str]:
    """What the request carried: its Authorization (Basic decoded too) and secret fields."""
    found = []
    scheme, _, credentials = request.headers.get("Authorization", "").partition(" ")
    if credentials:
        found.append(credentials)
        if scheme.lower() == "basic":
            pair = base64.b64decode(credentials).decode()
            found += [pair, unquote_plus(pair.partition(":")[2])]
    body = request.body.decode("latin-1")
    found += [v for k, v in parse_qsl(body) if k in SECRET_FIELDS]
    return found


class Echo:
    """A handler answering `status` with every form of every secret the request carried."""

    def __init__(self, status: int = 400) -> None:
        self.status = status
        self.echoed: list[str] = []

    def __call__(self, request: Request) -> None:
        headers: dict[str, str] = {}
        said: list[str] = []
        for i, secret in enumerate(secrets_in(request)):
            for name, form in encodings(secret).items():
                headers[f"X-Echo-{i}-{name}"] = form
                said.append(form)
                self.echoed.append(form)
        reason = " ".join(said[:4]) or "Nothing"
        body = json.dumps({"error": "invalid_grant", "error_description": " ".join(said)})
        lines = [f"HTTP/1.1 {self.status} {reason}", "Content-Type: application/json",
                 f"Content-Length: {len(body)}", "Connection: close"]
        lines += [f"{k}: {v}" for k, v in headers.items()]
        request.wfile.write(("\r\n".join(lines) + "\r\n\r\n" + body).encode("latin-1"))


def leaks(text: str, echoed: list[str]) -> list[str]:
    found = [form for form in echoed if form in text]
    # a long base64 text must not show the part that holds the secret either
    return found + [form[8:-8] for form in echoed if len(form) > 24 and form[8:-8] in text]


def assert_nothing_echoed(text: str, echo: Echo) -> None:
    """Neither the --verbose lines (finding 3) nor the message (finding 9) show an echo."""
    assert echo.echoed, "the server saw no secret to echo"
    lines = text.splitlines()
    verbose = "\n".join(line for line in lines if line.startswith(("< ", "> ")))
    message = "\n".join(line for line in lines if not line.startswith(("< ", "> ")))
    assert not leaks(verbose, echo.echoed), f"--verbose leaked {leaks(verbose, echo.echoed)!r}"
    assert not leaks(message, echo.echoed), f"the message leaked in:\n{message}"
    assert "<redacted>" in verbose and "<redacted>" in message


# -- the command line, -v: the client secret and the subject token -----------------------


@pytest.mark.parametrize("method", ["client_secret_basic", "client_secret_post"])
def test_verbose_and_the_message_show_no_echoed_client_secret(
    hostile: HostileServer, run: Callable[..., CliResult], monkeypatch: pytest.MonkeyPatch,
    method: str,
) -> None:
    hostile.discovery(token_endpoint_auth_methods_supported=[method])
    echo = hostile.route("/token")(Echo())
    monkeypatch.setenv("FAASAUTH_CLIENT_SECRET", SECRET)
    result = run("auth", "-v", "--authority", hostile.url, "--client-id", "cid")
    assert result.code == 4, result.err
    assert "< X-Echo-0-raw: <redacted>" in result.err or "< x-echo-0-raw: <redacted>" in result.err
    assert_nothing_echoed(result.err + result.out, echo)


@pytest.mark.parametrize("status", [400, 401, 500])
def test_verbose_and_the_message_show_no_echoed_subject_token(
    hostile: HostileServer, run: Callable[..., CliResult], monkeypatch: pytest.MonkeyPatch,
    status: int,
) -> None:
    echo = hostile.route("/oauth/token")(Echo(status))
    monkeypatch.setenv("FAASAUTH_SUBJECT_TOKEN", SUBJECT)
    result = run("exchange", "-v", "-g", hostile.url)
    assert result.code in (3, 4), result.err
    assert_nothing_echoed(result.err + result.out, echo)


# -- every other secret a token request carries --------------------------------------------


@pytest.mark.parametrize("field", ["code", "code_verifier", "refresh_token", "device_code"])
def test_an_idp_echoing_a_token_requests_secret_field_is_redacted(
    hostile: HostileServer, capsys: pytest.CaptureFixture[str], field: str
) -> None:
    from faasauth.config.settings import Settings
    from faasauth.errors import FaasauthError
    from faasauth.idp.forms import Client, token_request
    from faasauth.runtime import Runtime

    echo = hostile.route("/token")(Echo())
    rt = Runtime(Settings(gateway=hostile.url, verbose=True))
    value = f"{field}-Value+/with=odd&chars%_0123456789"
    try:
        with pytest.raises(FaasauthError) as raised:
            token_request(rt, f"{hostile.url}/token", {"grant_type": "x", field: value},
                          Client("cid", SECRET))
    finally:
        rt.close()
    err = capsys.readouterr().err
    assert_nothing_echoed(err + "\n" + raised.value.message, echo)
    assert value in echo.echoed  # it was sent, and came back


# -- a function's refusal: its reason phrase and body --------------------------------------


FUNCTION_TOKEN = "opaque-Function+Token/0123456789"


def test_a_function_echoing_its_token_in_base64_is_redacted(
    hostile: HostileServer, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    from hostile.test_hostile_servers import invoke

    hostile.route("/oauth/token")(lambda r: r.json(200, {
        "access_token": FUNCTION_TOKEN, "token_type": "Bearer", "expires_in": 300}))
    forms = encodings(FUNCTION_TOKEN)
    echoed = [forms[n] for n in ("base64", "base64url", "base64-inside-1", "base64url-inside")]

    @hostile.route("/function/env")
    def function(request: Request) -> None:
        if "Authorization" not in request.headers:
            request.wfile.write(b"HTTP/1.1 401 Unauthorized\r\nWWW-Authenticate: Bearer "
                                b"realm=IAM function invoke\r\nContent-Length: 0\r\n"
                                b"Connection: close\r\n\r\n")
            return
        body = f"invalid JWT token: {echoed[2]} {echoed[3]}\n"
        request.wfile.write(
            f"HTTP/1.1 401 bad token {echoed[0]} {echoed[1]}\r\nX-OpenFaaS-Internal: "
            f"faas-middleware\r\nContent-Type: text/plain\r\nContent-Length: {len(body)}"
            f"\r\nConnection: close\r\n\r\n{body}".encode())

    monkeypatch.setenv("FAASAUTH_SUBJECT_TOKEN", SUBJECT)
    result = invoke(capsys, monkeypatch, "-v", "env", "-g", hostile.url)
    assert result.code == 4, result.err
    assert "refused the call: 401" in result.err
    assert not leaks(result.err, echoed), result.err
    assert result.err.count("<redacted>") >= 4


# -- the redactor itself ---------------------------------------------------------------------


def test_every_encoding_of_a_secret_is_redacted() -> None:
    from faasauth.tokens.redact import Redactor

    clean = Redactor([SECRET])
    for name, form in encodings(SECRET).items():
        shown = clean(f"header: {form}; end")
        assert form not in shown and "<redacted>" in shown, name
        if len(form) > 24:
            assert form[8:-8] not in shown, name


def test_text_without_the_secret_is_left_alone() -> None:
    from faasauth.tokens.redact import Redactor

    text = "invalid_client: client authentication failed for cid (c2VjcmV0IGxvb2tz)"
    assert Redactor([SECRET])(text) == text


def test_an_oauth_error_is_cut_to_a_line() -> None:
    from faasauth.tokens.response import TokenError

    # (post_form redacts what the request carried when it builds the TokenError, before
    # this cut: the echo tests above send descriptions far longer than 300 characters)
    said = TokenError(400, "invalid_grant", "x" * 275 + " a b c " + "y" * 500).message()
    assert len(said) == 300 and said.endswith("…") and said.startswith("invalid_grant: xxx")
