"""Where the sandbox follows the real watchdog (of-watchdog 0.11.6) rather than what one might
expect: its health paths' methods, the claims it does not check, and its keys read once."""

from __future__ import annotations

import time
from collections.abc import Callable

import httpx
import pytest

from faasauth.sandbox import Sandbox

PARSE = "failed to parse JWT token: "
INVALID_KID = PARSE + "token is unverifiable: error while executing keyfunc: invalid kid: "


def post(client: httpx.Client, sb: Sandbox, token: str, name: str = "echo-auth") -> httpx.Response:
    return client.post(f"{sb.gateway_url}/function/{name}", content=b"hi",
                       headers={"Authorization": f"Bearer {token}"})


@pytest.mark.parametrize("name", ["echo", "echo-auth"])
@pytest.mark.parametrize("path", ["/_/health", "/_/ready"])
def test_health_and_ready_answer_get_only(
    sb: Sandbox, client: httpx.Client, name: str, path: str
) -> None:
    url = f"{sb.gateway_url}/function/{name}{path}"
    answer = client.get(url)
    assert (answer.status_code, answer.text) == (200, "OK")
    for method in ("POST", "PUT", "DELETE", "PATCH"):
        refused = client.request(method, url, content=b"x")
        assert (refused.status_code, refused.content) == (405, b""), method
        assert "WWW-Authenticate" not in refused.headers  # not the JWT middleware's answer


def sign(sb: Sandbox, **claims: object) -> str:
    gateway = sb._running_gateway()
    now = int(time.time())
    body = {"iss": sb.gateway_url, "aud": [sb.gateway_url], "sub": "fed:test", "iat": now,
            "exp": now + 300, "function": {"permissions": ["openfaas-fn:echo-auth"]}}
    body.update(claims)
    return gateway.key.sign({k: v for k, v in body.items() if v is not None})


@pytest.mark.parametrize("mode", ["released", "hardened"])
def test_no_exp_and_a_future_iat_are_accepted_as_the_real_watchdog_does(
    make_sandbox: Callable[..., Sandbox], client: httpx.Client, mode: str
) -> None:
    sb = make_sandbox(watchdog=mode)
    assert post(client, sb, sign(sb, exp=None)).status_code == 200
    assert post(client, sb, sign(sb, iat=int(time.time()) + 3600)).status_code == 200
    # what it does check, beside them: nbf in the future, exp past beyond the leeway
    future_nbf = post(client, sb, sign(sb, nbf=int(time.time()) + 3600))
    expired = post(client, sb, sign(sb, exp=int(time.time()) - 5))
    assert (future_nbf.status_code, expired.status_code) == (401, 401)
    if mode == "released":
        assert future_nbf.text == PARSE + "token has invalid claims: token is not valid yet\n"
        assert expired.text == PARSE + "token has invalid claims: token is expired\n"


def test_the_released_watchdog_keeps_the_keys_it_read_at_start(
    sb: Sandbox, client: httpx.Client
) -> None:
    before = sb.issue_function_token(["openfaas-fn:echo-auth"])
    sb.rotate_gateway_key()
    after = sb.issue_function_token(["openfaas-fn:echo-auth"])
    kid = client.get(f"{sb.gateway_url}/.well-known/jwks.json").json()["keys"][0]["kid"]
    assert post(client, sb, before).status_code == 200
    refused = post(client, sb, after)
    assert (refused.status_code, refused.text) == (401, f"{INVALID_KID}{kid}\n")
    sb.restart_watchdogs()  # the function restarts: its watchdog reads the JWKS again
    assert post(client, sb, after).status_code == 200
    assert post(client, sb, before).status_code == 401


def test_the_hardened_watchdog_follows_the_new_key_at_once(
    make_sandbox: Callable[..., Sandbox], client: httpx.Client
) -> None:
    sb = make_sandbox(watchdog="hardened")
    before = sb.issue_function_token(["openfaas-fn:echo-auth"])
    sb.rotate_gateway_key()
    after = sb.issue_function_token(["openfaas-fn:echo-auth"])
    assert post(client, sb, after).status_code == 200
    refused = post(client, sb, before)
    assert (refused.status_code, refused.text) == (401, "failed to verify JWT token\n")
