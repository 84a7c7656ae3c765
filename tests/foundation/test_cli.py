"""CLI plumbing: `faasauth.cli.app.main` turns every outcome into one message and an exit code."""

from __future__ import annotations

import subprocess
import sys

import pytest

import faasauth.flows.exchange
from faasauth import __version__
from faasauth.errors import (
    ExchangeRefused,
    ExitCode,
    FaasauthError,
    FunctionFailed,
    FunctionRefused,
    LoginFailed,
    MalformedResponse,
    NotLoggedIn,
    Refused,
    TransientFailure,
    UsageFailure,
)
from foundation.conftest import Gateway, subprocess_env


def test_exit_codes_are_the_documented_ones() -> None:
    assert [int(c) for c in (ExitCode.OK, ExitCode.FUNCTION_FAILED, ExitCode.USAGE,
                             ExitCode.TRANSIENT, ExitCode.REFUSED, ExitCode.INTERNAL)] == [0, 1, 2, 3, 4, 5]
    expected = {
        FunctionFailed: 1, UsageFailure: 2, TransientFailure: 3, MalformedResponse: 3,
        Refused: 4, NotLoggedIn: 4, LoginFailed: 4, ExchangeRefused: 4, FunctionRefused: 4,
        FaasauthError: 5,
    }
    assert {cls: cls("x").exit_code for cls in expected} == expected


@pytest.mark.parametrize(
    ("error", "code"),
    [
        (UsageFailure("bad flag"), 2),
        (TransientFailure("network down"), 3),
        (ExchangeRefused("no", hint="ask an admin"), 4),
        (FunctionFailed("the function said 500"), 1),
    ],
)
def test_faasauth_errors_become_one_message_and_their_code(
    run_cli, monkeypatch: pytest.MonkeyPatch, error: FaasauthError, code: int
) -> None:
    def fail(*args: object, **kwargs: object) -> None:
        raise error

    monkeypatch.setenv("FAASAUTH_SUBJECT_TOKEN", "subject-token-123")
    monkeypatch.setattr(faasauth.flows.exchange, "obtain_function_token", fail)
    result = run_cli("exchange")
    assert result.code == code
    lines = result.err.splitlines()
    assert lines[0] == f"faasauth: {error.message}"
    assert lines[1:] == ([f"hint: {error.hint}"] if error.hint else [])
    assert result.out == ""


def test_unexpected_exception_is_exit_5_without_traceback(run_cli, monkeypatch) -> None:
    def crash(*args: object, **kwargs: object) -> None:
        raise ZeroDivisionError("boom")

    monkeypatch.setenv("FAASAUTH_SUBJECT_TOKEN", "subject-token-123")
    monkeypatch.setattr(faasauth.flows.exchange, "obtain_function_token", crash)
    result = run_cli("exchange")
    assert result.code == 5
    assert result.err.splitlines() == [
        "faasauth: internal error: ZeroDivisionError",
        "hint: rerun with --verbose and report it at https://github.com/faasauth/faasauth/issues",
    ]
    assert "Traceback" not in result.err


def test_the_issue_tracker_named_is_the_projects() -> None:
    from faasauth.cli.about import ISSUES_URL
    from test_readme import project_urls

    assert ISSUES_URL == project_urls()["Issues"]


@pytest.mark.parametrize(
    ("args", "first"),
    [
        (["invoke", "\udcff"], "faasauth: the argument '\\xff' is not UTF-8 text"),
        (["invoke", "figlet", "-n", "a\udcfe"], "faasauth: the value of -n is not UTF-8 text: 'a\\xfe'"),
        (["invoke", "figlet", "--query=q=\udcfe"],
         "faasauth: the value of --query is not UTF-8 text: 'q=\\xfe'"),
        (["exchange", "-a", "fn:\udcfe"], "faasauth: the value of -a is not UTF-8 text: 'fn:\\xfe'"),
    ],
)
def test_bytes_that_are_not_utf8_are_a_usage_error(run_cli, args: list[str], first: str) -> None:
    """Issue 22 item 8: they ended in `internal error: UnicodeEncodeError` (exit 5)."""
    result = run_cli(*args)
    assert result.code == 2, result.err
    assert result.err.splitlines()[0] == first
    assert result.err.splitlines()[1].startswith("hint: names, namespaces, queries and URLs are UTF-8")


@pytest.mark.parametrize("flag_first", [True, False])
def test_unexpected_exception_with_verbose_shows_the_traceback(run_cli, monkeypatch, flag_first) -> None:
    def crash(*args: object, **kwargs: object) -> None:
        raise ZeroDivisionError("boom")

    monkeypatch.setenv("FAASAUTH_SUBJECT_TOKEN", "subject-token-123")
    monkeypatch.setattr(faasauth.flows.exchange, "obtain_function_token", crash)
    result = run_cli(*(["-v", "exchange"] if flag_first else ["exchange", "--verbose"]))
    assert result.code == 5
    assert "Traceback" in result.err and "ZeroDivisionError: boom" in result.err
    assert result.err.splitlines()[-2] == "faasauth: internal error: ZeroDivisionError"


def test_keyboard_interrupt_is_130(run_cli, monkeypatch) -> None:
    def interrupt(*args: object, **kwargs: object) -> None:
        raise KeyboardInterrupt

    monkeypatch.setenv("FAASAUTH_SUBJECT_TOKEN", "subject-token-123")
    monkeypatch.setattr(faasauth.flows.exchange, "obtain_function_token", interrupt)
    result = run_cli("exchange")
    assert result.code == 130
    assert "Traceback" not in result.err


def test_help_and_version(run_cli) -> None:
    result = run_cli("--help")
    assert result.code == 0
    for name in ("exchange", "status", "logout"):
        assert name in result.out
    assert "Exit codes: 0 ok" in result.out
    version = run_cli("--version")
    assert version.code == 0 and __version__ in version.out


def test_bare_faasauth_prints_the_help(run_cli) -> None:
    """Issue 22 item 1: click 8.2+ raises the help as a usage error (one line of `\\x0a`s,
    exit 2); bare `faasauth` prints the help itself, on stdout, on every click."""
    result = run_cli()
    assert result.code == 0, result.err
    assert result.out.startswith("Usage: faasauth [OPTIONS] COMMAND") and "\nCommands:\n" in result.out
    assert "\\x0a" not in result.out + result.err and result.err == ""


def test_a_choice_missing_is_one_plain_line(run_cli) -> None:
    """click 8.2+ lists the choices on lines of their own; faasauth's message stays one line."""
    result = run_cli("completion")
    assert result.code == 2
    first, hint = result.err.splitlines()
    assert "\\x0a" not in result.err and "\t" not in first
    assert first.startswith("faasauth: missing argument") and "bash, zsh, fish" in first, first
    assert hint == "hint: see 'faasauth completion --help'"


@pytest.mark.parametrize("command", ["auth", "exchange", "invoke"])
def test_every_networked_command_accepts_the_connection_options(run_cli, command: str) -> None:
    result = run_cli(command, "--help")
    assert result.code == 0
    for option in ("--gateway", "--tls-no-verify", "--cacert", "--timeout", "--verbose", "Example"):
        assert option in result.out, (command, option)


@pytest.mark.parametrize(
    "args",
    [["no-such-command"], ["status", "--bogus"], ["exchange", "-o"], ["status", "extra-arg"]],
)
def test_usage_errors_are_exit_2_without_traceback(run_cli, args: list[str]) -> None:
    result = run_cli(*args)
    assert result.code == 2
    assert "Traceback" not in result.err and result.out == ""
    assert result.err.startswith("faasauth: ") and "\nhint: " in result.err  # one form


@pytest.mark.parametrize(
    ("args", "hint"),
    [(["exchange", "-o"], "see 'faasauth exchange --help'"),
     (["invoke", "x", "-m"], "see 'faasauth invoke --help'"),
     (["-v", "invoke", "x", "-H"], "see 'faasauth invoke --help'")],
)
def test_a_missing_option_value_hints_at_the_commands_help(run_cli, args: list[str], hint: str) -> None:
    """Issue 22 item 13: click raises it without a context; the hint said `faasauth --help`."""
    result = run_cli(*args)
    assert result.code == 2
    assert result.err.splitlines()[-1] == f"hint: {hint}"


SECRET_VALUE = "s3cret-value-typed-on-the-line"


@pytest.mark.parametrize(
    ("args", "first", "hint"),
    [
        (["auth", "--client-secret", SECRET_VALUE],
         "faasauth: auth takes no --client-secret: a client secret is never taken on the "
         "command line, where the process list and the shell's history keep it",
         "hint: use FAASAUTH_CLIENT_SECRET, a file named by FAASAUTH_CLIENT_SECRET_FILE or "
         "--client-secret-file PATH ('-' reads stdin)"),
        (["auth", "--authority", "https://idp.example", f"--client-secret={SECRET_VALUE}"],
         "faasauth: auth takes no --client-secret: a client secret is never taken on the "
         "command line, where the process list and the shell's history keep it", None),
        (["auth", f"--token={SECRET_VALUE}"],
         "faasauth: auth takes no --token: an ID token is never taken on the command line, "
         "where the process list and the shell's history keep it",
         "hint: use --token-file PATH ('-' reads stdin) or FAASAUTH_ID_TOKEN"),
        (["exchange", "--subject-token", SECRET_VALUE],
         "faasauth: exchange takes no --subject-token: a subject token is never taken on the "
         "command line, where the process list and the shell's history keep it",
         "hint: use --subject-token-file PATH ('-' reads stdin) or FAASAUTH_SUBJECT_TOKEN"),
    ],
)
def test_a_secret_on_the_command_line_says_how_to_pass_it(
    run_cli, args: list[str], first: str, hint: str | None
) -> None:
    """Issue 22 item 21: click's generic "no such option", and never the value itself."""
    result = run_cli(*args)
    assert result.code == 2 and result.out == ""
    lines = result.err.splitlines()
    assert lines[0] == first
    if hint is not None:
        assert lines[1] == hint
    assert SECRET_VALUE not in result.err


def test_other_unknown_options_keep_clicks_message(run_cli) -> None:
    result = run_cli("invoke", "fn", "--token", "abc")  # invoke reads no token: nothing to say
    assert result.code == 2
    assert result.err.startswith("faasauth: no such option")


def test_help_of_an_unknown_command_lists_the_commands(run_cli) -> None:
    """Issue 22 item 14: `faasauth help nope` suggested `invoke`."""
    result = run_cli("help", "nope")
    assert result.code == 2
    assert result.err.splitlines()[0] == (
        "faasauth: there is no command 'nope'; the commands are auth, exchange, invoke, status, "
        "logout, proxy, sandbox, completion, help")
    assert "did you mean" not in result.err


def test_grant_help_leaves_implicit_out_and_still_refuses_it_with_the_reason(run_cli) -> None:
    """Issue 22 item 15."""
    assert "implicit" not in run_cli("auth", "--help").out
    result = run_cli("auth", "--grant", "implicit", "--authority", "http://127.0.0.1:9",
                     "--client-id", "x")
    assert result.code == 2
    assert "the implicit grant is not supported: OAuth 2.1 drops it" in result.err


def test_console_script_entry_point(gateway: Gateway) -> None:
    """`python -m faasauth` is the same main(): real exit codes, stdout only the token."""
    env = subprocess_env(FAASAUTH_SUBJECT_TOKEN="subject-token-123")
    done = subprocess.run(
        [sys.executable, "-m", "faasauth", "exchange", "-g", gateway.url],
        env=env, capture_output=True, text=True, timeout=60,
    )
    assert (done.returncode, done.stdout, done.stderr) == (0, "fn-token-1-abcdefghijklmnop\n", "")
    gateway.answer({"error": "access_denied"}, 400)
    done = subprocess.run(
        [sys.executable, "-m", "faasauth", "exchange", "-g", gateway.url, "--force"],
        env=env, capture_output=True, text=True, timeout=60,
    )
    assert done.returncode == 4
    assert done.stderr.splitlines()[0] == "faasauth: token exchange refused: access_denied"


@pytest.mark.parametrize("unbuffered", [False, True])
def test_closed_stdout_is_not_a_traceback(gateway: Gateway, unbuffered: bool) -> None:
    """`faasauth exchange | (exit)`: the reader is gone before we write."""
    env = subprocess_env(
        FAASAUTH_SUBJECT_TOKEN="subject-token-123", PYTHONUNBUFFERED="1" if unbuffered else None
    )
    proc = subprocess.Popen(
        [sys.executable, "-m", "faasauth", "exchange", "-g", gateway.url, "-o", "json"],
        env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
    )
    assert proc.stdout is not None and proc.stderr is not None
    proc.stdout.close()  # long before the child has its token to print
    err = proc.stderr.read().decode()
    proc.wait(60)
    assert "Traceback" not in err and "Exception ignored" not in err, err
    assert gateway.count == 1
    if not unbuffered:
        assert proc.returncode == 0
    # With PYTHONUNBUFFERED the write itself fails inside click, which exits 1 on its own
    # (click 8.2+ handles EPIPE even with standalone_mode=False): reported, not asserted.
