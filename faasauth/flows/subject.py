"""Where the subject token for an exchange comes from, in order:
--subject-token-file, FAASAUTH_SUBJECT_TOKEN, the stored login, faas-cli's config.yml.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Mapping

from faasauth.runtime import Runtime
from faasauth.errors import NotLoggedIn, UsageFailure
from faasauth.tokens.login import Login, login_key
from faasauth.config.secrets import read_token_file
from faasauth.config.settings import normalise_gateway



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


def load_login(rt: Runtime) -> Login | None:
    entry = rt.store.get(login_key(rt.settings.gateway))
    return Login.from_entry(entry) if entry else None


def _login_source(rt: Runtime, login: Login) -> SubjectSource:
    def fetch() -> str:
        from faasauth.flows.login import fresh_login

        token = fresh_login(rt, login).subject_token
        assert token is not None  # fresh_login raises rather than return a login without one
        return token

    return SubjectSource(f"the stored login for {login.gateway}", login.identity, fetch)


def faas_cli_config_path(env: Mapping[str, str]) -> Path:
    # faas-cli reads OPENFAAS_CONFIG as its config directory; accept a file path too.
    configured = env.get("OPENFAAS_CONFIG")
    if configured:
        path = Path(configured).expanduser()
        return path if path.suffix in (".yml", ".yaml") else path / "config.yml"
    return Path.home() / ".openfaas" / "config.yml"


def faas_cli_token(rt: Runtime) -> str | None:
    """The `auth: oauth2` token faas-cli keeps for this gateway, if any."""
    path = faas_cli_config_path(rt.env)
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
        if gateway == rt.settings.gateway and isinstance(token, str) and token:
            return token
    return None


def find_subject(rt: Runtime, token_file: str | None = None) -> SubjectSource:
    if token_file:
        return _fixed(f"the token file {token_file}", read_token_file(token_file))
    from_env = (rt.env.get("FAASAUTH_SUBJECT_TOKEN") or "").strip()
    if from_env:
        return _fixed("FAASAUTH_SUBJECT_TOKEN", from_env)
    login = load_login(rt)
    if login is not None:
        return _login_source(rt, login)
    token = faas_cli_token(rt)
    if token:
        return _fixed("faas-cli's config.yml", token)
    raise NotLoggedIn(f"not logged in to {rt.settings.gateway}")
