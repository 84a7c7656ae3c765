"""`faasauth sandbox`: a local OpenFaaS gateway with IAM plus an OpenID provider.

Only click is imported here: the sandbox itself (cryptography, jwt, yaml) loads when the
command runs, so `faasauth --help` stays fast.
"""

from __future__ import annotations

from typing import Any

import click

ENDS_WITH_SEPARATOR = "faasauth.sandbox.ends_with_separator"


class _SandboxCommand(click.Command):
    def parse_args(self, ctx: click.Context, args: list[str]) -> list[str]:
        # `sandbox --` with nothing after it: click drops the `--`, and CMD looks absent.
        ctx.meta[ENDS_WITH_SEPARATOR] = bool(args) and args[-1] == "--"
        return super().parse_args(ctx, args)


@click.command(
    "sandbox",
    cls=_SandboxCommand,
    context_settings={"allow_interspersed_args": False},
    short_help="Run a local OpenFaaS gateway with IAM and an OpenID provider.",
)
@click.option(
    "--port",
    type=click.IntRange(0, 65535),
    default=0,
    show_default=True,
    help="Gateway port on 127.0.0.1 (0: any free port). The IdP always gets its own free port.",
)
@click.option(
    "--iam",
    "iam_path",
    type=click.Path(exists=True),
    metavar="FILE_OR_DIR",
    help="JwtIssuer/Policy/Role YAML (a file, or every *.yaml/*.yml in a directory). "
    "Default: the sandbox IdP's clients and users may invoke every function.",
)
@click.option(
    "--stack",
    "stack_path",
    type=click.Path(exists=True, dir_okay=False),
    metavar="FILE",
    help="Serve the functions of this faas-cli stack file instead of the default ones.",
)
@click.option(
    "--auto-approve",
    is_flag=True,
    help="Approve every login at once (for scripts): a device login's first poll succeeds, "
    "and a browser login goes straight back to its redirect URI without the login page.",
)
@click.option(
    "--latency",
    "latency_ms",
    type=click.IntRange(min=0),
    default=0,
    metavar="MS",
    help="Delay every response by MS milliseconds.",
)
@click.option(
    "--watchdog",
    type=click.Choice(["released", "hardened"]),
    default="released",
    show_default=True,
    help="Function-side JWT check: faas-middleware as released in the watchdogs, "
    "or its hardened main branch.",
)
@click.option(
    "--tls",
    is_flag=True,
    help="Serve HTTPS, with a throw-away CA; its certificate file is exported as "
    "SSL_CERT_FILE (or pass it to --cacert), REQUESTS_CA_BUNDLE, CURL_CA_BUNDLE and "
    "NODE_EXTRA_CA_CERTS.",
)
@click.option(
    "--function",
    "function_urls",
    multiple=True,
    metavar="NAME=URL",
    help="Serve your HTTP server at URL as the function NAME (NAME.NAMESPACE for another "
    "namespace), behind the watchdog's JWT check: the path after /function/NAME, the query, "
    "headers and body go to URL. Repeatable.",
)
@click.option(
    "--function-exec",
    "function_execs",
    multiple=True,
    nargs=2,
    metavar="NAME 'CMD ARGS'",
    help="Serve a command as the function NAME, as the classic watchdog's fprocess: the "
    "request body on its stdin, its stdout the answer. Repeatable.",
)
@click.option(
    "--no-jwt-auth",
    "open_functions",
    multiple=True,
    metavar="NAME",
    help="Serve this --function or --function-exec without the JWT check (jwt_auth=false; "
    "by default yours are protected). Repeatable.",
)
@click.option("-q", "--quiet", is_flag=True, help="No log line per request on stderr.")
@click.option(
    "--background",
    is_flag=True,
    help="Start serving in the background, print the export lines (with "
    "FAASAUTH_SANDBOX_PID) once it is ready, and return, as ssh-agent does: "
    "eval \"$(faasauth sandbox --background)\". Its log goes to a file; "
    "kill $FAASAUTH_SANDBOX_PID stops it.",
)
@click.option(
    "--ci",
    type=click.Choice(["github", "gitlab", "kubernetes"]),
    help="Also play this platform's ambient identity: GitHub's ID token request variables "
    "and endpoint, GitLab's OPENFAAS_ID_TOKEN variable, or a Kubernetes projected token "
    "file rotated in place; its issuer is a trusted JwtIssuer.",
)
@click.option(
    "--ci-repository",
    metavar="OWNER/REPO",
    help="The job's repository (GitHub, GitLab) [default: openfaas/demo, the one the "
    "default IAM allows; any other is refused].",
)
@click.option(
    "--ci-token-ttl",
    type=click.FloatRange(min=1),
    metavar="SECONDS",
    help="Lifetime of each CI token [default: 300].",
)
@click.option(
    "--ci-token-file",
    type=click.Path(dir_okay=False),
    metavar="PATH",
    help="Where --ci kubernetes writes its token [default: a temporary directory; the path "
    "is exported as FAASAUTH_SANDBOX_TOKEN_FILE].",
)
@click.argument("cmd", nargs=-1, type=click.UNPROCESSED, metavar="[-- CMD [ARGS]...]")
@click.pass_context
def command(
    ctx: click.Context,
    port: int,
    iam_path: str | None,
    stack_path: str | None,
    auto_approve: bool,
    latency_ms: int,
    watchdog: str,
    tls: bool,
    quiet: bool,
    background: bool,
    ci: str | None,
    ci_repository: str | None,
    ci_token_ttl: float | None,
    ci_token_file: str | None,
    cmd: tuple[str, ...],
    function_urls: tuple[str, ...] = (),
    function_execs: tuple[tuple[str, str], ...] = (),
    open_functions: tuple[str, ...] = (),
) -> None:
    """Run a local OpenFaaS gateway with IAM function authentication plus an
    OpenID provider, on 127.0.0.1, to try faasauth or test scripts without a
    cluster.

    Without CMD it prints `export` lines for OPENFAAS_URL, FAASAUTH_AUTHORITY,
    FAASAUTH_CLIENT_ID and FAASAUTH_CLIENT_SECRET, and OPENFAAS_USERNAME and
    OPENFAAS_PASSWORD (the gateway's admin, for faas-cli login), on stdout and
    serves until Ctrl-C. With CMD it runs CMD with those variables, a temporary FAASAUTH_HOME
    and FAASAUTH_TOKEN_STORE=file, then stops and exits with CMD's status.

    Functions: echo and env (open), echo-auth and env-auth (jwt_auth). Clients:
    faasauth-sandbox (confidential: client credentials, device grant, browser
    login) and faasauth-cli (public: device grant, browser login). Approve
    device logins at <IdP>/device; browser logins (authorization code with
    PKCE S256, redirect http://127.0.0.1:PORT/oauth/callback, any PORT) at
    <IdP>/authorize; or pass --auto-approve. In --iam YAML, ${FAASAUTH_AUTHORITY}
    and ${OPENFAAS_URL} stand for the sandbox's own URLs, ${FAASAUTH_CI_ISSUER}
    for the --ci issuer.

    --function NAME=URL puts your own HTTP server behind the watchdog's JWT
    check and IAM; --function-exec NAME 'CMD ARGS' runs a command for each
    request (body on stdin, stdout the answer), as the classic watchdog does.

    The gateway also serves the read API faas-cli uses (describe, ready,
    namespace list, version, list, login) to the admin or an API token, with
    the Policies' Function:Read and Namespace:Read; writes answer 501.

    With --ci, CMD also gets the platform's variables: GITHUB_ACTIONS,
    ACTIONS_ID_TOKEN_REQUEST_URL and ACTIONS_ID_TOKEN_REQUEST_TOKEN (github);
    GITLAB_CI and OPENFAAS_ID_TOKEN (gitlab); FAASAUTH_SANDBOX_TOKEN_FILE
    (kubernetes). CI tokens have the gateway URL as audience.

    \b
    Examples:
      faasauth sandbox -- sh -c 'faasauth auth && echo hello | faasauth invoke echo-auth'
      eval "$(faasauth sandbox --auto-approve --background)"  # later: kill $FAASAUTH_SANDBOX_PID
      faasauth sandbox --stack stack.yml --iam iam/ --latency 200
      faasauth sandbox --ci kubernetes -- sh -c 'faasauth auth --token-file "$FAASAUTH_SANDBOX_TOKEN_FILE"'
      faasauth sandbox --tls -- sh -c 'faasauth auth && echo hi | faasauth invoke env-auth'
      faasauth sandbox --function-exec shout 'tr a-z A-Z' -- sh -c 'faasauth auth && echo hi | faasauth invoke shout'
    """
    import sys

    if not cmd and ctx.meta.get(ENDS_WITH_SEPARATOR):
        raise click.UsageError(
            "-- needs a command after it: the sandbox runs it, then stops (without --, it "
            "serves until Ctrl-C)"
        )
    from faasauth.sandbox import launch

    options = launch.Options(
        port=port,
        iam=iam_path,
        stack=stack_path,
        auto_approve=auto_approve,
        latency_ms=latency_ms,
        watchdog=watchdog,
        quiet=quiet,
        ci=ci,
        ci_repository=ci_repository,
        ci_token_ttl=ci_token_ttl,
        ci_token_file=ci_token_file,
        tls=tls,
        functions=_own_functions(function_urls, function_execs, open_functions),
    )
    if cmd:
        if background:
            raise click.UsageError("--background serves for other commands; with -- CMD the "
                                   "sandbox stops when CMD ends")
        ctx.exit(launch.run_command(options, cmd, err=sys.stderr))
    if background:
        ctx.exit(launch.serve_in_background(options, out=sys.stdout, err=sys.stderr))
    ctx.exit(launch.serve(options, out=sys.stdout, err=sys.stderr))


def _own_functions(
    urls: tuple[str, ...], execs: tuple[tuple[str, str], ...], open_names: tuple[str, ...]
) -> tuple[Any, ...]:
    """--function, --function-exec and --no-jwt-auth as the sandbox's Function objects."""
    from faasauth.sandbox import user_functions

    found = []
    try:
        for spec in urls:
            found.append(user_functions.parse_url_spec(spec))
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint="--function") from None
    try:
        for name, command in execs:
            found.append(user_functions.exec_function(name, command))
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint="--function-exec") from None
    names = {f.name for f in found} | {f"{f.name}.{f.namespace}" for f in found}
    unknown = [n for n in open_names if n not in names]
    if unknown:
        raise click.BadParameter(
            f"{unknown[0]!r} is not a --function or --function-exec", param_hint="--no-jwt-auth"
        )
    import dataclasses

    return tuple(
        dataclasses.replace(f, jwt_auth=False)
        if f.name in open_names or f"{f.name}.{f.namespace}" in open_names
        else f
        for f in found
    )
