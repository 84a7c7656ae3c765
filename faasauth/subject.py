"""Where the subject token for an exchange comes from, in order:
--subject-token-file, FAASAUTH_SUBJECT_TOKEN, the stored login, faas-cli's config.yml.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Mapping

from faasauth.context import Context
from faasauth.errors import NotLoggedIn, UsageFailure
from faasauth.login import Login, login_key
from faasauth.secret_input import read_token_file
from faasauth.settings import normalise_gateway



@dataclass
class SubjectSource:
    """A subject token, possibly fetched (and renewed) only when actually needed."""

    description: str
    identity: str
    fetch: Callable[[], str]


def _token_identity(token: str) -> str:
    return "token|" + hashlib.sha256(token.encode("utf-8")).hexdigest()


def _fixed(description: str, token: str) -> SubjectSource:
    return SubjectSource(description, _token_identity(token), lambda: token)


def load_login(ctx: Context) -> Login | None:
    entry = ctx.store.get(login_key(ctx.settings.gateway))
    return Login.from_entry(entry) if entry else None


def _login_source(ctx: Context, login: Login) -> SubjectSource:
    def fetch() -> str:
        from faasauth.renewal import fresh_login

        token = fresh_login(ctx, login).subject_token
        assert token is not None  # fresh_login raises rather than return a login without one
        return token

    return SubjectSource(f"the stored login for {login.gateway}", login.identity, fetch)


def faas_cli_config_path(env: Mapping[str, str]) -> Path:
    # OPENFAAS_CONFIG (a directory, or a file), faas-cli's CI=true rule, else ~/.openfaas.
    from faasauth.faas_cli_config import config_path

    return config_path(env)


def faas_cli_token(ctx: Context) -> str | None:
    """The `auth: oauth2` token faas-cli keeps for this gateway, if any."""
    path = faas_cli_config_path(ctx.env)
    if not path.is_file():
        return None
    import yaml

    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, ValueError, yaml.YAMLError):  # ValueError: undecodable, bad dates
        from faasauth.console import warn

        warn(f"cannot read faas-cli's {path}; ignoring it")
        return None
    auths = data.get("auths") if isinstance(data, dict) else None
    for item in auths if isinstance(auths, list) else []:
        if not isinstance(item, dict) or item.get("auth") != "oauth2":
            continue
        try:
            gateway = normalise_gateway(str(item.get("gateway", "")))
        except UsageFailure:
            continue
        token = item.get("token")
        if gateway == ctx.settings.gateway and isinstance(token, str) and token:
            return token
    return None


def find_subject(ctx: Context, token_file: str | None = None) -> SubjectSource:
    if token_file:
        return _fixed(f"the token file {token_file}", read_token_file(token_file))
    from_env = (ctx.env.get("FAASAUTH_SUBJECT_TOKEN") or "").strip()
    if from_env:
        return _fixed("FAASAUTH_SUBJECT_TOKEN", from_env)
    login = load_login(ctx)
    if login is not None:
        return _login_source(ctx, login)
    token = faas_cli_token(ctx)
    if token:
        return _fixed("faas-cli's config.yml", token)
    raise NotLoggedIn(f"not logged in to {ctx.settings.gateway}")
