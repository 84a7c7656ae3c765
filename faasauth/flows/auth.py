"""`faasauth auth`: pick the source of the login, obtain it, keep it for the gateway.

    --ambient [--token-file PATH]                              the platform's identity (CI
                                                               job, pod; faasauth.idp.ambient),
                                                               fetched again on renewal
    an ID token from outside (--token-file, FAASAUTH_ID_TOKEN)  kept as it is (a JWT)
    otherwise                                                  a grant at the IdP
                                                               (faasauth.idp.grants)
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Callable, cast

from faasauth.errors import LoginFailed, UsageFailure
from faasauth.idp.device_code import DevicePrompt
from faasauth.runtime import Runtime
from faasauth.store.cache import login_key
from faasauth.tokens.jwt import unverified_claims
from faasauth.tokens.login import Login, LoginGrant, auth_arguments
from faasauth.tokens.response import TokenResponse

if TYPE_CHECKING:
    from faasauth.idp.authorization_code import BrowserPrompt
    from faasauth.idp.grants import LoginRequest


@dataclass(frozen=True)
class AuthRequest:
    """What `faasauth auth` was asked for; secrets are named by file, never carried here."""

    authority: str | None = None
    client_id: str | None = None
    grant: str | None = None
    scope: str | None = None
    client_secret_file: str | None = None
    token_file: str | None = None
    token_url: str | None = None
    device_url: str | None = None
    redirect_port: int | None = None  # the browser login's; None: 31111
    redirect_path: str | None = None  # None: /oauth/callback
    login_timeout: float | None = None  # None: 300 s
    ambient: bool = False
    ambient_audience: str | None = None
    faas_cli: bool = False  # the command then writes faas-cli's entry itself


def run_auth(
    rt: Runtime, request: AuthRequest, prompt: Callable[[], DevicePrompt],
    browser: BrowserPrompt | None = None,
) -> Login:
    """Log in and store the login for the current gateway; returns it. Nothing is stored
    unless the login completes (an error or Ctrl-C leaves the stored entry as it was)."""
    if request.ambient:
        login = _ambient_login(rt, request)
    elif request.token_file:
        from faasauth.config.secrets import read_jwt_file

        login = login_from_token(rt, read_jwt_file(request.token_file))
    elif (rt.env.get("FAASAUTH_ID_TOKEN") or "").strip():
        login = login_from_token(rt, _env_token(rt.env["FAASAUTH_ID_TOKEN"]))
    else:
        login = _log_in(rt, with_stored_settings(rt, request), prompt, browser)
    with rt.cache.locked(login_key(login.gateway)):
        _keep_faas_cli_entry(rt, login, rt.cache.find_login(login.gateway), request)
        rt.cache.save_login(login)
        if login.faas_cli and not request.faas_cli and (
                login.faas_cli.expires_at is None or login.faas_cli.due(rt.now())):
            from faasauth.flows.login import renew_api_token_or_report

            login = renew_api_token_or_report(rt, login)
    return login


def _keep_faas_cli_entry(
    rt: Runtime, login: Login, previous: Login | None, request: AuthRequest
) -> None:
    """A new login of the same identity goes on renewing faas-cli's entry that `auth
    --faas-cli` wrote from the one it replaces; a login as someone else does not (faas-cli
    would change identity unasked): it says so, unless it writes its own (--faas-cli)."""
    record = previous.faas_cli if previous is not None else None
    if record is None or previous is None:
        return
    if previous.identity == login.identity:
        login.faas_cli = record
    elif not request.faas_cli:
        from faasauth.console import say

        say(f"faas-cli's entry for {login.gateway} in {record.config} holds the previous "
            "login's API token and is no longer renewed; faasauth auth --faas-cli writes "
            "one for this login.")


def _env_token(value: str) -> str:
    from faasauth.config.secrets import jwt_problem

    token = value.strip()
    problem = jwt_problem(token)
    if problem is not None:
        what, hint = problem
        raise UsageFailure(f"FAASAUTH_ID_TOKEN {what}", hint=hint)
    return token


def _ambient_login(rt: Runtime, request: AuthRequest) -> Login:
    from faasauth.flows.login import login_from_ambient
    from faasauth.idp.ambient import detect

    if request.token_file == "-":
        raise UsageFailure(
            "--ambient --token-file needs a file, which is read again on each renewal, not stdin",
            hint="without --ambient, --token-file - keeps the token once",
        )
    audience = request.ambient_audience or rt.settings.gateway
    source = detect(rt.env, audience, token_file=request.token_file, timeout=rt.settings.timeout)
    return login_from_ambient(rt, source)


def with_stored_settings(rt: Runtime, request: AuthRequest) -> AuthRequest:
    """`faasauth auth` again, as `gh auth refresh`: the authority, client id, grant and scope
    of the login stored for the gateway fill what was not given. Flags (and environment)
    override; another authority or client id starts afresh (another grant, its own scope)."""
    from faasauth.idp.grants import GRANT_ALIASES, PERSON_GRANTS

    stored = rt.cache.find_login(rt.settings.gateway)
    if stored is None or stored.grant not in REPEATABLE or not stored.authority:
        return request
    if request.authority and request.authority.rstrip("/") != stored.authority.rstrip("/"):
        return request
    if request.client_id and request.client_id != stored.client_id:
        return replace(request, authority=stored.authority)
    grant = request.grant or stored.grant
    # a person's scope suits a person's grant (code, device), not a machine's
    same_grant = (GRANT_ALIASES.get(grant, grant) in PERSON_GRANTS) == (
        stored.grant in PERSON_GRANTS)
    again = replace(
        request, authority=stored.authority, client_id=stored.client_id, grant=grant,
        scope=request.scope if request.scope is not None or not same_grant else stored.scope,
    )
    if request.authority is None or request.client_id is None:
        from faasauth.console import say

        say(f"Logging in again to {stored.gateway} with its stored settings: "
            + auth_arguments(again.authority, again.client_id, again.grant, again.scope))
    return again


REPEATABLE = ("client_credentials", "device", "code")  # the grants a person can run again


def _log_in(
    rt: Runtime, request: AuthRequest, prompt: Callable[[], DevicePrompt],
    browser: BrowserPrompt | None,
) -> Login:
    from faasauth.config.secrets import read_client_secret
    from faasauth.flows.login import login_from
    from faasauth.idp.grants import LoginRequest, obtain

    redirect = {
        name: value for name, value in (
            ("redirect_port", request.redirect_port), ("redirect_path", request.redirect_path),
            ("login_timeout", request.login_timeout),
        ) if value is not None
    }
    login_request = LoginRequest(
        authority=request.authority.rstrip("/") if request.authority else None,
        client_id=request.client_id,
        grant=request.grant,
        scope=request.scope,
        client_secret=read_client_secret(request.client_secret_file, rt.env),
        token_url=request.token_url,
        device_url=request.device_url,
        **redirect,  # type: ignore[arg-type]
    )
    _refuse_what_is_missing(rt, login_request)
    try:
        response, call = obtain(rt, login_request, prompt, browser)
    except LoginFailed as failure:
        _say_where_the_secret_came_from(rt, failure, request, login_request.chosen_grant)
        _with_command_to_retry(rt, failure, login_request.grant, request,
                               login_request.chosen_grant)
        raise
    grant = cast(LoginGrant, call.request.chosen_grant)  # one of GRANT_NAMES, all stored
    return login_from(
        rt, response, grant=grant, authority=login_request.authority,
        client_id=login_request.client_id, scope=call.request.chosen_scope,
        token_endpoint=call.endpoints.token_endpoint, auth_method=call.client.auth_method,
    )


def _refuse_what_is_missing(rt: Runtime, request: LoginRequest) -> None:
    """Two settings or more missing: all of them in one message, not one per attempt (a
    single one is left to the grant, whose message is the same in the library)."""
    missing = [
        (what, flag, variable) for what, flag, variable, absent in (
            ("identity provider", "--authority ISSUER_URL", "FAASAUTH_AUTHORITY",
             not request.authority and not request.token_url),
            ("client id", "--client-id ID", "FAASAUTH_CLIENT_ID", not request.client_id),
            ("client secret", "--client-secret-file PATH", "FAASAUTH_CLIENT_SECRET",
             request.grant == "client_credentials" and not request.client_secret),
        ) if absent
    ]
    if len(missing) < 2:
        return

    def listed(words: list[str]) -> str:
        return ", ".join(words[:-1]) + " and " + words[-1]

    hint = None
    if rt.cache.find_login(rt.settings.gateway) is None:
        hint = (f"`faasauth auth` alone repeats the login stored for a gateway, and none is "
                f"stored for {rt.settings.gateway}")
    raise UsageFailure(
        f"{listed([f'no {what}' for what, _, _ in missing])} given: "
        f"pass {listed([flag for _, flag, _ in missing])} (or set "
        f"{listed([variable for _, _, variable in missing])})",
        hint=hint,
    )


def _say_where_the_secret_came_from(
    rt: Runtime, failure: LoginFailed, request: AuthRequest, grant: str | None
) -> None:
    """`invalid_client` after a client secret was sent: say that it was refused and where it
    came from (--client-secret-file, or the environment: sourced sandbox exports, a CI
    variable). A person's grant may be a public client's, which must send none; the client
    credentials grant is always a confidential client's, whose secret is then wrong."""
    if "invalid_client" not in failure.message:
        return
    env_source = next((name for name in ("FAASAUTH_CLIENT_SECRET_FILE", "FAASAUTH_CLIENT_SECRET")
                       if rt.env.get(name)), None)
    if request.client_secret_file:
        source, unset = f"--client-secret-file {request.client_secret_file}", "leave it out"
    elif env_source is not None:
        source, unset = env_source, f"env -u {env_source} faasauth auth ..."
    else:
        return
    client = request.client_id or "the client"
    if grant == "client_credentials":
        failure.hint = (f"the client secret from {source} was refused: check that it is "
                        f"{client}'s current secret at the identity provider")
    else:
        failure.hint = (f"the client secret from {source} was refused: check it; if {client} "
                        f"is a public client, send none: {unset}")


def _with_command_to_retry(
    rt: Runtime, failure: LoginFailed, grant: str | None, request: AuthRequest, chosen: str
) -> None:
    """A person's login that was refused, expired or timed out: its hint ends with the
    command that tries again (the same one, flags and all, secrets never among them)."""
    if chosen == "client_credentials" or grant not in (None, "code", "device", "device_code") \
            or not failure.hint:
        return
    from faasauth.config.settings import DEFAULT_GATEWAY
    from faasauth.tokens.login import auth_command

    gateway = rt.settings.gateway if rt.settings.gateway != DEFAULT_GATEWAY else None
    command = auth_command(gateway, authority=request.authority, client_id=request.client_id)
    if grant:
        command += f" --grant {grant}"
    failure.hint = f"{failure.hint}; run: {command}"


def login_from_token(rt: Runtime, token: str) -> Login:
    """An ID token obtained elsewhere (CI federation), kept as the login as it is."""
    claims = unverified_claims(token)
    response = TokenResponse(access_token=token, id_token=token if claims else None)
    login = Login.from_token_response(rt.settings.gateway, response, rt.now(), grant="token")
    if claims:
        login.access_token = None  # a JWT is kept as the ID token it is, once
    if login.expires_at is not None and login.expires_at <= rt.now():
        raise LoginFailed("the given token has already expired")
    return login


def describe(login: Login, now: float) -> str:
    """One line for a person: who is logged in where, for how long."""
    who = login.subject or "an unnamed subject"
    issuer = f" ({login.issuer})" if login.issuer else ""
    left = login.seconds_left(now)
    from faasauth.tokens.expiry import lifetime

    life = "" if left is None else f"; the token is valid for {lifetime(left)}"
    renew = ", renewable" if login.refresh_token else ""
    if login.grant == "ambient" and login.source:
        if login.source.get("kind") == "gitlab":
            # A CI variable is fixed for the job: nothing can fetch a fresher one.
            renew = f" (GitLab CI's ${login.source.get('variable')}, fixed for the job)"
        else:
            renew = f", renewed from {_source_text(login.source)} as it nears expiry"
    return f"Logged in to {login.gateway} as {who}{issuer}{life}{renew}."


def _source_text(source: dict[str, str]) -> str:
    kind = source.get("kind", "")
    if kind in ("file", "kubernetes"):
        return f"the file {source.get('path')}"
    names = {"github": "GitHub Actions", "gitlab": "GitLab CI", "buildkite": "Buildkite",
             "circleci": "CircleCI"}
    return names.get(kind, kind)
