from __future__ import annotations

import click

from faasauth.cli.options import gateway_options, make_runtime
from faasauth.cli.params import GrantChoice


@click.command("auth")
@gateway_options
@click.option("--authority", envvar="FAASAUTH_AUTHORITY", metavar="ISSUER_URL",
              help="The identity provider's issuer URL (OIDC discovery). [env: FAASAUTH_AUTHORITY]")
@click.option("--client-id", envvar="FAASAUTH_CLIENT_ID", metavar="ID",
              help="OAuth client id. [env: FAASAUTH_CLIENT_ID]")
@click.option("--grant", envvar="FAASAUTH_GRANT",
              type=GrantChoice(["code", "device_code", "device", "client_credentials"]),
              help="code: the browser login (authorization code with PKCE); device_code (or "
              "device): a code to approve on another device; client_credentials: a machine. "
              "Default: client_credentials when a client secret is available, else code when "
              "a browser can be opened here and the IdP offers it, else device_code; "
              "`faasauth auth` alone repeats the stored login's grant. [env: FAASAUTH_GRANT]")
@click.option("--scope", envvar="FAASAUTH_SCOPE", metavar="SCOPES",
              help="Space-separated scopes. [env: FAASAUTH_SCOPE; default for code and "
              "device_code: 'openid offline_access', none for client credentials]")
@click.option("--client-secret-file", metavar="PATH",
              help="Read the client secret from PATH ('-' for stdin). [env: "
              "FAASAUTH_CLIENT_SECRET_FILE, or the secret itself in FAASAUTH_CLIENT_SECRET]")
@click.option("--token-file", metavar="PATH",
              help="Keep an ID token (a JWT) obtained elsewhere (CI federation) as the login, "
              "without talking to the IdP ('-' for stdin); with --ambient, a token file read "
              "again on each renewal. [env: FAASAUTH_ID_TOKEN, the token itself]")
@click.option("--ambient", is_flag=True,
              help="Log in with this CI job's or pod's own identity (GitHub Actions, GitLab CI "
              "id_tokens, Buildkite, CircleCI, or a Kubernetes token file, default "
              "/var/secrets/tokens/openfaas-token), fetched again whenever it nears expiry.")
@click.option("--ambient-audience", metavar="AUD",
              help="The audience to ask the platform for. [default: the gateway URL]")
@click.option("--faas-cli", "faas_cli", is_flag=True,
              help="Also keep an OpenFaaS API token in faas-cli's config.yml, so faas-cli "
              "works on the same login ($OPENFAAS_CONFIG, ./.openfaas with CI=true, else "
              "~/.openfaas).")
@click.option("--token-url", metavar="URL", help="Token endpoint, overriding discovery.")
@click.option("--device-url", metavar="URL",
              help="Device authorization endpoint, overriding discovery.")
@click.option("--no-browser", is_flag=True,
              help="Never open a browser (the link is printed either way).")
@click.option("--no-qr", is_flag=True,
              help="Do not show the device grant's link as a QR code (shown only on a "
              "terminal big enough for it).")
@click.option("--copy-code", is_flag=True,
              help="Copy the device grant's code to the clipboard (wl-copy, xclip, xsel, "
              "pbcopy, clip; over SSH: OSC 52, your terminal's clipboard).")
@click.option("--redirect-port", type=click.IntRange(0, 65535), metavar="PORT",
              help="Port on 127.0.0.1 the browser login comes back to; 0: any free port, for "
              "an IdP that allows any loopback port. [default: 31111, faas-cli's]")
@click.option("--redirect-path", metavar="PATH",
              help="Path of the browser login's redirect. [default: /oauth/callback]")
@click.option("--login-timeout", type=click.FloatRange(min=1), metavar="SECONDS",
              help="How long to wait for the browser login (--timeout is per request). "
              "[default: 300]")
@click.option("--print-token", is_flag=True,
              help="Also write the obtained IdP token to stdout.")
def command(
    authority: str | None,
    client_id: str | None,
    grant: str | None,
    scope: str | None,
    client_secret_file: str | None,
    token_file: str | None,
    ambient: bool,
    ambient_audience: str | None,
    faas_cli: bool,
    token_url: str | None,
    device_url: str | None,
    no_browser: bool,
    no_qr: bool,
    copy_code: bool,
    redirect_port: int | None,
    redirect_path: str | None,
    login_timeout: float | None,
    print_token: bool,
    **connection: object,
) -> None:
    """Log in to the identity provider and keep the login for this gateway.

    People log in in a browser on this machine (code) or approve a code on another
    device (device_code); machines use client credentials (the secret comes from
    FAASAUTH_CLIENT_SECRET or a file, never the command line); CI jobs and pods log in
    with their own identity (--ambient) or hand over an ID token they already have. Later
    commands renew the login silently, and `faasauth auth` alone logs in again with the
    settings stored for the gateway.

    \b
    Examples:
      faasauth auth --authority https://idp.example.com --client-id faasauth --grant code
      faasauth auth --authority https://idp.example.com --client-id faasauth --grant device_code
      FAASAUTH_CLIENT_SECRET=... faasauth auth --authority https://idp.example.com --client-id ci
      faasauth auth --ambient              # in CI (GitHub: permissions: id-token: write)
      faasauth auth --ambient --faas-cli   # ... and log faas-cli in on the same identity
      faasauth auth --ambient --token-file /var/secrets/tokens/openfaas-token   # a pod
      faasauth auth --token-file id_token.jwt                                   # kept as is
      faasauth auth                        # again, with the settings stored for the gateway
    """
    import sys

    from faasauth.cli.browser_prompt import make_browser_prompt
    from faasauth.cli.device_prompt import make_prompt
    from faasauth.console import say
    from faasauth.flows.auth import AuthRequest, describe, run_auth

    if ambient_audience and not ambient:
        raise click.UsageError("--ambient-audience goes with --ambient")
    if ambient:
        _refuse_idp_options_with_ambient(click.get_current_context())
    rt = make_runtime(connection)
    if faas_cli:
        from faasauth.flows.faas_cli import check_config

        check_config(rt)
    request = AuthRequest(
        authority=authority, client_id=client_id, grant=grant, scope=scope,
        client_secret_file=client_secret_file, token_file=token_file, token_url=token_url,
        device_url=device_url, ambient=ambient, ambient_audience=ambient_audience,
        redirect_port=redirect_port, redirect_path=redirect_path, login_timeout=login_timeout,
        faas_cli=faas_cli,
    )
    login = run_auth(rt, request,
                     lambda: make_prompt(no_browser, rt.env, qr=not no_qr, copy_code=copy_code),
                     make_browser_prompt(no_browser, rt.env))
    say(describe(login, rt.now()))
    if rt.cache.store.name == "none":
        say("Nothing was kept (FAASAUTH_TOKEN_STORE=none): each command logs in afresh, with "
            "FAASAUTH_AUTHORITY, FAASAUTH_CLIENT_ID and FAASAUTH_CLIENT_SECRET.")
    if faas_cli:
        from faasauth.errors import FaasauthError
        from faasauth.flows.faas_cli import keep_api_token

        try:
            say(keep_api_token(rt, login))
        except FaasauthError as exc:  # the login is stored, faas-cli's file as it was
            exc.message += "; the login was kept, faas-cli's config was not changed"
            raise
    if print_token and login.subject_token:
        sys.stdout.write(login.subject_token + "\n")


# Options of a login at an IdP, meaningless with the platform's own identity (--ambient).
IDP_LOGIN_OPTIONS = ("authority", "client_id", "grant", "scope", "client_secret_file",
                     "token_url", "device_url", "no_qr", "copy_code", "redirect_port",
                     "redirect_path", "login_timeout")


def _refuse_idp_options_with_ambient(ctx: click.Context) -> None:
    """Given on the command line with --ambient, they would be ignored: say so instead.
    (The same settings from the environment are left alone: a CI job may set them for
    other steps.)"""
    given = [
        param.opts[-1] for param in ctx.command.params
        if param.name in IDP_LOGIN_OPTIONS
        and ctx.get_parameter_source(param.name) == click.core.ParameterSource.COMMANDLINE
    ]
    if given:
        raise click.UsageError(
            f"--ambient logs in with the platform's own identity, so {', '.join(given)} "
            f"{'does' if len(given) == 1 else 'do'} not apply"
        )
