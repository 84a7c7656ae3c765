"""The sandbox IdP: discovery, client authentication, client credentials, device grant, refresh."""

from __future__ import annotations

import base64
import re
from collections.abc import Callable
from typing import Any
from urllib.parse import quote_plus

import httpx
import jwt
import pytest

from faasauth.sandbox import Sandbox
from sandbox.helpers import DEVICE_GRANT, FakeClock

ODD_SECRET = "a+b%c d/=:ü"


def token(
    client: httpx.Client,
    sb: Sandbox,
    form: dict[str, str],
    auth: Any = None,
    headers: dict[str, str] | None = None,
) -> httpx.Response:
    return client.post(f"{sb.authority}/token", data=form, auth=auth, headers=headers)


def basic(client_id: str, secret: str, *, encode: bool = True) -> dict[str, str]:
    pair = f"{quote_plus(client_id)}:{quote_plus(secret)}" if encode else f"{client_id}:{secret}"
    return {"Authorization": "Basic " + base64.b64encode(pair.encode()).decode()}


def verify(sb: Sandbox, client: httpx.Client, raw: str, audience: str) -> dict[str, Any]:
    jwks = jwt.PyJWKSet.from_dict(client.get(f"{sb.authority}/jwks").json())
    key = jwks[jwt.get_unverified_header(raw)["kid"]]
    return jwt.decode(
        raw, key.key, algorithms=["ES256"], audience=audience, issuer=sb.authority, leeway=60
    )


def start_device(
    client: httpx.Client,
    sb: Sandbox,
    scope: str = "openid offline_access",
    client_id: str = "faasauth-cli",
) -> dict[str, Any]:
    answer = client.post(
        f"{sb.authority}/device_authorization", data={"client_id": client_id, "scope": scope}
    )
    assert answer.status_code == 200, answer.text
    return dict(answer.json())


def poll(
    client: httpx.Client, sb: Sandbox, device_code: str, client_id: str = "faasauth-cli"
) -> httpx.Response:
    return token(
        client, sb, {"grant_type": DEVICE_GRANT, "device_code": device_code, "client_id": client_id}
    )


def error_of(answer: httpx.Response) -> str:
    assert answer.status_code == 400, answer.text
    return str(answer.json()["error"])


def test_discovery(sb: Sandbox, client: httpx.Client) -> None:
    config = client.get(f"{sb.authority}/.well-known/openid-configuration").json()
    assert config["issuer"] == sb.authority
    assert config["token_endpoint"] == f"{sb.authority}/token"
    assert config["device_authorization_endpoint"] == f"{sb.authority}/device_authorization"
    assert {"client_secret_basic", "client_secret_post"} <= set(
        config["token_endpoint_auth_methods_supported"]
    )
    assert {"client_credentials", DEVICE_GRANT, "refresh_token"} <= set(
        config["grant_types_supported"]
    )
    assert client.get(config["jwks_uri"]).json()["keys"][0]["alg"] == "ES256"


def test_client_credentials_with_encoded_basic(
    make_sandbox: Callable[..., Sandbox], client: httpx.Client
) -> None:
    sb = make_sandbox(client_secret=ODD_SECRET)
    answer = token(
        client,
        sb,
        {"grant_type": "client_credentials", "scope": "openid offline_access"},
        headers=basic(sb.client_id, ODD_SECRET),
    )
    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert "id_token" not in body and "refresh_token" not in body
    assert body["token_type"] == "Bearer" and body["expires_in"] == 3600
    claims = verify(sb, client, body["access_token"], sb.client_id)
    assert claims["sub"] == sb.client_id and claims["exp"] - claims["iat"] == 3600


def test_unencoded_basic_with_a_plus_sign_fails(
    make_sandbox: Callable[..., Sandbox], client: httpx.Client
) -> None:
    sb = make_sandbox(client_secret=ODD_SECRET)
    answer = token(
        client,
        sb,
        {"grant_type": "client_credentials"},
        headers=basic(sb.client_id, ODD_SECRET, encode=False),
    )
    assert answer.status_code == 401
    assert answer.json()["error"] == "invalid_client"
    assert answer.headers["WWW-Authenticate"].startswith("Basic realm=")


def test_client_credentials_in_the_body(
    make_sandbox: Callable[..., Sandbox], client: httpx.Client
) -> None:
    sb = make_sandbox(client_secret=ODD_SECRET)
    answer = token(
        client,
        sb,
        {
            "grant_type": "client_credentials",
            "client_id": sb.client_id,
            "client_secret": ODD_SECRET,
        },
    )
    assert answer.status_code == 200
    assert answer.headers["Cache-Control"] == "no-store"


@pytest.mark.parametrize(
    "case, status, error",
    [
        ("both methods", 400, "invalid_request"),
        ("wrong secret", 401, "invalid_client"),
        ("unknown client", 401, "invalid_client"),
        ("no authentication", 401, "invalid_client"),
        ("public client", 400, "unauthorized_client"),
        ("unknown grant", 400, "unsupported_grant_type"),
    ],
)
def test_client_authentication_errors(
    sb: Sandbox, client: httpx.Client, case: str, status: int, error: str
) -> None:
    form = {"grant_type": "client_credentials"}
    auth: Any = (sb.client_id, sb.client_secret)
    if case == "both methods":
        form["client_secret"] = sb.client_secret
    elif case == "wrong secret":
        auth = (sb.client_id, "nope")
    elif case == "unknown client":
        auth = ("someone", "x")
    elif case == "no authentication":
        auth = None
    elif case == "public client":
        auth, form["client_id"] = None, sb.public_client_id
    elif case == "unknown grant":
        form["grant_type"] = "password"
    answer = token(client, sb, form, auth=auth)
    assert answer.status_code == status
    assert answer.json()["error"] == error and answer.json()["error_description"]


def test_device_grant_approved_through_the_html_form(
    make_sandbox: Callable[..., Sandbox], client: httpx.Client, clock: FakeClock
) -> None:
    sb = make_sandbox(clock=clock)
    start = start_device(client, sb)
    assert set(start) == {
        "device_code",
        "user_code",
        "verification_uri",
        "verification_uri_complete",
        "expires_in",
        "interval",
    }
    assert start["verification_uri"] == f"{sb.authority}/device"
    assert (
        start["verification_uri_complete"]
        == f"{sb.authority}/device?user_code={start['user_code']}"
    )
    assert re.fullmatch(r"[BCDFGHJKLMNPQRSTVWXZ]{4}-[BCDFGHJKLMNPQRSTVWXZ]{4}", start["user_code"])
    assert (start["expires_in"], start["interval"]) == (600, 1)
    assert error_of(poll(client, sb, start["device_code"])) == "authorization_pending"
    assert sb.pending_user_codes() == [start["user_code"]]

    page = client.get(start["verification_uri_complete"])
    assert page.status_code == 200 and f'value="{start["user_code"]}"' in page.text
    approved = client.post(
        f"{sb.authority}/device",
        data={"user_code": start["user_code"].lower(), "login": "alice", "action": "approve"},
    )
    assert approved.status_code == 200 and "alice" in approved.text

    clock.advance(1)
    answer = poll(client, sb, start["device_code"])
    assert answer.status_code == 200, answer.text
    body = answer.json()
    claims = verify(sb, client, body["id_token"], "faasauth-cli")
    assert (claims["sub"], claims["email"]) == ("alice", "alice@example.com")
    assert body["refresh_token"] and body["scope"] == "openid offline_access"
    clock.advance(1)
    assert error_of(poll(client, sb, start["device_code"])) == "invalid_grant"  # never twice


def test_slow_down(
    make_sandbox: Callable[..., Sandbox], client: httpx.Client, clock: FakeClock
) -> None:
    sb = make_sandbox(clock=clock, device_interval=2)
    code = start_device(client, sb)["device_code"]
    assert (
        error_of(poll(client, sb, code)) == "authorization_pending"
    )  # the first poll is never early
    clock.advance(1)
    assert error_of(poll(client, sb, code)) == "slow_down"  # the interval is now 7 s
    clock.advance(2)
    assert error_of(poll(client, sb, code)) == "slow_down"  # now 12 s
    clock.advance(12)
    assert error_of(poll(client, sb, code)) == "authorization_pending"


def test_denied(
    make_sandbox: Callable[..., Sandbox], client: httpx.Client, clock: FakeClock
) -> None:
    sb = make_sandbox(clock=clock)
    start = start_device(client, sb)
    denied = client.post(
        f"{sb.authority}/device", data={"user_code": start["user_code"], "action": "deny"}
    )
    assert denied.status_code == 200
    assert error_of(poll(client, sb, start["device_code"])) == "access_denied"
    again = client.post(
        f"{sb.authority}/device", data={"user_code": start["user_code"], "action": "approve"}
    )
    assert again.status_code == 400 and "already denied" in again.text


def test_expired(
    make_sandbox: Callable[..., Sandbox], client: httpx.Client, clock: FakeClock
) -> None:
    sb = make_sandbox(clock=clock, device_code_ttl=2)
    start = start_device(client, sb)
    assert start["expires_in"] == 2
    clock.advance(2)
    assert error_of(poll(client, sb, start["device_code"])) == "expired_token"
    with pytest.raises(LookupError):
        sb.approve(start["user_code"])
    page = client.post(
        f"{sb.authority}/device", data={"user_code": start["user_code"], "action": "approve"}
    )
    assert page.status_code == 400 and "expired" in page.text


def test_unknown_device_code_and_other_client(sb: Sandbox, client: httpx.Client) -> None:
    assert error_of(poll(client, sb, "nope")) == "invalid_grant"
    code = start_device(client, sb)["device_code"]
    answer = token(
        client,
        sb,
        {"grant_type": DEVICE_GRANT, "device_code": code},
        auth=(sb.client_id, sb.client_secret),
    )
    assert error_of(answer) == "invalid_grant"


def test_confidential_client_device_grant_and_auto_approve(
    make_sandbox: Callable[..., Sandbox], client: httpx.Client
) -> None:
    sb = make_sandbox(auto_approve=True)
    unauthenticated = client.post(
        f"{sb.authority}/device_authorization", data={"client_id": sb.client_id}
    )
    assert unauthenticated.status_code == 401
    answer = client.post(
        f"{sb.authority}/device_authorization",
        data={"scope": "openid"},
        auth=(sb.client_id, sb.client_secret),
    )
    code = answer.json()["device_code"]
    assert sb.pending_user_codes() == []
    first = token(
        client,
        sb,
        {"grant_type": DEVICE_GRANT, "device_code": code},
        auth=(sb.client_id, sb.client_secret),
    )
    assert first.status_code == 200
    assert (
        jwt.decode(first.json()["id_token"], options={"verify_signature": False})["sub"]
        == "sandbox-user"
    )
    assert "refresh_token" not in first.json()  # no offline_access


def test_approve_helper(sb: Sandbox, client: httpx.Client) -> None:
    start = start_device(client, sb, scope="openid")
    sb.approve(start["user_code"], login="bob")
    answer = poll(client, sb, start["device_code"])
    assert (
        jwt.decode(answer.json()["id_token"], options={"verify_signature": False})["email"]
        == "bob@example.com"
    )


def test_refresh_tokens_rotate(make_sandbox: Callable[..., Sandbox], client: httpx.Client) -> None:
    sb = make_sandbox(auto_approve=True)
    first = poll(client, sb, start_device(client, sb)["device_code"]).json()
    refresh = {"grant_type": "refresh_token", "client_id": "faasauth-cli"}
    second = token(client, sb, {**refresh, "refresh_token": first["refresh_token"]})
    assert second.status_code == 200, second.text
    renewed = second.json()
    assert renewed["refresh_token"] != first["refresh_token"]
    assert renewed["id_token"] and renewed["access_token"] != first["access_token"]
    reused = token(client, sb, {**refresh, "refresh_token": first["refresh_token"]})
    assert error_of(reused) == "invalid_grant"
    third = token(
        client, sb, {**refresh, "refresh_token": renewed["refresh_token"], "scope": "openid"}
    )
    assert third.status_code == 200 and third.json()["refresh_token"]
    wider = token(
        client,
        sb,
        {**refresh, "refresh_token": third.json()["refresh_token"], "scope": "openid admin"},
    )
    assert error_of(wider) == "invalid_scope"
    stolen = token(
        client,
        sb,
        {"grant_type": "refresh_token", "refresh_token": third.json()["refresh_token"]},
        auth=(sb.client_id, sb.client_secret),
    )
    assert error_of(stolen) == "invalid_grant"


def test_refresh_token_expiry(
    make_sandbox: Callable[..., Sandbox], client: httpx.Client, clock: FakeClock
) -> None:
    sb = make_sandbox(auto_approve=True, clock=clock, refresh_token_ttl=60)
    first = poll(client, sb, start_device(client, sb)["device_code"]).json()
    clock.advance(60)
    answer = token(
        client,
        sb,
        {
            "grant_type": "refresh_token",
            "client_id": "faasauth-cli",
            "refresh_token": first["refresh_token"],
        },
    )
    assert error_of(answer) == "invalid_grant"
