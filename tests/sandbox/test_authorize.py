"""The sandbox IdP's browser login: /authorize, its page, PKCE S256, the code grant."""

from __future__ import annotations

import base64
import hashlib
import io
import re
import secrets
from collections.abc import Callable
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import jwt
import pytest

from faasauth.sandbox import Sandbox
from faasauth.sandbox.authorize import loopback_match
from sandbox.helpers import FakeClock

CALLBACK = "http://127.0.0.1:31111/oauth/callback"


def pkce() -> tuple[str, str]:
    verifier = secrets.token_urlsafe(48)
    digest = hashlib.sha256(verifier.encode()).digest()
    return verifier, base64.urlsafe_b64encode(digest).rstrip(b"=").decode()


def authorize_params(challenge: str | None, **extra: str) -> dict[str, str]:
    params = {
        "response_type": "code",
        "client_id": "faasauth-cli",
        "redirect_uri": CALLBACK,
        "scope": "openid offline_access",
        "state": "st-123",
        "nonce": "n-456",
        "code_challenge_method": "S256",
    }
    if challenge is not None:
        params["code_challenge"] = challenge
    params.update(extra)
    return {k: v for k, v in params.items() if v != ""}


def login_page(client: httpx.Client, sb: Sandbox, params: dict[str, str]) -> httpx.Response:
    return client.get(f"{sb.authority}/authorize", params=params)


def request_id(page: httpx.Response) -> str:
    found = re.search(r'name="request" value="([^"]+)"', page.text)
    assert found, page.text
    return found.group(1)


def submit(
    client: httpx.Client, sb: Sandbox, page: httpx.Response, action: str = "approve",
    login: str = "alice",
) -> httpx.Response:
    return client.post(
        f"{sb.authority}/authorize",
        data={"request": request_id(page), "login": login, "action": action},
    )


def redirected(answer: httpx.Response) -> tuple[str, dict[str, str]]:
    assert answer.status_code == 303, answer.text
    location = urlsplit(answer.headers["Location"])
    query = {k: v[0] for k, v in parse_qs(location.query).items()}
    return f"{location.scheme}://{location.netloc}{location.path}", query


def redeem(
    client: httpx.Client, sb: Sandbox, code: str, verifier: str | None,
    redirect_uri: str = CALLBACK, client_id: str = "faasauth-cli", auth: Any = None,
) -> httpx.Response:
    form = {"grant_type": "authorization_code", "code": code, "redirect_uri": redirect_uri}
    if verifier is not None:
        form["code_verifier"] = verifier
    if auth is None:
        form["client_id"] = client_id
    return client.post(f"{sb.authority}/token", data=form, auth=auth)


def approved_code(
    client: httpx.Client, sb: Sandbox, challenge: str, **extra: str
) -> dict[str, str]:
    page = login_page(client, sb, authorize_params(challenge, **extra))
    assert page.status_code == 200, page.text
    return redirected(submit(client, sb, page))[1]


def claims_of(sb: Sandbox, client: httpx.Client, raw: str, audience: str) -> dict[str, Any]:
    jwks = jwt.PyJWKSet.from_dict(client.get(f"{sb.authority}/jwks").json())
    key = jwks[jwt.get_unverified_header(raw)["kid"]]
    return jwt.decode(raw, key.key, algorithms=["ES256"], audience=audience, issuer=sb.authority)


def test_discovery_names_the_endpoint_and_s256(sb: Sandbox, client: httpx.Client) -> None:
    config = client.get(f"{sb.authority}/.well-known/openid-configuration").json()
    assert config["authorization_endpoint"] == f"{sb.authority}/authorize"
    assert config["code_challenge_methods_supported"] == ["S256"]
    assert "code" in config["response_types_supported"]
    assert "authorization_code" in config["grant_types_supported"]


def test_the_whole_flow_for_the_public_client(sb: Sandbox, client: httpx.Client) -> None:
    verifier, challenge = pkce()
    page = login_page(client, sb, authorize_params(challenge))
    assert page.status_code == 200
    assert page.headers["Cache-Control"] == "no-store"
    assert "faasauth-cli" in page.text and "127.0.0.1:31111/oauth/callback" in page.text
    assert "Approve" in page.text and "Deny" in page.text
    where, query = redirected(submit(client, sb, page, login="alice"))
    assert where == CALLBACK
    assert query["state"] == "st-123" and query["iss"] == sb.authority
    assert query["code"] not in page.text
    answer = redeem(client, sb, query["code"], verifier)
    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert {"access_token", "id_token", "refresh_token"} <= set(body)
    assert body["token_type"] == "Bearer" and body["scope"] == "openid offline_access"
    id_token = claims_of(sb, client, body["id_token"], "faasauth-cli")
    assert id_token["nonce"] == "n-456" and id_token["sub"] == "alice"
    assert id_token["iss"] == sb.authority and id_token["aud"] == "faasauth-cli"
    # the refresh token works (and rotates) like the device grant's
    refreshed = client.post(
        f"{sb.authority}/token",
        data={"grant_type": "refresh_token", "refresh_token": body["refresh_token"],
              "client_id": "faasauth-cli"},
    )
    assert refreshed.status_code == 200, refreshed.text


def test_the_confidential_client_authenticates_at_the_token_endpoint(
    sb: Sandbox, client: httpx.Client
) -> None:
    verifier, challenge = pkce()
    query = approved_code(client, sb, challenge, client_id=sb.client_id, scope="openid",
                          nonce="")
    answer = redeem(client, sb, query["code"], verifier, auth=(sb.client_id, sb.client_secret))
    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert "refresh_token" not in body  # no offline_access asked
    assert "nonce" not in claims_of(sb, client, body["id_token"], sb.client_id)
    # without its secret it is refused
    query = approved_code(client, sb, challenge, client_id=sb.client_id)
    assert redeem(client, sb, query["code"], verifier, client_id=sb.client_id).status_code == 401


def test_denied(sb: Sandbox, client: httpx.Client) -> None:
    _, challenge = pkce()
    page = login_page(client, sb, authorize_params(challenge))
    where, query = redirected(submit(client, sb, page, action="deny"))
    assert where == CALLBACK
    assert query["error"] == "access_denied" and query["state"] == "st-123"
    assert "code" not in query
    # the request was answered: posting it again is refused on the page, not redirected
    again = submit(client, sb, page)
    assert again.status_code == 400 and "already answered" in again.text


def test_missing_or_plain_challenge_is_refused_at_the_authorize_step(
    sb: Sandbox, client: httpx.Client
) -> None:
    for params in (
        authorize_params(None),
        authorize_params("x" * 43, code_challenge_method="plain"),
        authorize_params("x" * 43, code_challenge_method=""),
        authorize_params("short"),
    ):
        where, query = redirected(login_page(client, sb, params))
        assert where == CALLBACK
        assert query["error"] == "invalid_request", query
        assert query["state"] == "st-123" and "code" not in query


def test_other_bad_requests_are_redirected_with_their_error(
    sb: Sandbox, client: httpx.Client
) -> None:
    _, challenge = pkce()
    cases = {
        "unsupported_response_type": authorize_params(challenge, response_type="token"),
        "login_required": authorize_params(challenge, prompt="none"),
    }
    for error, params in cases.items():
        assert redirected(login_page(client, sb, params))[1]["error"] == error


def test_unknown_client_or_redirect_is_an_error_page_never_a_redirect(
    sb: Sandbox, client: httpx.Client
) -> None:
    _, challenge = pkce()
    for params in (
        authorize_params(challenge, client_id="nobody"),
        authorize_params(challenge, redirect_uri="http://evil.example/oauth/callback"),
        authorize_params(challenge, redirect_uri="http://127.0.0.1:31111/other"),
        authorize_params(challenge, redirect_uri="https://127.0.0.1:31111/oauth/callback"),
        authorize_params(challenge, redirect_uri=""),
    ):
        answer = login_page(client, sb, params)
        assert answer.status_code == 400, params
        assert "Location" not in answer.headers


def test_any_loopback_port_and_localhost(sb: Sandbox, client: httpx.Client) -> None:
    verifier, challenge = pkce()
    for uri in ("http://127.0.0.1:40123/oauth/callback", "http://localhost:5000/oauth/callback"):
        query = approved_code(client, sb, challenge, redirect_uri=uri)
        assert redeem(client, sb, query["code"], verifier, redirect_uri=uri).status_code == 200


def test_loopback_match() -> None:
    assert loopback_match(CALLBACK, "http://127.0.0.1:1/oauth/callback")
    assert loopback_match(CALLBACK, "http://127.0.0.1/oauth/callback")
    assert not loopback_match(CALLBACK, "http://localhost:31111/oauth/callback")
    assert not loopback_match(CALLBACK, "http://127.0.0.1:31111/oauth/callback?x=1")
    assert not loopback_match(CALLBACK, "http://a@127.0.0.1:31111/oauth/callback")
    assert not loopback_match(CALLBACK, "http://127.0.0.1:x/oauth/callback")
    assert not loopback_match("https://app.example/cb", "https://app.example:444/cb")


def test_wrong_missing_verifier_and_wrong_redirect_are_invalid_grant(
    sb: Sandbox, client: httpx.Client
) -> None:
    verifier, challenge = pkce()
    other, _ = pkce()
    for bad in (
        {"verifier": other},
        {"verifier": None},
        {"verifier": "short"},
        {"verifier": verifier, "redirect_uri": "http://127.0.0.1:40000/oauth/callback"},
        {"verifier": verifier, "client_id": "faasauth-sandbox"},
    ):
        code = approved_code(client, sb, challenge)["code"]
        answer = redeem(client, sb, code, **bad)  # type: ignore[arg-type]
        assert answer.status_code in (400, 401), bad
        if answer.status_code == 400:
            assert answer.json()["error"] == "invalid_grant", (bad, answer.text)


def test_codes_are_single_use_and_reuse_revokes_the_refresh_token(
    sb: Sandbox, client: httpx.Client
) -> None:
    verifier, challenge = pkce()
    code = approved_code(client, sb, challenge)["code"]
    first = redeem(client, sb, code, verifier)
    assert first.status_code == 200
    second = redeem(client, sb, code, verifier)
    assert second.status_code == 400 and second.json()["error"] == "invalid_grant"
    refreshed = client.post(
        f"{sb.authority}/token",
        data={"grant_type": "refresh_token", "refresh_token": first.json()["refresh_token"],
              "client_id": "faasauth-cli"},
    )
    assert refreshed.status_code == 400 and refreshed.json()["error"] == "invalid_grant"


def test_codes_are_short_lived(
    make_sandbox: Callable[..., Sandbox], client: httpx.Client, clock: FakeClock
) -> None:
    sb = make_sandbox(clock=clock, code_ttl=30)
    verifier, challenge = pkce()
    code = approved_code(client, sb, challenge)["code"]
    clock.advance(31)
    answer = redeem(client, sb, code, verifier)
    assert answer.json()["error"] == "invalid_grant" and "expired" in answer.text


def test_auto_approve_redirects_straight_back(
    make_sandbox: Callable[..., Sandbox], client: httpx.Client
) -> None:
    sb = make_sandbox(auto_approve=True)
    verifier, challenge = pkce()
    where, query = redirected(login_page(client, sb, authorize_params(challenge)))
    assert where == CALLBACK and query["state"] == "st-123"
    body = redeem(client, sb, query["code"], verifier).json()
    assert claims_of(sb, client, body["id_token"], "faasauth-cli")["sub"] == "sandbox-user"
    # still refused without PKCE
    assert redirected(login_page(client, sb, authorize_params(None)))[1]["error"] == (
        "invalid_request"
    )


def test_no_code_verifier_or_state_in_the_request_log(
    make_sandbox: Callable[..., Sandbox], client: httpx.Client
) -> None:
    stream = io.StringIO()
    sb = make_sandbox(log=stream)
    verifier, challenge = pkce()
    query = approved_code(client, sb, challenge, state="state-secret-789")
    answer = redeem(client, sb, query["code"], verifier)
    assert answer.status_code == 200
    logged = stream.getvalue() + repr(sb.requests)
    assert "/authorize" in logged and "/token" in logged
    for secret in (query["code"], verifier, challenge, "state-secret-789", "n-456",
                   answer.json()["access_token"], answer.json()["refresh_token"]):
        assert secret not in logged


def test_the_sandbox_login_helper(sb: Sandbox, client: httpx.Client) -> None:
    from urllib.parse import urlencode

    from sandbox.helpers import sandbox_login

    verifier, challenge = pkce()
    url = f"{sb.authority}/authorize?" + urlencode(authorize_params(challenge))
    query = parse_qs(urlsplit(sandbox_login(url, login="bob")).query)
    body = redeem(client, sb, query["code"][0], verifier).json()
    assert claims_of(sb, client, body["id_token"], "faasauth-cli")["sub"] == "bob"
    denied = parse_qs(urlsplit(sandbox_login(url, approve=False)).query)
    assert denied["error"] == ["access_denied"]
    no_pkce = f"{sb.authority}/authorize?" + urlencode(authorize_params(None))
    assert "error=invalid_request" in sandbox_login(no_pkce)
