"""The `faasauth` command group and the one place errors become messages and exit codes.

Only click is imported here: every command imports what it needs when it runs, so
`--help`, argument parsing and shell completion stay fast.
"""

from __future__ import annotations

import os
import sys
from typing import Any

import click

from faasauth.cli.options import verbose_option

CONTEXT_SETTINGS = {"help_option_names": ["-h", "--help"], "max_content_width": 100}

# name -> (module under faasauth.cli.commands, one-line help shown by `faasauth --help`).
# Commands are imported only when run or asked for help, so `faasauth --help` and shell
# completion do not pay for every command's options; tests/test_cli_help.py keeps these
# lines equal to each command's own short help.
COMMANDS: dict[str, tuple[str, str]] = {
    "auth": ("auth", "Log in to the identity provider and keep the login for this gateway."),
    "exchange": ("exchange", "Trade your IdP login for a function access token."),
    "invoke": ("invoke", "Invoke a function with the body read from stdin, as faas-cli invoke does."),
    "status": ("status", "Show stored logins and cached function tokens (masked)."),
    "logout": ("logout", "Remove the stored login and cached function tokens for a gateway."),
    "proxy": ("proxy", "Serve the gateway's functions on localhost with your login: tokens added and renewed."),
    "sandbox": ("sandbox", "Run a local OpenFaaS gateway with IAM and an OpenID provider."),
    "completion": ("completion", "Print the shell completion script for SHELL."),
    "help": ("help", "Show the help of faasauth or of one of its commands."),
}


class LazyGroup(click.Group):
    def list_commands(self, ctx: click.Context) -> list[str]:
        return list(COMMANDS)

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        if cmd_name not in COMMANDS:
            return None
        from importlib import import_module

        module = import_module(f"faasauth.cli.commands.{COMMANDS[cmd_name][0]}")
        command: click.Command = module.command
        return command

    def main(self, *args: Any, **kwargs: Any) -> Any:
        # A TAB (or `eval "$(_FAASAUTH_COMPLETE=fish_source faasauth)"`): click answers before
        # any command runs, so faasauth's fish script is put in place of click's here.
        from faasauth.cli.completion import COMPLETE_VAR

        if COMPLETE_VAR in os.environ:
            from faasauth.cli.completion import register_fish

            register_fish()
        return super().main(*args, **kwargs)

    def parse_args(self, ctx: click.Context, args: list[str]) -> list[str]:
        # Bare `faasauth`: the help on stdout and exit 0, as click 8.1 does. Click 8.2+ raises
        # NoArgsIsHelpError instead, a usage error whose message is the whole help text.
        if not args and not ctx.resilient_parsing:
            click.echo(ctx.get_help(), color=ctx.color)
            ctx.exit()
        return super().parse_args(ctx, args)

    def invoke(self, ctx: click.Context) -> object:
        try:
            return super().invoke(ctx)
        except BrokenPipeError:
            # `faasauth ... | head`: the reader left. Caught here because click would turn
            # it into exit 1, which this tool's exit codes reserve for a function's non-2xx.
            _silence_stdout()
            return 0

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        with formatter.section("Commands"):
            formatter.write_dl([(name, short) for name, (_, short) in COMMANDS.items()])


def _print_version(ctx: click.Context, _param: click.Parameter, value: bool) -> None:
    # Not click's version_option: a bug report needs more than the version (faasauth.cli.about).
    if not value or ctx.resilient_parsing:
        return
    from faasauth.cli.about import version_lines

    click.echo("\n".join(version_lines()))
    ctx.exit()


@click.group(cls=LazyGroup, context_settings=CONTEXT_SETTINGS)
@click.option("-V", "--version", is_flag=True, expose_value=False, is_eager=True,
              callback=_print_version, help="Show the version, Python, httpx and store, and exit.")
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


def main(argv: list[str] | None = None) -> None:
    """Run the CLI and exit; the only place an error becomes a message and an exit code."""
    if argv is None:  # faasauth's own process (the console script, python -m faasauth)
        _keep_async_backends_out()
    args = sys.argv[1:] if argv is None else argv
    code: int
    try:
        _check_text_arguments(args)
        result = cli.main(args=args, prog_name="faasauth", standalone_mode=False)
        code = result if isinstance(result, int) else 0
    except (click.exceptions.Abort, KeyboardInterrupt):
        print("", file=sys.stderr)
        code = 130
    except click.ClickException as exc:
        _usage_error(exc, args)
        code = exc.exit_code
    except BrokenPipeError:
        # `faasauth ... | head`: the reader left; nothing more to say to anyone.
        _silence_stdout()
        code = 0
    except Exception as exc:
        code = _report(exc, verbose="-v" in args or "--verbose" in args)
    try:
        sys.stdout.flush()
    except BrokenPipeError:
        _silence_stdout()
    sys.exit(int(code))


# Options whose value is a path: any bytes are a valid one on POSIX.
PATH_OPTIONS = ("--cacert", "-f", "--yaml", "--iam", "--stack")


def _check_text_arguments(args: list[str]) -> None:
    """Names, namespaces, queries and URLs are text: bytes that are not UTF-8 (carried by
    Python as surrogate escapes) are a usage error naming the option, not an internal error
    where they are first encoded. Paths, and what follows `--`, are passed on as they are."""
    for index, arg in enumerate(args):
        if arg == "--":
            return
        if not any("\udc80" <= char <= "\udcff" for char in arg):
            continue
        previous = args[index - 1] if index else ""
        if arg.startswith("-") and "=" in arg:
            option, arg = arg.split("=", 1)
        elif previous.startswith("-") and "=" not in previous:
            option = previous
        else:
            option = ""
        if option in PATH_OPTIONS or option.endswith("-file"):
            continue
        from faasauth.errors import UsageFailure

        shown = repr(os.fsencode(arg))[2:-1]
        what = f"the value of {option}" if option else f"the argument '{shown}'"
        command = args[0] if args and args[0] in COMMANDS else None
        raise UsageFailure(
            f"{what} is not UTF-8 text" + (f": '{shown}'" if option else ""),
            hint="names, namespaces, queries and URLs are UTF-8; see 'faasauth"
                 + (f" {command}" if command else "") + " --help'",
        )


def _keep_async_backends_out() -> None:
    """Keep httpcore from importing trio and anyio, in faasauth's own process only (never in
    a program using the library, nor in a test calling main() with its arguments).

    httpcore imports both at import time, when installed, for its async primitives; trio
    alone (installed beside selenium, say) costs a warm invoke 60-90 ms. The command line
    never runs async code. A None in sys.modules makes those imports fail as if the
    packages were absent.
    """
    if "httpcore" not in sys.modules:
        for name in ("trio", "anyio"):
            sys.modules.setdefault(name, None)  # type: ignore[arg-type]


def _usage_error(exc: click.ClickException, args: list[str]) -> None:
    """click's own errors in faasauth's one-line form: `faasauth: ...` and a `hint:`."""
    from faasauth.console import error

    # One line: click 8.2+ lists a Choice's values on lines of their own ("Choose from:\n\tbash,").
    message = " ".join(exc.format_message().split()).rstrip(".")
    context = getattr(exc, "ctx", None)
    # click's parser raises some errors (an option missing its value) without a context:
    # the command is then the first argument that names one.
    named = next((arg for arg in args if arg in COMMANDS), None) if context is None else None
    where = context.command_path if context is not None else f"faasauth {named or ''}".strip()
    hint = f"see '{where} --help'"
    secret = _secret_option(exc, context.info_name if context is not None else named)
    if secret is not None:
        message, hint = secret
    elif message.startswith("No such command"):
        import difflib

        wrong = message.split("'")[1] if "'" in message else ""
        close = difflib.get_close_matches(wrong, [*COMMANDS, "help"], n=1, cutoff=0.6)
        hint = f"did you mean 'faasauth {close[0]}'?" if close else "see 'faasauth --help'"
    elif (
        context is not None
        and context.info_name == "invoke"
        and message.startswith("Got unexpected extra argument")
        and context.params.get("is_async")
    ):
        # `invoke figlet -a dev:figlet`: -a means --audience to `exchange`, not here.
        hint = ("in invoke, -a is --async (as in faas-cli); for a token audience give "
                "--audience NS:NAME")
    error(message[:1].lower() + message[1:], hint)


_CLIENT_SECRET_WAYS = "FAASAUTH_CLIENT_SECRET, a file named by FAASAUTH_CLIENT_SECRET_FILE"
# An option someone may try for a secret -> (what it is, how to pass it), per command (None:
# any command). Never the value in the message: only the option's name is shown.
SECRET_OPTIONS: dict[str, dict[str | None, tuple[str, str]]] = {
    "--client-secret": {
        "auth": ("a client secret", f"{_CLIENT_SECRET_WAYS} or --client-secret-file PATH "
                                    "('-' reads stdin)"),
        None: ("a client secret", _CLIENT_SECRET_WAYS.replace(", a", " or a")),
    },
    "--token": {
        "auth": ("an ID token", "--token-file PATH ('-' reads stdin) or FAASAUTH_ID_TOKEN"),
        "exchange": ("a subject token", "--subject-token-file PATH ('-' reads stdin) or "
                                        "FAASAUTH_SUBJECT_TOKEN"),
    },
}
SECRET_OPTIONS["--secret"] = SECRET_OPTIONS["--client-secret"]
SECRET_OPTIONS["--id-token"] = {"auth": SECRET_OPTIONS["--token"]["auth"]}
SECRET_OPTIONS["--subject-token"] = {"exchange": SECRET_OPTIONS["--token"]["exchange"]}


def _secret_option(exc: click.ClickException, command: str | None) -> tuple[str, str] | None:
    """`auth --client-secret X` (or `--client-secret=X`): not click's "no such option", but
    why there is none and how to pass the secret."""
    if not isinstance(exc, click.NoSuchOption):
        return None
    choices = SECRET_OPTIONS.get(exc.option_name, {})
    found = choices.get(command) or choices.get(None)
    if found is None:
        return None
    what, ways = found
    return (f"{command or 'faasauth'} takes no {exc.option_name}: {what} is never taken on the "
            "command line, where the process list and the shell's history keep it",
            f"use {ways}")


def _report(exc: Exception, *, verbose: bool) -> int:
    # Imported here, not at the top: `--help` never needs them.
    from faasauth.cli.about import ISSUES_URL
    from faasauth.console import error
    from faasauth.errors import ExitCode, FaasauthError

    if isinstance(exc, FaasauthError):
        error(exc.message, exc.hint)
        return int(exc.exit_code)
    if verbose:
        import traceback

        traceback.print_exc()
    error(
        f"internal error: {type(exc).__name__}",
        hint=f"rerun with --verbose and report it at {ISSUES_URL}",
    )
    return int(ExitCode.INTERNAL)


def _silence_stdout() -> None:
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, sys.stdout.fileno())
