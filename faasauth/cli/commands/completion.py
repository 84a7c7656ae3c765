"""`faasauth completion SHELL`: the script click generates for the whole command tree."""

from __future__ import annotations

import click

from faasauth.cli.completion import COMPLETE_VAR


@click.command("completion")
@click.argument("shell", type=click.Choice(["bash", "zsh", "fish"]))
def command(shell: str) -> None:
    """Print the shell completion script for SHELL.

    \b
    Examples:
      faasauth completion bash > ~/.local/share/bash-completion/completions/faasauth
      faasauth completion zsh > "${fpath[1]}/_faasauth"
      faasauth completion fish > ~/.config/fish/completions/faasauth.fish
    """
    import sys

    sys.stdout.write(completion_script(shell))


def completion_script(shell: str) -> str:
    """The script click generates for `shell`; the committed completions/ files are these."""
    from click.shell_completion import get_completion_class

    from faasauth.cli.app import cli
    from faasauth.cli.completion import register_fish

    register_fish()  # click's own fish script cuts descriptions at their first comma
    completion_class = get_completion_class(shell)
    if completion_class is None:
        raise ValueError(f"unsupported shell: {shell}")
    source = completion_class(cli, {}, "faasauth", COMPLETE_VAR).source()
    return source if source.endswith("\n") else source + "\n"

