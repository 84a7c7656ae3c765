"""Logging in: each grant as a plain function returning a Login, plus silent renewal."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable

from faasauth.runtime import Runtime
from faasauth.idp.device_code import DeviceGrant, DevicePrompt
from faasauth.errors import LoginFailed, MalformedResponse, NotLoggedIn, UsageFailure
from faasauth.tokens.login import Login
from faasauth.idp.forms import (
    GRANT_CLIENT_CREDENTIALS,
    GRANT_REFRESH_TOKEN,
    Client,
    OAuthError,
    ProviderEndpoints,
    post_form,
    resolve_endpoints,
    token_request,
)
from faasauth.tokens.jwt import unverified_claims

GRANTS = ("client_credentials", "device")
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


def _client(client_id: str, secret: str | None, endpoints: ProviderEndpoints) -> Client:
    return Client(client_id, secret, endpoints.client_auth_method(secret is not None))


def _login_from(
    rt: Runtime, response: dict[str, Any], request: LoginRequest, endpoints: ProviderEndpoints,
    client: Client, *, previous_refresh: str | None = None,
) -> Login:
    return Login.from_token_response(
        rt.settings.gateway,
        response,
        rt.now(),
        authority=request.authority,
        client_id=request.client_id,
        grant=request.chosen_grant,
        scope=request.chosen_scope,
        token_endpoint=endpoints.token_endpoint,
        auth_method=client.auth_method,
        refresh_token=previous_refresh,
    )


def _client_credentials(
    rt: Runtime, request: LoginRequest, endpoints: ProviderEndpoints, client: Client
) -> Login:
    form: dict[str, Any] = {"grant_type": GRANT_CLIENT_CREDENTIALS}
    if request.chosen_scope:
        form["scope"] = request.chosen_scope
    response = token_request(rt, endpoints.token_endpoint, form, client)
    return _login_from(rt, response, request, endpoints, client)


def log_in(
    rt: Runtime, request: LoginRequest, prompt: Callable[[], DevicePrompt]
) -> Login:
    """Run the chosen grant against the IdP; the caller stores the result."""
    if not request.client_id:
        raise UsageFailure("no client id given: pass --client-id ID (or FAASAUTH_CLIENT_ID)")
    grant = request.chosen_grant
    if grant not in GRANTS:
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
    client = _client(request.client_id, request.client_secret, endpoints)
    if grant == "client_credentials":
        return _client_credentials(rt, request, endpoints, client)
    assert endpoints.device_endpoint is not None
    device = DeviceGrant(
        rt, endpoints.device_endpoint, endpoints.token_endpoint, client,
        request.chosen_scope, prompt(),
    )
    return _login_from(rt, device.run(), request, endpoints, client)


def login_from_token(rt: Runtime, token: str) -> Login:
    """An ID token obtained elsewhere (CI federation), kept as the login as it is."""
    claims = unverified_claims(token)
    response: dict[str, Any] = {"id_token": token} if claims else {"access_token": token}
    login = Login.from_token_response(rt.settings.gateway, response, rt.now(), grant="token")
    if login.expires_at is not None and login.expires_at <= rt.now():
        raise LoginFailed("the given token has already expired")
    return login


def renew(rt: Runtime, login: Login) -> Login:
    """A renewed login: the refresh token first, then a new client-credentials grant
    when the secret is in the environment. Raises; never touches the stored entry."""
    from faasauth.config.secrets import read_client_secret

    # A login made as a public client stays one: a secret in the environment may belong to
    # another client, and must not be sent (or recorded as this login's method).
    public = login.auth_method == "none"
    secret = (
        read_client_secret(None, rt.env, allow_stdin=False)
        if login.client_id and not public else None
    )
    request = LoginRequest(
        authority=login.authority, client_id=login.client_id, grant=login.grant,
        scope=login.scope, client_secret=secret,
    )
    can_grant_again = login.grant == "client_credentials" and bool(secret)
    problem = "it cannot be renewed"
    # The method that worked at login time, without another discovery round trip.
    method = login.auth_method or ("client_secret_basic" if secret else "none")
    client = Client(login.client_id or "", secret, method)
    if login.refresh_token and login.token_endpoint and login.client_id:
        endpoints = ProviderEndpoints(login.token_endpoint)
        form = {"grant_type": GRANT_REFRESH_TOKEN, "refresh_token": login.refresh_token}
        result = post_form(rt, login.token_endpoint, form, client, "login refresh")
        if not isinstance(result, OAuthError) and isinstance(result.get("access_token"), str) \
                and result["access_token"]:
            # A provider that does not rotate refresh tokens sends none back: keep ours.
            return _login_from(
                rt, result, request, endpoints, client, previous_refresh=login.refresh_token
            )
        if not isinstance(result, OAuthError) and not can_grant_again:
            # Not a refusal but an answer we cannot use: server trouble (exit 3), like login.
            raise MalformedResponse(
                "login refresh failed: the token endpoint's answer has no access_token"
            )
        problem = (
            f"its refresh was refused ({result.message()})"
            if isinstance(result, OAuthError) else "its refresh gave no access_token"
        )
    if can_grant_again and login.token_endpoint and login.client_id:
        return _client_credentials(rt, request, ProviderEndpoints(login.token_endpoint), client)
    raise NotLoggedIn(f"the stored login for {login.gateway} has expired and {problem}")
