from __future__ import annotations

import click

from faasauth.cli.options import gateway_options, make_runtime


@click.command("logout")
@gateway_options
@click.option("--all", "everything", is_flag=True, help="Remove what is stored for every gateway.")
def command(everything: bool, **connection: object) -> None:
    """Remove the stored login and cached function tokens for a gateway.

    Nothing else is touched: faas-cli's config and your IdP session stay as they are.

    \b
    Example:
      faasauth logout -g https://gw.example.com
      faasauth logout --all
    """
    from faasauth.console import say
    from faasauth.flows.status import remove_stored

    if everything and connection.get("gateway"):
        raise click.UsageError("use either --gateway or --all, not both")
    rt = make_runtime(connection)
    removed = remove_stored(rt, None if everything else rt.settings.gateway)
    where = "all gateways" if everything else rt.settings.gateway
    say(f"Removed {removed} stored item{'s' if removed != 1 else ''} for {where}.")
