from __future__ import annotations

import click

from faasauth.cli.options import gateway_choice_options, verbose_option, make_runtime


@click.command("logout")
@gateway_choice_options
@verbose_option  # accepted after any command (it sends nothing to log)
@click.option("--all", "everything", is_flag=True, help="Remove what is stored for every gateway.")
def command(everything: bool, **connection: object) -> None:
    """Remove the stored login and cached function tokens for a gateway.

    Also removes the faas-cli config entry `faasauth auth --faas-cli` wrote for it (only
    that one: other entries, and an entry faas-cli itself replaced, stay). Your IdP
    session stays as it is.

    \b
    Example:
      faasauth logout -g https://gw.example.com
      faasauth logout --all
    """
    from faasauth.console import say
    from faasauth.flows.status import describe_removed, remove_stored

    if everything and connection.get("gateway"):
        raise click.UsageError("use either --gateway or --all, not both")
    rt = make_runtime(connection)
    gateway = None if everything else rt.settings.gateway
    from faasauth.flows.faas_cli import forget_api_token, recorded_configs

    recorded = recorded_configs(rt, gateway)  # before the logins that recorded them go
    say(describe_removed(remove_stored(rt, gateway), gateway))
    faas_cli = forget_api_token(rt, gateway, recorded)
    if faas_cli:
        say(faas_cli)
