"""Prove the real-IdP fixture behaves as the CLI's integration tests will assume (raw httpx)."""

from __future__ import annotations

import base64
import threading
import time
from urllib.parse import quote_plus

import httpx
import jwt
import pytest

from idp_support import (
    CC_CLIENT_ID,
    CC_CLIENT_SECRET,
    DEVICE_CLIENT_ID,
    DEVICE_CODE_GRANT,
    RESOURCE,
    IdPError,
    RealIdP,
    approve_device,
    deny_device,
)


@pytest.fixture
def http() -> httpx.Client:
    with httpx.Client(timeout=10, trust_env=False) as client:
        yield client


def basic(client_id: str, secret: str, *, encode: bool = True) -> dict[str, str]:
    """HTTP Basic header; RFC 6749 2.3.1 wants id and secret form-urlencoded first."""
    if encode:
        client_id, secret = quote_plus(client_id), quote_plus(secret)
    raw = f"{client_id}:{secret}".encode()
    return {"Authorization": "Basic " + base64.b64encode(raw).decode()}


def verify(idp: RealIdP, http: httpx.Client, token: str, audience: str) -> dict:
    """Check the JWT's signature against the provider's JWKS, and its iss/aud/exp."""
    jwks = jwt.PyJWKSet.from_dict(http.get(idp.jwks_uri).json())
    kid = jwt.get_unverified_header(token)["kid"]
    key = next(k for k in jwks.keys if k.key_id == kid)
    return jwt.decode(token, key.key, algorithms=["RS256"], audience=audience, issuer=idp.issuer)


def start_device(idp: RealIdP, http: httpx.Client, scope: str = "openid offline_access") -> dict:
    r = http.post(idp.device_authorization_endpoint, data={"client_id": DEVICE_CLIENT_ID, "scope": scope})
    assert r.status_code == 200, r.text
    return r.json()


def poll(idp: RealIdP, http: httpx.Client, device_code: str) -> httpx.Response:
    return http.post(
        idp.token_endpoint,
        data={"grant_type": DEVICE_CODE_GRANT, "device_code": device_code, "client_id": DEVICE_CLIENT_ID},
    )


def poll_until_done(idp: RealIdP, http: httpx.Client, device_code: str, interval: float, timeout: float = 20) -> httpx.Response:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        r = poll(idp, http, device_code)
        error = r.json().get("error") if r.status_code == 400 else None
        if error == "slow_down":
            interval += 5
        elif error != "authorization_pending":
            return r
        time.sleep(interval)
    raise AssertionError("device authorization did not finish in time")


def in_background(fn, *args) -> tuple[threading.Thread, list]:
    """Run fn(*args) in a thread (as the CLI tests will, while the CLI polls)."""
    outcome: list = []

    def run() -> None:
        try:
            outcome.append(fn(*args))
        except BaseException as exc:  # surfaced by the test
            outcome.append(exc)

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    return thread, outcome


def test_discovery(real_idp: RealIdP, http: httpx.Client) -> None:
    d = real_idp.discovery()
    assert d["issuer"] == real_idp.issuer
    assert real_idp.issuer.startswith("http://127.0.0.1:")
    for key in ("token_endpoint", "device_authorization_endpoint", "jwks_uri"):
        assert d[key].startswith(real_idp.issuer + "/"), key
    assert {"client_credentials", "refresh_token", DEVICE_CODE_GRANT} <= set(d["grant_types_supported"])
    assert set(d["token_endpoint_auth_methods_supported"]) == {"client_secret_basic", "client_secret_post", "none"}
    keys = http.get(d["jwks_uri"]).json()["keys"]
    assert keys and all("d" not in k for k in keys)  # public keys only


def test_client_credentials_basic_form_encoded_gives_jwt(real_idp: RealIdP, http: httpx.Client) -> None:
    r = http.post(
        real_idp.token_endpoint,
        data={"grant_type": "client_credentials", "scope": "api:read"},
        headers=basic(CC_CLIENT_ID, CC_CLIENT_SECRET),
    )
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["token_type"] == "Bearer" and body["scope"] == "api:read"
    assert jwt.get_unverified_header(body["access_token"])["typ"] == "at+jwt"
    claims = verify(real_idp, http, body["access_token"], RESOURCE)
    assert claims["client_id"] == CC_CLIENT_ID and claims["scope"] == "api:read"


def test_client_credentials_basic_unencoded_secret_is_rejected(real_idp: RealIdP, http: httpx.Client) -> None:
    r = http.post(
        real_idp.token_endpoint,
        data={"grant_type": "client_credentials", "scope": "api:read"},
        headers=basic(CC_CLIENT_ID, CC_CLIENT_SECRET, encode=False),
    )
    assert r.status_code == 401, r.text
    assert r.json()["error"] == "invalid_client"


def test_client_credentials_post(real_idp: RealIdP, http: httpx.Client) -> None:
    r = http.post(
        real_idp.token_endpoint,
        data={"grant_type": "client_credentials", "client_id": CC_CLIENT_ID, "client_secret": CC_CLIENT_SECRET},
    )
    assert r.status_code == 200, r.text
    verify(real_idp, http, r.json()["access_token"], RESOURCE)


def test_device_grant_approved_then_refresh_rotates(real_idp: RealIdP, http: httpx.Client) -> None:
    da = start_device(real_idp, http)
    assert da["interval"] == 1
    assert da["verification_uri_complete"].endswith("user_code=" + da["user_code"])
    assert poll(real_idp, http, da["device_code"]).json()["error"] == "authorization_pending"

    thread, outcome = in_background(approve_device, real_idp, da["user_code"], "alice")
    r = poll_until_done(real_idp, http, da["device_code"], interval=da["interval"])
    thread.join(10)
    assert outcome and isinstance(outcome[0], str) and "Sign-in Success" in outcome[0], outcome
    assert r.status_code == 200, r.text
    tokens = r.json()
    id_claims = verify(real_idp, http, tokens["id_token"], DEVICE_CLIENT_ID)
    assert id_claims["sub"] == "alice"
    at_claims = verify(real_idp, http, tokens["access_token"], RESOURCE)
    assert at_claims["sub"] == "alice" and at_claims["client_id"] == DEVICE_CLIENT_ID
    assert tokens["refresh_token"]

    r = http.post(
        real_idp.token_endpoint,
        data={"grant_type": "refresh_token", "refresh_token": tokens["refresh_token"], "client_id": DEVICE_CLIENT_ID},
    )
    assert r.status_code == 200, r.text
    refreshed = r.json()
    assert refreshed["refresh_token"] != tokens["refresh_token"]
    assert refreshed["access_token"] != tokens["access_token"]
    verify(real_idp, http, refreshed["access_token"], RESOURCE)

    # The rotated-out refresh token is dead.
    r = http.post(
        real_idp.token_endpoint,
        data={"grant_type": "refresh_token", "refresh_token": tokens["refresh_token"], "client_id": DEVICE_CLIENT_ID},
    )
    assert r.status_code == 400 and r.json()["error"] == "invalid_grant", r.text


def test_device_grant_denied(real_idp: RealIdP, http: httpx.Client) -> None:
    da = start_device(real_idp, http)
    thread, outcome = in_background(deny_device, real_idp, da["user_code"])
    r = poll_until_done(real_idp, http, da["device_code"], interval=1)
    thread.join(10)
    assert outcome and isinstance(outcome[0], str), outcome
    assert r.status_code == 400 and r.json()["error"] == "access_denied", r.text


def test_approve_unknown_user_code_raises(real_idp: RealIdP) -> None:
    with pytest.raises(IdPError, match="confirmation page"):
        approve_device(real_idp, "BCDF-GHJK")


def test_short_device_code_ttl_expires_and_no_interval(idp_factory, http: httpx.Client) -> None:
    idp = idp_factory(deviceCodeTtl=2, interval=None)
    da = start_device(idp, http)
    assert da["expires_in"] == 2
    assert "interval" not in da  # oidc-provider's own behaviour: clients must default to 5 s
    assert poll(idp, http, da["device_code"]).json()["error"] == "authorization_pending"
    time.sleep(2.5)
    r = poll(idp, http, da["device_code"])
    assert r.status_code == 400 and r.json()["error"] == "expired_token", r.text


def test_short_token_ttls(idp_factory, http: httpx.Client) -> None:
    idp = idp_factory(accessTokenTtl=5, idTokenTtl=7)
    r = http.post(
        idp.token_endpoint,
        data={"grant_type": "client_credentials", "client_id": CC_CLIENT_ID, "client_secret": CC_CLIENT_SECRET},
    )
    assert r.json()["expires_in"] == 5
    da = start_device(idp, http)
    approve_device(idp, da["user_code"])
    tokens = poll(idp, http, da["device_code"]).json()
    assert tokens["expires_in"] == 5
    at = verify(idp, http, tokens["access_token"], RESOURCE)
    assert at["exp"] - at["iat"] == 5
    it = verify(idp, http, tokens["id_token"], DEVICE_CLIENT_ID)
    assert it["exp"] - it["iat"] == 7


def test_slow_down(idp_factory, http: httpx.Client) -> None:
    idp = idp_factory(slowDown=True, interval=1)
    paced = start_device(idp, http)  # polled correctly: exactly one slow_down
    hasty = start_device(idp, http)  # polled too fast: slow_down every time

    t0 = time.monotonic()
    assert poll(idp, http, paced["device_code"]).json()["error"] == "slow_down"  # first poll, always
    for _ in range(2):
        r = poll(idp, http, hasty["device_code"])
        assert r.status_code == 400 and r.json()["error"] == "slow_down", r.text

    time.sleep(max(0.0, 1 + 5 - (time.monotonic() - t0)))  # interval 1 s + 5 s for the slow_down
    assert poll(idp, http, paced["device_code"]).json()["error"] == "authorization_pending"

    approve_device(idp, paced["user_code"])
    assert poll(idp, http, paced["device_code"]).status_code == 200  # early, but not pending

    answers = [p["answer"] for p in idp.device_polls(paced["user_code"])]
    assert answers == ["slow_down", "authorization_pending", "tokens"]
    hasty_polls = idp.device_polls(hasty["user_code"])
    assert [p["answer"] for p in hasty_polls] == ["slow_down", "slow_down"]
    assert [p["interval"] for p in hasty_polls] == [6, 11]


def test_post_only_server(idp_factory, http: httpx.Client) -> None:
    idp = idp_factory(authMethods=["client_secret_post"])
    assert idp.discovery()["token_endpoint_auth_methods_supported"] == ["client_secret_post"]
    data = {"grant_type": "client_credentials", "scope": "api:read"}
    r = http.post(idp.token_endpoint, data={**data, "client_id": CC_CLIENT_ID, "client_secret": CC_CLIENT_SECRET})
    assert r.status_code == 200, r.text
    verify(idp, http, r.json()["access_token"], RESOURCE)
    r = http.post(idp.token_endpoint, data=data, headers=basic(CC_CLIENT_ID, CC_CLIENT_SECRET))
    assert r.status_code == 401 and r.json()["error"] == "invalid_client", r.text
