from __future__ import annotations

import click

from faasauth.cli.options import (
    gateway_options,
    lazy_completer,
    make_runtime,
    namespace_option,
    stack_filter_options,
)
from faasauth.cli.params import AUDIENCE, HEADER, METHOD, QUERY


@click.command("invoke")
@click.argument("name", shell_complete=lazy_completer("complete_function_name"))
@gateway_options
@stack_filter_options
@namespace_option
@click.option(
    "-H",
    "--header",
    "headers",
    multiple=True,
    type=HEADER,
    metavar="'KEY: VALUE'",
    help="Add a request header; repeat for several.",
)
@click.option(
    "--query", "query", multiple=True, type=QUERY, metavar="KEY=VALUE", help="Add a query-string parameter; "
    "repeat for several."
)
@click.option(
    "-m",
    "--method",
    type=METHOD,
    default="POST",
    show_default=True,
    metavar="METHOD",
    help="HTTP method: GET, POST, PUT, PATCH or DELETE (any case).",
)
@click.option(
    "--content-type",
    default="text/plain",
    show_default=True,
    metavar="TYPE",
    help="Content-Type of the body; a Content-Type given with -H wins unless this is given.",
)
@click.option(
    "-a", "--async", "is_async", is_flag=True, help="Call /async-function/NAME (answers 202)."
)
@click.option(
    "--auth",
    is_flag=True,
    help="Send a function token on the first request (needed for --async, whose 202 never "
    "shows a challenge).",
)
@click.option(
    "--audience",
    metavar="NS:NAME",
    type=AUDIENCE,
    shell_complete=lazy_completer("complete_audience"),
    help="Ask for a token for this audience. [default: NAMESPACE:NAME]",
)
@click.option("--sign", "sign_header", metavar="HEADER", help="Sign the body into HEADER: "
              "'sha256=<hex HMAC-SHA256(body, key)>'.")
@click.option(
    "--key",
    "sign_key",
    metavar="KEY",
    help="Key for --sign. Visible to other users in the process list: prefer --key-file or "
    "FAASAUTH_SIGN_KEY.",
)
@click.option(
    "--key-file",
    metavar="PATH",
    help="Read the key for --sign from PATH (one trailing newline dropped). "
    "[env: FAASAUTH_SIGN_KEY holds the key itself]",
)
def command(
    name: str,
    headers: tuple[tuple[str, str], ...],
    query: tuple[tuple[str, str], ...],
    method: str,
    content_type: str,
    is_async: bool,
    auth: bool,
    audience: str | None,
    sign_header: str | None,
    sign_key: str | None,
    key_file: str | None,
    namespace: str | None,
    **connection: object,
) -> None:
    """Invoke a function with the body read from stdin, as faas-cli invoke does.

    A function that answers with OpenFaaS's IAM challenge is called again with a function
    token, and remembered: later calls send the token at once. Only the function's answer
    goes to stdout, byte for byte; messages go to stderr.

    \b
    Examples:
      echo hello | faasauth invoke figlet
      faasauth invoke env -m GET -n dev < /dev/null
      faasauth invoke resize --async --auth -H 'X-Callback-Url: http://cb' < in.png
    """
    import sys

    from faasauth.console import say, terminal_output
    from faasauth.flows.invoke import InvokeRequest, run_invoke, signing_key

    request = InvokeRequest(
        name=name,
        headers=headers,
        query=query,
        method=method,
        content_type=content_type,
        content_type_given=click.get_current_context().get_parameter_source("content_type")
        not in (click.core.ParameterSource.DEFAULT, None),
        is_async=is_async,
        auth=auth,
        audience=audience,
        sign_header=sign_header,
        sign_key=signing_key(sign_header, sign_key, key_file),
    )
    rt = make_runtime(connection, namespace=namespace, function=name)
    stdin = sys.stdin.buffer if sys.stdin is not None else None
    if stdin is not None and stdin.isatty():
        say("Reading from STDIN - hit (Control + D) to stop.")
    run_invoke(rt, request, stdin, terminal_output(sys.stdout.buffer))
