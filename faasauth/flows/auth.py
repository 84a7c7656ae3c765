"""The `faasauth auth` use case: pick the source of the login, obtain it, keep it."""

from __future__ import annotations

import sys

from faasauth.console import say
from faasauth.runtime import Context
from faasauth.tokens.login import Login, login_key


def _describe(login: Login, now: float) -> str:
    who = login.subject or "an unnamed subject"
    issuer = f" ({login.issuer})" if login.issuer else ""
    left = login.seconds_left(now)
    life = "" if left is None else f"; the token is valid for {int(left // 60)} min"
    renew = ", renewable" if login.refresh_token else ""
    return f"Logged in to {login.gateway} as {who}{issuer}{life}{renew}."


def run_auth(
    ctx: Context,
    *,
    authority: str | None,
    client_id: str | None,
    grant: str | None,
    scope: str | None,
    client_secret_file: str | None,
    token_file: str | None,
    token_url: str | None,
    device_url: str | None,
    no_browser: bool,
    print_token: bool,
) -> Login:
    from faasauth.idp.grants import LoginRequest, log_in, login_from_token

    external = None
    if token_file:
        from faasauth.config.secrets import read_token_file

        external = read_token_file(token_file)
    elif (ctx.env.get("FAASAUTH_ID_TOKEN") or "").strip():
        external = ctx.env["FAASAUTH_ID_TOKEN"].strip()

    if external is not None:
        login = login_from_token(ctx, external)
    else:
        from faasauth.config.secrets import read_client_secret
        from faasauth.cli.device_prompt import make_prompt

        request = LoginRequest(
            authority=authority.rstrip("/") if authority else None,
            client_id=client_id,
            grant=grant,
            scope=scope,
            client_secret=read_client_secret(client_secret_file, ctx.env),
            token_url=token_url,
            device_url=device_url,
        )
        login = log_in(ctx, request, lambda: make_prompt(no_browser, ctx.env))

    key = login_key(ctx.settings.gateway)
    with ctx.home.lock(key):
        ctx.store.put(key, login.to_entry())
    say(_describe(login, ctx.now()))
    if print_token and login.subject_token:
        sys.stdout.write(login.subject_token + "\n")
    return login
