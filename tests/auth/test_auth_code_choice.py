"""The browser login's odd cases with an IdP that says what each test tells it
(pytest-httpserver): which grant is chosen without --grant, the ID token checks, the hints
that print the real command. The flow itself is tested on the real IdP
(tests/integration/test_auth_code.py) and in chromium (tests/e2e/test_auth_code_cli.py)."""

from __future__ import annotations

import time
from typing import Callable
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest

from auth.helpers import CliResult, IdP, make_jwt, make_runtime
from faasauth.errors import LoginFailed, MalformedResponse, NotLoggedIn
from faasauth.flows.login import renew
from faasauth.idp.authorization_code import check_id_token
from faasauth.tokens.login import Login
from faasauth.tokens.response import TokenResponse

CHOSE_CODE = "Logging in with the browser (--grant code): a browser can be opened here"


@pytest.fixture
def browser_here(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """A browser may be opened; it answers every login with error=access_denied at once."""
    from faasauth.cli import browser_prompt

    opened: list[str] = []

    def deny(url: str) -> bool:
        # faasauth hands the browser its one-shot start address, which leads to the IdP
        start = httpx.get(url, trust_env=False)
        assert start.status_code == 303, start
        url = start.headers["Location"]
        opened.append(url)
        query = {k: v[0] for k, v in parse_qs(urlsplit(url).query).items()}
        httpx.get(query["redirect_uri"], params={"error": "access_denied",
                                                  "state": query["state"]}, trust_env=False)
        return True

    monkeypatch.setattr(browser_prompt, "make_browser_prompt",
                        lambda no_browser, env: browser_prompt.LinkPrompt(None, deny))
    return opened


def login(run_cli: Callable[..., CliResult], idp: IdP, *args: str) -> CliResult:
    return run_cli("auth", "--authority", idp.issuer, "--client-id", "public",
                   "--redirect-port", "0", *args)


def test_a_browser_here_and_an_authorization_endpoint_choose_code(
    run_cli: Callable[..., CliResult], idp: IdP, browser_here: list[str]
) -> None:
    idp.discovery(authorization_endpoint=idp.server.url_for("/authorize"),
                  code_challenge_methods_supported=["plain", "S256"])
    result = login(run_cli, idp)
    assert result.code == 4  # the fake browser said no
    assert CHOSE_CODE in result.err
    assert "refused the browser login: access_denied" in result.err
    # a hint as the device grant's denial has (issue 22, item 20)
    assert ("hint: the login was declined or cancelled in the browser; run: faasauth auth "
            f"--authority {idp.issuer} --client-id public") in result.err
    assert browser_here and browser_here[0].startswith(idp.server.url_for("/authorize") + "?")


@pytest.mark.parametrize(
    ("fields", "why"),
    [
        ({"authorization_endpoint": None}, "discovery lists no authorization_endpoint"),
        ({"code_challenge_methods_supported": ["plain"]}, "does not list PKCE S256"),
    ],
)
def test_the_device_grant_when_the_provider_lacks_the_browser_login(
    run_cli: Callable[..., CliResult], idp: IdP, browser_here: list[str],
    fake_device_prompt: list[float], fields: dict[str, object], why: str,
) -> None:
    idp.discovery(**{"authorization_endpoint": idp.server.url_for("/authorize"), **fields})
    idp.server.expect_request("/device", method="POST").respond_with_json(
        {"error": "access_denied"}, status=400)
    result = login(run_cli, idp)
    line = next(x for x in result.err.splitlines() if x.startswith("Logging in with"))
    assert line.startswith("Logging in with the device grant (--grant device_code): ")
    assert why in line
    assert browser_here == []


def test_the_device_grant_off_a_terminal(
    run_cli: Callable[..., CliResult], idp: IdP, fake_device_prompt: list[float]
) -> None:
    idp.discovery(authorization_endpoint=idp.server.url_for("/authorize"))
    idp.server.expect_request("/device", method="POST").respond_with_json(
        {"error": "access_denied"}, status=400)
    result = login(run_cli, idp)
    assert "Logging in with the device grant (--grant device_code): not at a terminal." \
        in result.err


def test_grant_names_of_faas_cli_are_accepted(
    run_cli: Callable[..., CliResult], idp: IdP, fake_device_prompt: list[float]
) -> None:
    idp.discovery()
    idp.server.expect_request("/device", method="POST").respond_with_json(
        {"error": "access_denied"}, status=400)
    result = login(run_cli, idp, "--grant", "device_code")
    assert result.code == 4 and "access_denied" in result.err  # it ran the device grant
    assert "Logging in with" not in result.err  # asked for: nothing to explain


def test_code_without_an_authorization_endpoint_is_a_usage_error(
    run_cli: Callable[..., CliResult], idp: IdP
) -> None:
    idp.discovery()
    result = login(run_cli, idp, "--grant", "code")
    assert result.code == 2
    assert "does not offer the browser login (no authorization_endpoint" in result.err
    assert "hint: use --grant device" in result.err


# -- the ID token of a browser login ---------------------------------------------------------

ISSUER = "https://idp.example"


def tokens(**claims: object) -> TokenResponse:
    base = {"iss": ISSUER, "aud": "cli", "nonce": "n-1", "sub": "alice",
            "exp": int(time.time()) + 300}
    id_token = make_jwt({**base, **claims})
    return TokenResponse(access_token="opaque-access-token", id_token=id_token)


def check(response: TokenResponse, required: bool = True) -> None:
    check_id_token(response, issuer=ISSUER, client_id="cli", nonce="n-1", required=required)


def test_a_good_id_token_passes() -> None:
    check(tokens())
    check(tokens(aud=["cli", "api"], azp="cli"))
    check(tokens(iss=ISSUER + "/"))


@pytest.mark.parametrize(
    ("claims", "problem"),
    [
        ({"nonce": "n-2"}, "its nonce does not match"),
        ({"nonce": None}, "its nonce does not match"),
        ({"aud": "other"}, "not issued to the client cli"),
        ({"aud": ["other", "cli"], "azp": "other"}, "authorized party is not the client cli"),
        ({"iss": "https://evil.example"}, "its issuer is not https://idp.example"),
    ],
)
def test_an_id_token_for_another_login_is_refused(claims: dict[str, object],
                                                  problem: str) -> None:
    with pytest.raises(LoginFailed) as refused:
        check(tokens(**claims))
    assert problem in refused.value.message
    assert "eyJ" not in refused.value.message  # never the token itself


def test_scope_openid_needs_an_id_token() -> None:
    with pytest.raises(MalformedResponse):
        check(TokenResponse(access_token="opaque-access-token"))
    check(TokenResponse(access_token="opaque-access-token"), required=False)


# -- hints print the real command --------------------------------------------------------------

def test_not_logged_in_names_the_configured_values() -> None:
    from faasauth.flows.subject import find_subject

    env = {"FAASAUTH_AUTHORITY": "https://idp.example/realms/x", "FAASAUTH_CLIENT_ID": "faas cli"}
    rt = make_runtime(env=env, gateway="http://gw.example:8080")
    with pytest.raises(NotLoggedIn) as refused:
        find_subject(rt)
    assert refused.value.hint == (
        "run: faasauth auth -g http://gw.example:8080 --authority "
        "https://idp.example/realms/x --client-id 'faas cli'")


def test_an_expired_login_names_its_own_settings() -> None:
    rt = make_runtime()
    stored = Login(gateway=rt.settings.gateway, authority=ISSUER, client_id="cli", grant="code",
                   scope="openid offline_access", token_endpoint=ISSUER + "/token",
                   auth_method="none", id_token=make_jwt({"exp": 1}), expires_at=1.0)
    with pytest.raises(NotLoggedIn) as refused:
        renew(rt, stored)
    assert refused.value.hint == (
        f"run: faasauth auth --authority {ISSUER} --client-id cli --grant code")


# -- `faasauth auth` alone -----------------------------------------------------------------------

def stored_code_login() -> object:
    rt = make_runtime()
    rt.cache.save_login(Login(gateway=rt.settings.gateway, authority=ISSUER, client_id="cli",
                              grant="code", scope="openid offline_access groups"))
    return rt


def test_no_flags_take_the_stored_settings(capsys: pytest.CaptureFixture[str]) -> None:
    from faasauth.flows.auth import AuthRequest, with_stored_settings

    again = with_stored_settings(stored_code_login(), AuthRequest())
    assert (again.authority, again.client_id, again.grant, again.scope) == (
        ISSUER, "cli", "code", "openid offline_access groups")
    assert ("Logging in again to http://127.0.0.1:8080 with its stored settings: --authority "
            f"{ISSUER} --client-id cli --grant code --scope 'openid offline_access groups'"
            ) in capsys.readouterr().err


def test_flags_override_the_stored_settings() -> None:
    from faasauth.flows.auth import AuthRequest, with_stored_settings

    rt = stored_code_login()
    other_grant = with_stored_settings(rt, AuthRequest(grant="device_code"))
    assert (other_grant.client_id, other_grant.grant, other_grant.scope) == (
        "cli", "device_code", "openid offline_access groups")  # device too is a person's
    cc = with_stored_settings(rt, AuthRequest(grant="client_credentials"))
    assert cc.scope is None  # another grant kind: its own default scope
    elsewhere = AuthRequest(authority="https://other.example", client_id="x")
    assert with_stored_settings(rt, elsewhere) == elsewhere
    other_client = with_stored_settings(rt, AuthRequest(client_id="y"))
    assert (other_client.authority, other_client.client_id, other_client.grant) == (
        ISSUER, "y", None)
