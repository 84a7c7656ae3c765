"""What the store holds, for `status`, and removing it, for `logout`."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

from faasauth.runtime import Runtime
from faasauth.store.cache import Removed, exchanged_for, gateway_of
from faasauth.tokens.function import FunctionToken
from faasauth.tokens.jwt import mask, subject_of
from faasauth.tokens.login import Login


# A login's grant as `auth --grant` names it (records keep "device", the older name).
GRANT_SHOWN = {"device": "device_code"}


@dataclass(frozen=True)
class StoreInfo:
    backend: str
    reason: str
    location: str
    plain_file: bool
    # Whether an OS keyring answers here (the keyring store in use has), so that moving
    # tokens there is suggested only where it could work. None: not asked (the text status
    # asks only when tokens sit in plain files; `--json` always asks).
    keyring_available: bool | None


@dataclass(frozen=True)
class FaasCliStatus:
    """faas-cli's entry `auth --faas-cli` wrote from the login: its file, its API token's
    expiry, and `state`: "renewed" (it holds faasauth's token, renewed with the login),
    "replaced" (another token since, `faas-cli login`'s: no longer renewed) or
    "unreadable" (the file cannot be read)."""

    config: str
    state: str
    expires_at: int | None
    expires_in: int | None
    expired: bool


@dataclass(frozen=True)
class LoginStatus:
    gateway: str
    authority: str | None
    client_id: str | None
    grant: str
    issuer: str | None
    subject: str | None
    expires_at: int | None
    expires_in: int | None
    expired: bool
    refreshable: bool
    token: str = field(repr=False)  # masked, yet a piece of a token
    faas_cli: FaasCliStatus | None = None


@dataclass(frozen=True)
class TokenStatus:
    gateway: str | None
    audience: list[str]
    subject: str | None  # whose: the `sub` of the subject token it was exchanged for
    # Exchanged for the gateway's stored login; false: for another (an earlier login with
    # another client or IdP, a token given to `exchange` or the library), same `sub` or not.
    from_login: bool
    expires_in: int | None
    token: str = field(repr=False)  # masked, yet a piece of a token


@dataclass(frozen=True)
class Status:
    gateway: str
    usable_login: bool
    store: StoreInfo
    logins: list[LoginStatus] = field(default_factory=list)
    function_tokens: list[TokenStatus] = field(default_factory=list)
    # The current gateway's login, or None: `status --json | jq .current_login.expires_in`
    # never reads another gateway's.
    current_login: LoginStatus | None = None

    def as_dict(self) -> dict[str, Any]:
        """The JSON shape of `status --json` (a documented interface: keep it stable)."""
        return asdict(self)


def _left(expires_at: float | None, now: float) -> int | None:
    return None if expires_at is None else int(expires_at - now)


def _login_status(login: Login, now: float, renewable: bool) -> LoginStatus:
    left = _left(login.expires_at, now)
    return LoginStatus(
        gateway=login.gateway,
        authority=login.authority,
        client_id=login.client_id,
        grant=GRANT_SHOWN.get(login.grant, login.grant),
        issuer=login.issuer,
        subject=login.subject,
        expires_at=None if login.expires_at is None else int(login.expires_at),
        expires_in=left,
        expired=left is not None and left <= 0,
        refreshable=renewable,
        token=mask(login.subject_token),
        faas_cli=_faas_cli_status(login, now),
    )


def _faas_cli_status(login: Login, now: float) -> FaasCliStatus | None:
    record = login.faas_cli
    if record is None:
        return None
    from faasauth.flows.faas_cli import api_token_state

    left = _left(record.expires_at, now)
    return FaasCliStatus(
        config=record.config,
        state=api_token_state(login),
        expires_at=None if record.expires_at is None else int(record.expires_at),
        expires_in=left,
        expired=left is not None and left <= 0,
    )


def collect_status(rt: Runtime, *, keyring_check: bool = False) -> Status:
    """What the store holds. With `keyring_check`, whether a keyring answers is found out
    whatever is stored (`status --json`: its `keyring_available` is always true or false,
    not false with tokens and null without); else only where the plain-file warning needs
    it, so that a text `status` of a file store with nothing in it never imports keyring."""
    now = rt.now()
    logins: list[LoginStatus] = []
    tokens: list[TokenStatus] = []
    records = list(rt.cache.records())
    identities = {r.gateway: r.identity for _, r in records if isinstance(r, Login)}
    for key, record in records:
        if isinstance(record, Login):
            logins.append(_login_status(record, now, can_renew_now(rt, record)))
        elif isinstance(record, FunctionToken):
            gateway = gateway_of(key)
            identity = identities.get(gateway or "")
            tokens.append(
                TokenStatus(
                    gateway=gateway,
                    audience=record.audience,
                    subject=record.subject or subject_of(record.access_token),
                    from_login=identity is not None and exchanged_for(key, identity),
                    expires_in=_left(record.expires_at, now),
                    token=mask(record.access_token),
                )
            )
    current = rt.settings.gateway
    usable = any(
        item.gateway == current and (not item.expired or item.refreshable) for item in logins
    )
    store = rt.store
    current_login = next((item for item in logins if item.gateway == current), None)
    keyring_available: bool | None = True if store.name == "keyring" else None
    if keyring_available is None and (keyring_check or (store.plain_file and (logins or tokens))):
        from faasauth.store.choice import keyring_problem

        keyring_available = keyring_problem() is None
    return Status(
        gateway=current,
        usable_login=usable,
        store=StoreInfo(
            backend=store.name,
            reason=store.reason or f"FAASAUTH_TOKEN_STORE={store.name}",
            location=str(rt.home.path),
            plain_file=store.plain_file,
            keyring_available=keyring_available,
        ),
        logins=logins,
        function_tokens=tokens,
        current_login=current_login,
    )


def can_renew_now(rt: Runtime, login: Login) -> bool:
    """Whether the next command could renew `login` without asking anybody: what `status`
    calls refreshable, so that "usable" agrees with what `invoke` will do."""
    if login.refresh_token or login.grant == "ambient":
        return True
    if login.grant != "client_credentials" or login.auth_method == "none":
        return False
    from faasauth.config.secrets import read_client_secret
    from faasauth.errors import UsageFailure
    from faasauth.flows.login import configured_for

    try:
        secret = read_client_secret(None, rt.env, allow_stdin=False)
    except UsageFailure:
        return False
    return bool(secret) and configured_for(rt.env, login)


def remove_stored(rt: Runtime, gateway: str | None) -> Removed:
    """Delete the login and function tokens of `gateway` (all gateways when None)."""
    return rt.cache.delete_gateway(gateway)


def describe_removed(removed: Removed, gateway: str | None) -> str:
    """`logout`'s report in words: what went, or that there was nothing."""
    where = f"for {gateway}" if gateway else "for any gateway"
    if not removed:
        return f"Nothing to remove: no login or function token is stored {where}."
    parts = []
    if removed.logins:
        parts.append(f"the login for {removed.logins[0]}" if len(removed.logins) == 1
                     else f"the logins for {len(removed.logins)} gateways")
    if removed.function_tokens:
        parts.append(_count(removed.function_tokens, "cached function token"))
    if removed.unreadable:
        parts.append(_count(removed.unreadable, "damaged entry", "damaged entries"))
    if not removed.logins and gateway:
        parts[0] += f" for {gateway}"
    text = parts[0] if len(parts) == 1 else ", ".join(parts[:-1]) + " and " + parts[-1]
    return f"Removed {text}."


def _count(n: int, one: str, many: str | None = None) -> str:
    return f"1 {one}" if n == 1 else f"{n} {many or one + 's'}"
