"""What every grant unit is handed, and the one signature they share: below the units
and their registry (idp.grants), so that a unit needs to know neither the registry nor
the other units.

    LoginRequest  what the user asked for (authority, client, grant, scope, secret, URLs)
    GrantCall     the request, the provider's endpoints, the client, and the prompts
    Grant         (Runtime, GrantCall) -> TokenResponse: the signature of every unit
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

from faasauth.idp.discovery import ProviderEndpoints
from faasauth.idp.forms import Client
from faasauth.idp.prompts import BrowserPrompt, DevicePrompt
from faasauth.runtime import Runtime
from faasauth.tokens.response import TokenResponse

DEFAULT_LOGIN_TIMEOUT = 300.0  # seconds the browser login waits for its callback
# faas-cli's names (`faas-cli pro auth --grant`) and the RFCs' mean the same grants
GRANT_ALIASES = {"device_code": "device", "authorization_code": "code"}
DEVICE_DEFAULT_SCOPE = "openid offline_access"  # the default of every grant for a person
PERSON_GRANTS = ("device", "code")


@dataclass(frozen=True)
class LoginRequest:
    authority: str | None
    client_id: str | None
    grant: str | None = None
    scope: str | None = None
    client_secret: str | None = None
    token_url: str | None = None
    device_url: str | None = None
    # the browser login's redirect; None: faas-cli's (loopback_redirect.DEFAULT_PORT/PATH)
    redirect_port: int | None = None
    redirect_path: str | None = None
    login_timeout: float = DEFAULT_LOGIN_TIMEOUT

    def __repr__(self) -> str:
        return f"LoginRequest(authority={self.authority!r}, client_id={self.client_id!r})"

    @property
    def chosen_grant(self) -> str:
        grant = GRANT_ALIASES.get(self.grant or "", self.grant)
        return grant or ("client_credentials" if self.client_secret else "device")

    @property
    def chosen_scope(self) -> str | None:
        if self.scope is not None:
            return self.scope or None
        return DEVICE_DEFAULT_SCOPE if self.chosen_grant in PERSON_GRANTS else None


@dataclass(frozen=True)
class GrantCall:
    """Everything a grant needs: what was asked, where, as which client, and a prompt."""

    request: LoginRequest
    endpoints: ProviderEndpoints
    client: Client
    prompt: Callable[[], DevicePrompt]
    browser: BrowserPrompt | None = None  # None: no person at a browser (the library)


Grant = Callable[[Runtime, GrantCall], TokenResponse]
