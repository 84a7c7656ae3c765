"""Prove the real IdP's browser-login client and the scripted user (idp_support.authorize_code,
abort_authorization) work: a hand-built PKCE request, redeemed with raw httpx. faasauth's own
client for the code flow is tested on top of these."""

from __future__ import annotations

import base64
import hashlib
import secrets
from collections.abc import Iterator
from urllib.parse import parse_qs, urlencode, urlsplit

import httpx
import jwt
import pytest

from idp_support import (
    CODE_CLIENT_ID,
    CODE_REDIRECT_URI,
    RealIdP,
    abort_authorization,
    authorize_code,
)


@pytest.fixture
def http() -> Iterator[httpx.Client]:
    with httpx.Client(timeout=10, trust_env=False) as client:
        yield client


def pkce() -> tuple[str, str]:
    verifier = secrets.token_urlsafe(48)
    digest = hashlib.sha256(verifier.encode()).digest()
    return verifier, base64.urlsafe_b64encode(digest).rstrip(b"=").decode()


def authorization_url(
    idp: RealIdP, challenge: str | None, redirect_uri: str = CODE_REDIRECT_URI, **extra: str
) -> str:
    params = {
        "response_type": "code",
        "client_id": CODE_CLIENT_ID,
        "redirect_uri": redirect_uri,
        "scope": "openid offline_access",
        "prompt": "consent",  # oidc-provider: offline_access needs it for a refresh token
        "state": "st-1",
        "nonce": "n-1",
        **extra,
    }
    if challenge is not None:
        params |= {"code_challenge": challenge, "code_challenge_method": "S256"}
    return idp.discovery()["authorization_endpoint"] + "?" + urlencode(params)


def query_of(url: str) -> tuple[str, dict[str, str]]:
    split = urlsplit(url)
    return (
        f"{split.scheme}://{split.netloc}{split.path}",
        {k: v[0] for k, v in parse_qs(split.query).items()},
    )


def redeem(
    idp: RealIdP, http: httpx.Client, code: str, verifier: str | None,
    redirect_uri: str = CODE_REDIRECT_URI,
) -> httpx.Response:
    form = {
        "grant_type": "authorization_code",
        "code": code,
        "redirect_uri": redirect_uri,
        "client_id": CODE_CLIENT_ID,
    }
    if verifier is not None:
        form["code_verifier"] = verifier
    return http.post(idp.token_endpoint, data=form)


def test_discovery_lists_the_code_flow_with_s256_only(real_idp: RealIdP) -> None:
    config = real_idp.discovery()
    assert config["authorization_endpoint"].startswith(real_idp.issuer)
    assert config["code_challenge_methods_supported"] == ["S256"]


def test_login_and_consent_then_redeem_with_the_verifier(
    real_idp: RealIdP, http: httpx.Client
) -> None:
    verifier, challenge = pkce()
    where, query = query_of(authorize_code(real_idp, authorization_url(real_idp, challenge)))
    assert where == CODE_REDIRECT_URI
    assert query["state"] == "st-1" and query["iss"] == real_idp.issuer
    answer = redeem(real_idp, http, query["code"], verifier)
    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert {"access_token", "id_token", "refresh_token"} <= set(body)
    id_token = jwt.decode(body["id_token"], options={"verify_signature": False})
    assert id_token["nonce"] == "n-1" and id_token["sub"] == "alice"
    assert id_token["iss"] == real_idp.issuer and id_token["aud"] == CODE_CLIENT_ID
    # the code is single-use
    again = redeem(real_idp, http, query["code"], verifier)
    assert again.status_code == 400 and again.json()["error"] == "invalid_grant"


def test_any_loopback_port_is_accepted(real_idp: RealIdP, http: httpx.Client) -> None:
    verifier, challenge = pkce()
    uri = "http://127.0.0.1:40123/oauth/callback"
    where, query = query_of(authorize_code(real_idp, authorization_url(real_idp, challenge, uri)))
    assert where == uri
    assert redeem(real_idp, http, query["code"], verifier, uri).status_code == 200


def test_without_a_challenge_the_request_is_sent_back_invalid_request(real_idp: RealIdP) -> None:
    where, query = query_of(authorize_code(real_idp, authorization_url(real_idp, None)))
    assert where == CODE_REDIRECT_URI
    assert query["error"] == "invalid_request" and "PKCE" in query["error_description"]
    assert query["state"] == "st-1"


@pytest.mark.parametrize("wrong", ["other", "missing"])
def test_a_wrong_or_missing_verifier_is_invalid_grant(
    real_idp: RealIdP, http: httpx.Client, wrong: str
) -> None:
    _, challenge = pkce()
    _, query = query_of(authorize_code(real_idp, authorization_url(real_idp, challenge)))
    verifier = pkce()[0] if wrong == "other" else None
    answer = redeem(real_idp, http, query["code"], verifier)
    assert answer.status_code == 400
    assert answer.json()["error"] == "invalid_grant"


def test_abort_ends_at_the_redirect_with_access_denied(real_idp: RealIdP) -> None:
    _, challenge = pkce()
    where, query = query_of(abort_authorization(real_idp, authorization_url(real_idp, challenge)))
    assert where == CODE_REDIRECT_URI
    assert query["error"] == "access_denied" and query["state"] == "st-1"
    assert "code" not in query
