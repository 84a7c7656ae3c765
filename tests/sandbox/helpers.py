"""Helpers for the sandbox tests: a fake clock and the common OAuth round trips."""

from __future__ import annotations

import time
from typing import Any

import httpx

from faasauth.sandbox import Sandbox

TOKEN_EXCHANGE = "urn:ietf:params:oauth:grant-type:token-exchange"
ID_TOKEN_TYPE = "urn:ietf:params:oauth:token-type:id_token"
DEVICE_GRANT = "urn:ietf:params:oauth:grant-type:device_code"


class FakeClock:
    """A clock that starts at the real time and moves only when told to."""

    def __init__(self) -> None:
        self.now = float(int(time.time()))

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


def exchange(
    client: httpx.Client, sandbox: Sandbox, subject_token: str, **form: Any
) -> httpx.Response:
    """POST /oauth/token with the token-exchange grant; None values are left out."""
    data = {
        "grant_type": TOKEN_EXCHANGE,
        "subject_token": subject_token,
        "subject_token_type": ID_TOKEN_TYPE,
    }
    data.update(form)
    return client.post(
        f"{sandbox.gateway_url}/oauth/token", data={k: v for k, v in data.items() if v is not None}
    )


def client_credentials(client: httpx.Client, sandbox: Sandbox) -> str:
    answer = client.post(
        f"{sandbox.authority}/token",
        data={"grant_type": "client_credentials"},
        auth=(sandbox.client_id, sandbox.client_secret),
    )
    assert answer.status_code == 200, answer.text
    return str(answer.json()["access_token"])


def function_token(client: httpx.Client, sandbox: Sandbox, *audience: str) -> str:
    answer = exchange(
        client,
        sandbox,
        client_credentials(client, sandbox),
        scope="function",
        audience=list(audience) or None,
    )
    assert answer.status_code == 200, answer.text
    return str(answer.json()["access_token"])


def sandbox_login(authorization_url: str, login: str = "alice", approve: bool = True) -> str:
    """Play the user of a browser login on the sandbox's own /authorize page, as
    idp_support.authorize_code does on the real IdP's pages: GET the page, press Approve (or
    Deny) as `login`, and return the URL its 303 points at (the redirect URI with `code` and
    `state`, or `error`), without fetching it. A request the sandbox sends back at once (bad
    PKCE, --auto-approve) returns that redirect; one it refuses on its page raises."""
    import re

    with httpx.Client(timeout=10, trust_env=False) as client:
        page = client.get(authorization_url)
        if page.status_code == 303:
            return str(page.headers["Location"])
        found = re.search(r'name="request" value="([^"]+)"', page.text)
        if page.status_code != 200 or found is None:
            raise AssertionError(f"no login page at {authorization_url}: {page.status_code}")
        answer = client.post(
            str(page.url.copy_with(query=None)),
            data={"request": found.group(1), "login": login,
                  "action": "approve" if approve else "deny"},
        )
        if answer.status_code != 303:
            raise AssertionError(f"the login page answered {answer.status_code}: {answer.text}")
        return str(answer.headers["Location"])
