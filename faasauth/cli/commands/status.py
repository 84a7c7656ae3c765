from __future__ import annotations

import click

from faasauth.cli.options import gateway_choice_options, make_runtime


@click.command("status")
@gateway_choice_options
@click.option("--json", "as_json", is_flag=True, help="Print the status as JSON on stdout.")
def command(as_json: bool, **connection: object) -> int:
    """Show stored logins and cached function tokens (masked).

    Exits 0 when a usable login exists for the gateway, 4 otherwise.

    \b
    Example:
      faasauth status --json | jq .logins
    """
    from faasauth.errors import ExitCode
    from faasauth.flows.status import collect_status
    from faasauth.cli.render import print_status

    status = collect_status(make_runtime(connection))
    print_status(status.as_dict(), as_json=as_json)
    return ExitCode.OK if status.usable_login else ExitCode.REFUSED
