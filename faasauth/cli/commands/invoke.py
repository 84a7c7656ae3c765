from __future__ import annotations

from typing import Any

import click

from faasauth.cli.options import gateway_options, lazy_completer, make_runtime, namespace_option

METHODS = ("GET", "POST", "PUT", "PATCH", "DELETE")


@click.command("invoke")
@click.argument("name", shell_complete=lazy_completer("complete_function_name"))
@gateway_options
@namespace_option
@click.option(
    "-H",
    "--header",
    "headers",
    multiple=True,
    metavar="'KEY: VALUE'",
    help="Add a request header; repeat for several.",
)
@click.option(
    "--query", "query", multiple=True, metavar="KEY=VALUE", help="Add a query-string parameter; "
    "repeat for several."
)
@click.option(
    "-m",
    "--method",
    type=click.Choice(METHODS, case_sensitive=False),
    default="POST",
    show_default=True,
    metavar="METHOD",
    help="HTTP method: GET, POST, PUT, PATCH or DELETE.",
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
    headers: tuple[str, ...],
    query: tuple[str, ...],
    method: str,
    content_type: str,
    is_async: bool,
    auth: bool,
    audience: str | None,
    sign_header: str | None,
    sign_key: str | None,
    key_file: str | None,
    namespace: str | None,
    **connection: Any,
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

    from faasauth import __version__
    from faasauth.console import say
    from faasauth.errors import UsageFailure
    from faasauth.flows.exchange import obtain_function_token, parse_audience
    from faasauth.flows.invoke import Invocation, invoke, parse_header, parse_query
    from faasauth.store.remembered import RememberedFunctions
    from faasauth.gateway.body import RequestBody
    from faasauth.flows.subject import SubjectSource, find_subject

    header_list = [parse_header(h) for h in headers]
    query_list = [parse_query(q) for q in query]
    checked_audience = parse_audience(audience) if audience else None
    key = _signing_key(sign_header, sign_key, key_file)

    ctx = make_runtime(namespace=namespace, function=name, **connection)
    function_namespace = ctx.settings.namespace
    if function_namespace is None and "." in name:
        # `invoke env.dev`: faas-cli sends it as is and the gateway reads the namespace
        # from it; the token's audience must say dev:env as well.
        name, function_namespace = name.split(".", 1)
    if not name:
        raise UsageFailure("the function name is empty")

    names = {n.lower() for n, _ in header_list}
    click_ctx = click.get_current_context()
    explicit_type = click_ctx.get_parameter_source("content_type") not in (
        click.core.ParameterSource.DEFAULT,
        None,
    )
    if explicit_type or "content-type" not in names:
        header_list = [(n, v) for n, v in header_list if n.lower() != "content-type"]
        header_list.append(("Content-Type", content_type))
    if "user-agent" not in names:
        header_list.append(("User-Agent", f"faasauth/{__version__}"))

    stdin = sys.stdin.buffer if sys.stdin is not None else None
    if stdin is not None and stdin.isatty():
        say("Reading from STDIN - hit (Control + D) to stop.")

    subject: list[SubjectSource] = []

    def tokens(reject: str | None = None) -> Any:
        if not subject:
            subject.append(find_subject(ctx))
        return obtain_function_token(ctx, subject[0], [invocation.token_audience], reject=reject)

    with RequestBody(stdin) as body:
        if sign_header and key is not None:
            import hashlib
            import hmac

            mac = hmac.new(key, digestmod=hashlib.sha256)
            body.load(mac.update)
            header_list.append((sign_header, "sha256=" + mac.hexdigest()))
        invocation = Invocation(
            name=name,
            namespace=function_namespace,
            method=method.upper(),
            headers=tuple(header_list),
            query=tuple(query_list),
            is_async=is_async,
            auth=auth,
            audience=checked_audience,
            decode="accept-encoding" not in names,
        )
        invoke(
            invocation,
            settings=ctx.settings,
            client=ctx.client,
            body=body,
            tokens=tokens,
            notes=RememberedFunctions(ctx.home, clock=ctx.clock),
            out=sys.stdout.buffer,
        )


def _signing_key(header: str | None, key: str | None, key_file: str | None) -> bytes | None:
    import os

    from faasauth.errors import UsageFailure

    if key is not None and key_file is not None:
        raise UsageFailure("give the signing key once: --key or --key-file")
    if not header:
        if key is not None or key_file is not None:
            raise UsageFailure("--key and --key-file go with --sign HEADER")
        return None
    if key_file is not None:
        try:
            with open(os.path.expanduser(key_file), "rb") as handle:
                data = handle.read()
        except OSError as exc:
            raise UsageFailure(f"cannot read the key file {key_file}: {exc.strerror}") from exc
        data = data[:-2] if data.endswith(b"\r\n") else data[:-1] if data.endswith(b"\n") else data
    elif key is not None:
        data = key.encode("utf-8")
    else:
        data = os.environ.get("FAASAUTH_SIGN_KEY", "").encode("utf-8")
    if not data:
        raise UsageFailure(
            "signing requires a key: --key-file PATH, FAASAUTH_SIGN_KEY, or --key KEY"
        )
    return data
