"""Where the subject token for an exchange comes from, in order:
--subject-token-file, FAASAUTH_SUBJECT_TOKEN, the stored login, faas-cli's config.yml.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Callable, NoReturn

from faasauth.errors import FaasauthError, NotLoggedIn, Refused
from faasauth.runtime import Runtime
from faasauth.tokens.login import Login


@dataclass
class SubjectSource:
    """A subject token, possibly fetched (and renewed) only when actually needed."""

    description: str
    identity: str
    fetch: Callable[[], str]


def _token_identity(token: str) -> str:
    return "token|" + hashlib.sha256(token.encode("utf-8")).hexdigest()


def fixed_subject(description: str, token: str) -> SubjectSource:
    """A subject token in hand; its identity (for cache keys) is its hash."""
    return SubjectSource(description, _token_identity(token), lambda: token)


def _login_source(rt: Runtime, login: Login, *, faas_cli: bool = True) -> SubjectSource:
    # The first fetch's answer, when renewing faas-cli's API token made the login fresh
    # just now, or could not renew the login: the same answer, not a second try.
    first: list[Login | FaasauthError] = []
    renew_here = faas_cli and login.faas_cli is not None and login.faas_cli.due(rt.now())
    if renew_here:  # `auth --faas-cli`'s API token, renewed as the login is used
        from faasauth.flows.login import keep_faas_cli_fresh

        login, failed = keep_faas_cli_fresh(rt, login)
        first.append(failed or login)

    def fetch() -> str:
        from faasauth.flows.login import fresh_login

        answer = first.pop() if first else None
        if isinstance(answer, FaasauthError):
            raise answer
        fresh = answer or fresh_login(rt, login, faas_cli=faas_cli and not renew_here)
        token = fresh.subject_token
        assert token is not None  # fresh_login raises rather than return a login without one
        return token

    return SubjectSource(f"the stored login for {login.gateway}", login.identity, fetch)


def subject_from_file(rt: Runtime, path: str) -> SubjectSource:
    """A subject token from the file PATH (`-`: stdin), checked here as `auth --token-file`
    checks its file: a JWT (not garbage, not GitHub's JSON answer) that has not expired,
    before it is sent to the gateway to be refused there."""
    from faasauth.config.secrets import read_jwt_file
    from faasauth.tokens.expiry import expires_at

    token = read_jwt_file(path)
    where = "stdin" if path == "-" else f"the token file {path}"
    now = rt.now()
    ends = expires_at(None, token, now)
    if ends is not None and ends <= now:
        ago = now - ends
        raise Refused(
            f"{where} holds a token that expired "
            f"{f'{int(ago)} s' if ago < 120 else f'{int(ago // 60)} min'} ago; not sent to "
            f"{rt.settings.gateway}",
            hint="put a fresh token there; without a token file, the stored login is "
                 "exchanged",
        )
    return fixed_subject(where, token)


def find_subject(
    rt: Runtime, token_file: str | None = None, *, faas_cli: bool = True
) -> SubjectSource:
    """The subject for an exchange; a stored login's use also renews faas-cli's API token
    written from it, unless `faas_cli` is False (the proxy renews that in the background)."""
    if token_file:
        return subject_from_file(rt, token_file)
    from_env = (rt.env.get("FAASAUTH_SUBJECT_TOKEN") or "").strip()
    if from_env:
        return fixed_subject("FAASAUTH_SUBJECT_TOKEN", from_env)
    login = rt.cache.find_login(rt.settings.gateway)
    if login is not None:
        return _login_source(rt, login, faas_cli=faas_cli)
    from faasauth.config.faas_cli import faas_cli_token

    token = faas_cli_token(rt.env, rt.settings.gateway)
    if token:
        return fixed_subject("faas-cli's config.yml", token)
    if rt.cache.store.name == "none":
        return _login_from_environment(rt)
    from faasauth.flows.login import login_hint

    raise NotLoggedIn(f"not logged in to {rt.settings.gateway}", hint=login_hint(rt))



def _login_from_environment(rt: Runtime) -> SubjectSource:
    """FAASAUTH_TOKEN_STORE=none keeps no login: each command logs in afresh, with the
    client credentials in the environment (a person's login would prompt on every call)."""
    from faasauth.config.secrets import read_client_secret

    authority = (rt.env.get("FAASAUTH_AUTHORITY") or "").strip()
    client_id = (rt.env.get("FAASAUTH_CLIENT_ID") or "").strip()
    if not (authority and client_id and read_client_secret(None, rt.env, allow_stdin=False)):
        raise NotLoggedIn(
            f"not logged in to {rt.settings.gateway}: FAASAUTH_TOKEN_STORE=none keeps no login",
            hint="set FAASAUTH_AUTHORITY, FAASAUTH_CLIENT_ID and FAASAUTH_CLIENT_SECRET to log "
                 "in afresh with each command, or FAASAUTH_SUBJECT_TOKEN",
        )

    def fetch() -> str:
        from faasauth.flows.auth import AuthRequest, run_auth

        login = run_auth(rt, AuthRequest(authority=authority, client_id=client_id,
                                         grant="client_credentials"), _no_prompt)
        assert login.subject_token is not None  # a login always carries one
        return login.subject_token

    return SubjectSource(f"a client-credentials login as {client_id} (FAASAUTH_TOKEN_STORE=none)",
                         f"client|{authority}|{client_id}", fetch)


def _no_prompt() -> NoReturn:
    raise AssertionError("a client-credentials login never prompts")
