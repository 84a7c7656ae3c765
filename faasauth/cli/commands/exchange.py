from __future__ import annotations

import click

from faasauth.cli.options import gateway_options, lazy_completer, make_runtime
from faasauth.cli.params import AUDIENCE


@click.command("exchange")
@gateway_options
@click.option(
    "-a",
    "--audience",
    "audiences",
    multiple=True,
    metavar="NS:NAME",
    type=AUDIENCE,
    shell_complete=lazy_completer("complete_audience"),
    help="Narrow the token to this function; repeat for several.",
)
@click.option(
    "--subject-token-file",
    metavar="PATH",
    help="Read the IdP token to exchange from PATH ('-' for stdin). "
    "[env: FAASAUTH_SUBJECT_TOKEN; default: the stored login]",
)
@click.option(
    "--subject-token-type",
    type=click.Choice(["id_token", "access_token", "jwt"]),
    default="id_token",
    show_default=True,
    help="The subject token's type, sent as its full URN.",
)
@click.option(
    "--min-ttl",
    type=click.FloatRange(min=0),
    default=30.0,
    show_default=True,
    metavar="SECONDS",
    help="Reuse a cached token only with at least this many seconds left.",
)
@click.option("--force", is_flag=True, help="Skip the cache: always exchange.")
@click.option(
    "-o",
    "--output",
    type=click.Choice(["token", "header", "json"]),
    default="token",
    show_default=True,
    help="token: the bare token; header: an Authorization header line; json: all details.",
)
def command(
    audiences: tuple[str, ...],
    subject_token_file: str | None,
    subject_token_type: str,
    min_ttl: float,
    force: bool,
    output: str,
    **connection: object,
) -> None:
    """Trade your IdP login for a function access token.

    The token is cached until shortly before it expires; stdout carries only the token.

    \b
    Example:
      TOKEN=$(faasauth exchange -a openfaas-fn:figlet)
      curl -H "Authorization: Bearer $TOKEN" -d hi http://127.0.0.1:8080/function/figlet
    """
    from faasauth.cli.render import print_function_token
    from faasauth.flows.exchange import obtain_function_token
    from faasauth.flows.subject import find_subject
    from faasauth.gateway.exchange import subject_type

    rt = make_runtime(connection)
    subject = find_subject(rt, subject_token_file)
    obtained = obtain_function_token(
        rt, subject, list(audiences), subject_type=subject_type(subject_token_type),
        min_ttl=min_ttl, force=force,
    )
    print_function_token(obtained.token, output, cached=obtained.cached, now=rt.now())
