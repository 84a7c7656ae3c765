from __future__ import annotations

import click


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

    from faasauth.cli.completion import completion_script

    sys.stdout.write(completion_script(shell))
