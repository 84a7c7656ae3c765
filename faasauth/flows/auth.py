"""The `faasauth auth` use case: pick the source of the login, obtain it, keep it."""

from __future__ import annotations

import sys

from faasauth.console import say
from faasauth.runtime import Runtime
from faasauth.tokens.login import Login, login_key


def _describe(login: Login, now: float) -> str:
    who = login.subject or "an unnamed subject"
    issuer = f" ({login.issuer})" if login.issuer else ""
    left = login.seconds_left(now)
    life = "" if left is None else f"; the token is valid for {int(left // 60)} min"
    renew = ", renewable" if login.refresh_token else ""
    return f"Logged in to {login.gateway} as {who}{issuer}{life}{renew}."


def run_auth(
    rt: Runtime,
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
    elif (rt.env.get("FAASAUTH_ID_TOKEN") or "").strip():
        external = rt.env["FAASAUTH_ID_TOKEN"].strip()

    if external is not None:
        login = login_from_token(rt, external)
    else:
        from faasauth.config.secrets import read_client_secret
        from faasauth.cli.device_prompt import make_prompt

        request = LoginRequest(
            authority=authority.rstrip("/") if authority else None,
            client_id=client_id,
            grant=grant,
            scope=scope,
            client_secret=read_client_secret(client_secret_file, rt.env),
            token_url=token_url,
            device_url=device_url,
        )
        login = log_in(rt, request, lambda: make_prompt(no_browser, rt.env))

    key = login_key(rt.settings.gateway)
    with rt.home.lock(key):
        rt.store.put(key, login.to_entry())
    say(_describe(login, rt.now()))
    if print_token and login.subject_token:
        sys.stdout.write(login.subject_token + "\n")
    return login
