"""Logging in at the identity provider: which grant, and the one signature every grant has.

    LoginRequest  what the user asked for (authority, client, grant, scope, secret, URLs)
    Grant         (rt, GrantCall) -> TokenResponse: one unit per grant
    obtain()      discovery, client authentication, then the chosen grant

Adding a grant: write its unit (a module in this package), add it to GRANTS, and to the
`--grant` choices of `faasauth auth`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Literal, get_args

from faasauth.errors import UsageFailure
from faasauth.idp.device_code import DevicePrompt
from faasauth.idp.discovery import ProviderEndpoints, resolve_endpoints
from faasauth.idp.forms import Client
from faasauth.runtime import Runtime
from faasauth.tokens.response import TokenResponse

GrantName = Literal["client_credentials", "device"]
GRANT_NAMES: tuple[str, ...] = get_args(GrantName)
DEVICE_DEFAULT_SCOPE = "openid offline_access"


@dataclass(frozen=True)
class LoginRequest:
    authority: str | None
    client_id: str | None
    grant: str | None = None
    scope: str | None = None
    client_secret: str | None = None
    token_url: str | None = None
    device_url: str | None = None

    def __repr__(self) -> str:
        return f"LoginRequest(authority={self.authority!r}, client_id={self.client_id!r})"

    @property
    def chosen_grant(self) -> str:
        return self.grant or ("client_credentials" if self.client_secret else "device")

    @property
    def chosen_scope(self) -> str | None:
        if self.scope is not None:
            return self.scope or None
        return DEVICE_DEFAULT_SCOPE if self.chosen_grant == "device" else None


@dataclass(frozen=True)
class GrantCall:
    """Everything a grant needs: what was asked, where, as which client, and a prompt."""

    request: LoginRequest
    endpoints: ProviderEndpoints
    client: Client
    prompt: Callable[[], DevicePrompt]


Grant = Callable[[Runtime, GrantCall], TokenResponse]


def make_client(client_id: str, secret: str | None, endpoints: ProviderEndpoints) -> Client:
    return Client(client_id, secret, endpoints.client_auth_method(secret is not None))


def _grants() -> dict[str, Grant]:
    from faasauth.idp.client_credentials import client_credentials
    from faasauth.idp.device_code import device_code

    return {"client_credentials": client_credentials, "device": device_code}


def obtain(
    rt: Runtime, request: LoginRequest, prompt: Callable[[], DevicePrompt]
) -> tuple[TokenResponse, GrantCall]:
    """Run the chosen grant against the IdP: its answer, and how it was obtained."""
    if not request.client_id:
        raise UsageFailure("no client id given: pass --client-id ID (or FAASAUTH_CLIENT_ID)")
    grant = request.chosen_grant
    if grant not in GRANT_NAMES:
        raise UsageFailure(f"unknown grant {grant!r}: use client_credentials or device")
    if grant == "client_credentials" and not request.client_secret:
        raise UsageFailure(
            "the client_credentials grant needs a client secret",
            hint="set FAASAUTH_CLIENT_SECRET, or pass --client-secret-file PATH",
        )
    endpoints = resolve_endpoints(
        rt,
        request.authority,
        token_url=request.token_url,
        device_url=request.device_url,
        need_device=grant == "device",
    )
    call = GrantCall(
        request, endpoints, make_client(request.client_id, request.client_secret, endpoints),
        prompt,
    )
    return _grants()[grant](rt, call), call
