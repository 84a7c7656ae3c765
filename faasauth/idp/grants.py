"""Logging in at the identity provider: which grant, and the one signature every grant has.

    GrantName     the grants there are (a unit each, behind idp.grant_call's Grant)
    obtain()      discovery, client authentication, then the chosen grant

LoginRequest, GrantCall and Grant live in idp.grant_call (re-exported here), below the
units: a unit is handed a GrantCall and knows nothing of this registry.

Adding a grant: write its unit (a module in this package), add it to `_grants()` and
GrantName, and to the `--grant` choices of `faasauth auth`.

Without --grant: client credentials when a secret is available; else the browser login
(`code`) when a browser can be opened here and discovery lists an authorization_endpoint
(and S256 when it lists PKCE methods); else the device grant.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Callable, Literal, get_args

from faasauth.console import say
from faasauth.errors import UsageFailure
from faasauth.idp.discovery import (
    ProviderEndpoints,
    no_device_grant,
    resolve_endpoints,
)
from faasauth.idp.forms import Client
from faasauth.idp.grant_call import GRANT_ALIASES as GRANT_ALIASES
from faasauth.idp.grant_call import PERSON_GRANTS as PERSON_GRANTS
from faasauth.idp.grant_call import Grant, GrantCall as GrantCall, LoginRequest as LoginRequest
from faasauth.idp.prompts import BrowserPrompt, DevicePrompt
from faasauth.runtime import Runtime
from faasauth.tokens.response import TokenResponse

GrantName = Literal["client_credentials", "device", "code"]
GRANT_NAMES: tuple[str, ...] = get_args(GrantName)


def make_client(client_id: str, secret: str | None, endpoints: ProviderEndpoints) -> Client:
    return Client(client_id, secret, endpoints.client_auth_method(secret is not None))


def _grants() -> dict[str, Grant]:
    from faasauth.idp.authorization_code import authorization_code
    from faasauth.idp.client_credentials import client_credentials
    from faasauth.idp.device_code import device_code

    return {"client_credentials": client_credentials, "device": device_code,
            "code": authorization_code}


def obtain(
    rt: Runtime, request: LoginRequest, prompt: Callable[[], DevicePrompt],
    browser: BrowserPrompt | None = None,
) -> tuple[TokenResponse, GrantCall]:
    """Run the chosen grant against the IdP: its answer, and how it was obtained
    (`call.request.grant` is the grant that ran, also when it was chosen here)."""
    if not request.client_id:
        raise UsageFailure("no client id given: pass --client-id ID (or FAASAUTH_CLIENT_ID)")
    client_id = request.client_id
    if request.grant == "implicit":
        raise UsageFailure(
            "the implicit grant is not supported: OAuth 2.1 drops it (its tokens travel in "
            "the browser's URL)",
            hint="use --grant code (a browser on this machine; the same IdP client works when "
            "it allows the authorization code flow with PKCE) or --grant device",
        )
    if request.grant is not None and request.chosen_grant not in GRANT_NAMES:
        raise UsageFailure(
            f"unknown grant {request.grant!r}: use code, device_code or client_credentials"
        )
    endpoints: ProviderEndpoints | None = None
    why = None  # the line that says which grant was chosen, and why
    if request.grant is None and not request.client_secret:
        endpoints = resolve_endpoints(
            rt, request.authority, token_url=request.token_url, device_url=request.device_url,
            need_device=False, need_discovery=browser is not None and browser.unavailable is None,
        )
        person_grant, why = _choose_person_grant(endpoints, browser)
        request = replace(request, grant=person_grant)
    grant = request.chosen_grant
    chosen_for_secret = request.grant is None
    request = replace(request, grant=grant)
    if grant == "client_credentials" and not request.client_secret:
        raise UsageFailure(
            "the client_credentials grant needs a client secret",
            hint="set FAASAUTH_CLIENT_SECRET, or pass --client-secret-file PATH",
        )
    if endpoints is not None and grant == "device" and endpoints.device_endpoint is None:
        raise no_device_grant(request.authority)
    if endpoints is None:
        endpoints = resolve_endpoints(
            rt,
            request.authority,
            token_url=request.token_url,
            device_url=request.device_url,
            need_device=grant == "device",
            need_discovery=grant == "code",
        )
    call = GrantCall(
        request, endpoints, make_client(client_id, request.client_secret, endpoints), prompt,
        browser,
    )
    if why:
        say(why)
    try:
        response = _grants()[grant](rt, call)
    except KeyboardInterrupt:  # a person's Ctrl-C while the login waits: one line, exit 130
        from faasauth.errors import Interrupted

        raise Interrupted("login cancelled; nothing was stored") from None
    if chosen_for_secret:  # said once it worked: a failure stays one line
        say("Logged in with client credentials (--grant client_credentials): a client secret "
            "is available.")
    return response, call


def _choose_person_grant(
    endpoints: ProviderEndpoints, browser: BrowserPrompt | None
) -> tuple[str, str]:
    """The browser login where a browser can be opened and the provider offers it; else the
    device grant. With the line for stderr that says which and why."""
    why_not = browser.unavailable if browser is not None else "no browser here"
    if why_not is None:
        if endpoints.offers_browser_login:
            return "code", ("Logging in with the browser (--grant code): a browser can be "
                            "opened here and the identity provider offers it.")
        why_not = (
            "the identity provider's discovery lists no authorization_endpoint"
            if endpoints.authorization_endpoint is None
            else "the identity provider does not list PKCE S256"
        )
    return "device", f"Logging in with the device grant (--grant device_code): {why_not}."
