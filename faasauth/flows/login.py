"""The stored login: load it, and keep it usable by renewing it under its lock when it is
about to expire (the refresh token first, then a new client-credentials grant when the
secret is in the environment). A failed renewal leaves the stored entry as it was."""

from __future__ import annotations

from typing import Any

from faasauth.errors import MalformedResponse, NotLoggedIn
from faasauth.idp.discovery import ProviderEndpoints
from faasauth.idp.forms import Client
from faasauth.runtime import Runtime
from faasauth.store.cache import login_key
from faasauth.tokens.login import Login, LoginGrant
from faasauth.tokens.response import TokenError, TokenResponse


def load_login(rt: Runtime) -> Login | None:
    return rt.cache.find_login(rt.settings.gateway)


def login_from(
    rt: Runtime, response: TokenResponse, *, grant: LoginGrant, authority: str | None,
    client_id: str | None, scope: str | None, token_endpoint: str | None,
    auth_method: str | None, previous_refresh: str | None = None,
) -> Login:
    """The Login to keep for the current gateway, from a token endpoint's answer."""
    return Login.from_token_response(
        rt.settings.gateway, response, rt.now(), authority=authority, client_id=client_id,
        grant=grant, scope=scope, token_endpoint=token_endpoint, auth_method=auth_method,
        refresh_token=previous_refresh,
    )


def fresh_login(rt: Runtime, login: Login) -> Login:
    """`login`, or a renewed one (stored) when it is about to expire."""
    if not login.needs_renewal(rt.now()):
        return login
    with rt.cache.locked(login_key(login.gateway)):
        # Another process may have renewed it while we waited for the lock.
        current = rt.cache.find_login(login.gateway) or login
        if not current.needs_renewal(rt.now()):
            return current
        renewed = renew(rt, current)
        rt.cache.save_login(renewed)
        return renewed


def renew(rt: Runtime, login: Login) -> Login:
    """A renewed login, or an error; never touches the stored entry."""
    from faasauth.config.secrets import read_client_secret
    from faasauth.idp.refresh import refresh

    # A login made as a public client stays one: a secret in the environment may belong to
    # another client, and must not be sent (or recorded as this login's method).
    public = login.auth_method == "none"
    secret = (
        read_client_secret(None, rt.env, allow_stdin=False)
        if login.client_id and not public else None
    )
    can_grant_again = login.grant == "client_credentials" and bool(secret)
    # The method that worked at login time, without another discovery round trip.
    method = login.auth_method or ("client_secret_basic" if secret else "none")
    client = Client(login.client_id or "", secret, method)
    settings: dict[str, Any] = dict(
        grant=login.grant, authority=login.authority, client_id=login.client_id,
        scope=login.scope, token_endpoint=login.token_endpoint, auth_method=client.auth_method,
    )
    problem = "it cannot be renewed"
    if login.refresh_token and login.token_endpoint and login.client_id:
        result = refresh(rt, login.token_endpoint, login.refresh_token, client)
        if isinstance(result, TokenResponse):
            # A provider that does not rotate refresh tokens sends none back: keep ours.
            return login_from(rt, result, previous_refresh=login.refresh_token, **settings)
        if result is None and not can_grant_again:
            # Not a refusal but an answer we cannot use: server trouble (exit 3), like login.
            raise MalformedResponse(
                "login refresh failed: the token endpoint's answer has no access_token"
            )
        problem = (
            f"its refresh was refused ({result.message()})"
            if isinstance(result, TokenError) else "its refresh gave no access_token"
        )
    if can_grant_again and login.token_endpoint and login.client_id:
        from faasauth.idp.client_credentials import client_credentials
        from faasauth.idp.grants import GrantCall, LoginRequest

        request = LoginRequest(
            authority=login.authority, client_id=login.client_id, grant=login.grant,
            scope=login.scope, client_secret=secret,
        )
        call = GrantCall(request, ProviderEndpoints(login.token_endpoint), client, _no_prompt)
        return login_from(rt, client_credentials(rt, call), **settings)
    raise NotLoggedIn(f"the stored login for {login.gateway} has expired and {problem}",
                      hint=login_hint(rt, login))


def login_hint(rt: Runtime, login: Login | None = None) -> str:
    """The command to run, with the stored login's settings or the configured ones."""
    from faasauth.config.settings import DEFAULT_GATEWAY
    from faasauth.tokens.login import auth_command

    gateway = rt.settings.gateway if rt.settings.gateway != DEFAULT_GATEWAY else None
    return "run: " + auth_command(
        gateway, login, authority=rt.env.get("FAASAUTH_AUTHORITY") or None,
        client_id=rt.env.get("FAASAUTH_CLIENT_ID") or None,
    )


def _no_prompt() -> Any:
    raise AssertionError("renewal never prompts")
