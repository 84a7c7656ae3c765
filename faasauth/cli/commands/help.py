"""`faasauth help [COMMAND]`: the same text as `faasauth [COMMAND] --help`."""

from __future__ import annotations

import click


@click.command("help")
@click.argument("name", metavar="COMMAND", required=False)
def command(name: str | None) -> None:
    """Show the help of faasauth or of one of its commands.

    \b
    Examples:
      faasauth help
      faasauth help invoke
    """
    ctx = click.get_current_context()
    root = ctx.find_root()
    group = root.command
    if name is None:
        click.echo(group.get_help(root))
        return
    assert isinstance(group, click.Group)
    found = group.get_command(root, name)
    if found is None:
        names = ", ".join(group.list_commands(root))
        raise click.UsageError(f"there is no command '{name}'; the commands are {names}", ctx)
    with click.Context(found, info_name=name, parent=root) as sub:
        click.echo(found.get_help(sub))
