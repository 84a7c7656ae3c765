"""The `faasauth` command group and the one place errors become messages and exit codes.

Only click is imported here: every command imports what it needs when it runs, so
`--help`, argument parsing and shell completion stay fast.
"""

from __future__ import annotations

import os
import sys

import click

from faasauth import __version__
from faasauth.commands import auth, exchange, logout, status
from faasauth.options import VERBOSE_KEY, verbose_option

CONTEXT_SETTINGS = {"help_option_names": ["-h", "--help"], "max_content_width": 100}


@click.group(context_settings=CONTEXT_SETTINGS)
@click.version_option(__version__, "-V", "--version", prog_name="faasauth")
@verbose_option
def cli() -> None:
    """Call OpenFaaS functions protected by OpenFaaS IAM function authentication.

    \b
    Log in once, then invoke as with faas-cli; tokens are exchanged and cached for you:
      faasauth auth --authority https://idp.example.com --client-id faasauth
      echo hello | faasauth invoke figlet

    Exit codes: 0 ok, 1 the function answered non-2xx, 2 usage error, 3 network/server
    trouble (retrying may help), 4 refused (new credentials needed), 5 internal error.
    """


for module in (auth, exchange, status, logout):
    cli.add_command(module.command)


def _verbose() -> bool:
    ctx = click.get_current_context(silent=True)
    return bool(ctx and ctx.find_root().meta.get(VERBOSE_KEY)) or "--verbose" in sys.argv


def main(argv: list[str] | None = None) -> None:
    from faasauth.errors import ExitCode, FaasauthError

    code: int
    try:
        result = cli.main(args=argv, prog_name="faasauth", standalone_mode=False)
        code = result if isinstance(result, int) else 0
    except FaasauthError as exc:
        from faasauth.console import error

        error(exc.message, exc.hint)
        code = exc.exit_code
    except click.exceptions.Abort:
        code = ExitCode.INTERRUPTED
    except KeyboardInterrupt:
        print("", file=sys.stderr)
        code = ExitCode.INTERRUPTED
    except click.ClickException as exc:
        exc.show()
        code = exc.exit_code
    except BrokenPipeError:
        # `faasauth ... | head`: the reader left; nothing more to say to anyone.
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        code = 0
    except Exception as exc:  # the last resort: say what broke, not a traceback
        from faasauth.console import error

        if "-v" in sys.argv or "--verbose" in sys.argv:
            import traceback

            traceback.print_exc()
        error(
            f"internal error: {type(exc).__name__}",
            hint="rerun with --verbose and report it at the faasauth issue tracker",
        )
        code = ExitCode.INTERNAL
    _flush_quietly()
    sys.exit(int(code))


def _flush_quietly() -> None:
    try:
        sys.stdout.flush()
    except BrokenPipeError:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
