"""The stored login: load it, and keep it usable by renewing it under its lock when it is
about to expire (the refresh token first, then a new client-credentials grant when the
secret is in the environment; an ambient login fetches a fresh token from its source).
A failed renewal leaves the stored entry as it was."""

from __future__ import annotations

from typing import Any, Callable, Mapping, TYPE_CHECKING

from faasauth.errors import FaasauthError, LoginFailed, MalformedResponse, NotLoggedIn
from faasauth.idp.discovery import ProviderEndpoints
from faasauth.idp.forms import Client
from faasauth.runtime import Runtime
from faasauth.store.cache import login_key
from faasauth.tokens.login import Login, LoginGrant
from faasauth.tokens.response import TokenError, TokenResponse

if TYPE_CHECKING:
    from faasauth.idp.ambient import AmbientSource


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


def fresh_login(
    rt: Runtime, login: Login, *, faas_cli: bool = True,
    report: Callable[[str], None] | None = None,
) -> Login:
    """`login`, or a renewed one (stored) when it is about to expire; and, unless told not
    to (the proxy renews it in the background), faas-cli's API token written from it
    (`auth --faas-cli`) renewed as it nears expiry, or with the login when its expiry is
    unknown. A failure to renew the login raises; one to renew the API token does not: it
    is one line to `report` (a warning by default)."""
    now = rt.now()
    due = faas_cli and login.faas_cli is not None and login.faas_cli.due(now)
    if not login.needs_renewal(now) and not due:
        return login
    with rt.cache.locked(login_key(login.gateway)):
        # Another process may have renewed it while we waited for the lock.
        stored = rt.cache.find_login(login.gateway)
        current = stored or login
        renewed = current.needs_renewal(rt.now())
        if renewed:
            record = current.faas_cli
            current = renew(rt, current)
            current.faas_cli = record
            rt.cache.save_login(current)
        # A login gone meanwhile (logout) took faas-cli's entry with it: nothing to renew.
        record = current.faas_cli if faas_cli and stored is not None else None
        if record and (record.due(rt.now()) or (renewed and record.expires_at is None)):
            current = renew_api_token_or_report(rt, current, report)
        return current


def keep_faas_cli_fresh(
    rt: Runtime, login: Login, *, report: Callable[[str], None] | None = None
) -> tuple[Login, FaasauthError | None]:
    """For a command that uses the login but may not need its token (a cached function
    token): faas-cli's API token renewed if it nears expiry, the login first if need be.
    Never raises: an API token not renewed is one line to `report`; a login that could not
    be renewed is returned as the second value (for the command to raise if it needs the
    login, without asking the IdP twice), and `status` shows it."""
    if not (login.faas_cli and login.faas_cli.due(rt.now())):
        return login, None
    try:
        return fresh_login(rt, login, report=report), None
    except FaasauthError as exc:
        return login, exc


def renew_api_token_or_report(
    rt: Runtime, login: Login, report: Callable[[str], None] | None = None
) -> Login:
    """flows.faas_cli.renew_api_token (the caller holds the login's lock), a failure one
    line to `report` (a warning by default), the login then as it was."""
    from faasauth.flows.faas_cli import renew_api_token

    try:
        return renew_api_token(rt, login)
    except FaasauthError as exc:
        _report(report, login, exc)
        return login


def _report(report: Callable[[str], None] | None, login: Login, exc: FaasauthError) -> None:
    if report is None:
        from faasauth.console import warn

        report = warn
    report(api_token_problem(login, exc))


def api_token_problem(login: Login, exc: FaasauthError) -> str:
    """The one line that says faas-cli's API token was not renewed, and why."""
    where = f" in {login.faas_cli.config}" if login.faas_cli else ""
    return f"cannot renew faas-cli's API token for {login.gateway}{where}: {exc.message}"


def renew(rt: Runtime, login: Login) -> Login:
    """A renewed login, or an error; never touches the stored entry."""
    if login.grant == "ambient":
        return _renew_ambient(rt, login)
    from faasauth.config.secrets import read_client_secret
    from faasauth.idp.refresh import refresh

    # A login made as a public client stays one: a secret in the environment may belong to
    # another client, and must not be sent (or recorded as this login's method).
    public = login.auth_method == "none"
    secret = (
        read_client_secret(None, rt.env, allow_stdin=False)
        if login.client_id and not public and configured_for(rt.env, login) else None
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
            if login.id_token and not result.id_token:
                # The subject would silently become an access token, which the gateway's
                # JwtIssuer may not accept: keep the subject's kind, or say why not.
                raise LoginFailed(
                    f"renewing the login for {login.gateway}: the identity provider's refresh "
                    "answer has no id_token, and the login's subject is an ID token",
                    hint="log in again (faasauth auth); ask for the `openid` scope",
                )
            # A provider that does not rotate refresh tokens sends none back: keep ours.
            return login_from(rt, result, previous_refresh=login.refresh_token, **settings)
        if result is None and not can_grant_again:
            # Not a refusal but an answer we cannot use: server trouble (exit 3), like login.
            raise MalformedResponse(
                "renewing the login failed: the token endpoint's answer has no access_token"
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
    hint = login_hint(rt, login)
    if login.grant == "client_credentials" and not secret and not public:
        # The secret is never stored: a client-credentials login renews with the one the
        # environment gives (it must be this login's client's).
        hint = (f"set FAASAUTH_CLIENT_SECRET (or FAASAUTH_CLIENT_SECRET_FILE) to "
                f"{login.client_id}'s secret to renew it, or {hint}")
    raise NotLoggedIn(f"the stored login for {login.gateway} has expired and {problem}",
                      hint=hint)


def login_hint(rt: Runtime, login: Login | None = None) -> str:
    """The command to run, with the stored login's settings or the configured ones."""
    from faasauth.config.settings import DEFAULT_GATEWAY
    from faasauth.tokens.login import auth_command

    gateway = rt.settings.gateway if rt.settings.gateway != DEFAULT_GATEWAY else None
    return "run: " + auth_command(
        gateway, login, authority=rt.env.get("FAASAUTH_AUTHORITY") or None,
        client_id=rt.env.get("FAASAUTH_CLIENT_ID") or None,
    )


def login_from_ambient(rt: Runtime, source: AmbientSource) -> Login:
    """A login with a fresh token from an ambient source (a CI job's or pod's identity),
    recording the source (no secret) so that renewal asks it again. Its `aud` must name the
    gateway (or the audience asked for): faasauth.idp.ambient.check_audience."""
    from faasauth.idp.ambient import check_audience

    token = source.fetch(client=rt.client)
    check_audience(token, rt.settings.gateway, source)
    response = TokenResponse(access_token=token, id_token=token)
    login = Login.from_token_response(
        rt.settings.gateway, response, rt.now(), grant="ambient", source=source.settings()
    )
    login.access_token = None  # the JWT is kept once, as the ID token it is
    if login.expires_at is not None and login.expires_at <= rt.now():
        hint = None
        if source.kind == "gitlab":
            hint = ("a GitLab id_tokens: token is fixed for the job and lasts about as long as "
                    "its timeout: run faasauth in a job of its own, or give it a longer timeout")
        raise LoginFailed(f"the token from {source.describe()} has already expired", hint=hint)
    return login


def _renew_ambient(rt: Runtime, login: Login) -> Login:
    """A fresh token from the source the login recorded (a file is read again)."""
    from faasauth.idp.ambient import from_settings

    try:
        source = from_settings(login.source or {}, rt.env, timeout=rt.settings.timeout)
        return login_from_ambient(rt, source)
    except FaasauthError as exc:
        # Same class (same exit code), with what was being done.
        raise type(exc)(
            f"renewing the login for {login.gateway}: {exc.message}", hint=exc.hint
        ) from None


def _no_prompt() -> Any:
    raise AssertionError("renewal never prompts")


def configured_for(env: Mapping[str, str], login: Login) -> bool:
    """Whether the environment's client secret is this login's: when FAASAUTH_CLIENT_ID or
    FAASAUTH_AUTHORITY name another client or IdP, their secret is not sent to this one."""
    client_id = (env.get("FAASAUTH_CLIENT_ID") or "").strip()
    authority = (env.get("FAASAUTH_AUTHORITY") or "").strip().rstrip("/")
    if client_id and client_id != login.client_id:
        return False
    return not authority or authority == (login.authority or "").rstrip("/")

