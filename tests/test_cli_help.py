"""The command list in `faasauth --help` is static (for speed); keep it true to the commands."""

from __future__ import annotations

import click
import pytest

from faasauth.cli.app import COMMANDS, cli


@pytest.mark.parametrize("name", list(COMMANDS))
def test_listed_help_matches_the_command(name: str) -> None:
    ctx = click.Context(cli)
    command = cli.get_command(ctx, name)
    assert command is not None and command.name == name
    assert command.get_short_help_str(limit=200) == COMMANDS[name][1]


@pytest.mark.parametrize("name", list(COMMANDS))
def test_every_command_help_has_an_example(name: str) -> None:
    ctx = click.Context(cli)
    command = cli.get_command(ctx, name)
    assert command is not None
    assert "Example" in (command.help or ""), f"{name} --help has no example"


def test_unknown_command_is_a_usage_error(capsys: pytest.CaptureFixture[str]) -> None:
    from faasauth.cli.app import main

    with pytest.raises(SystemExit) as exit_:
        main(["no-such-command"])
    assert exit_.value.code == 2
    err = capsys.readouterr().err
    assert err.startswith("faasauth: no such command 'no-such-command'") and "\nhint: " in err


def test_usage_errors_take_faasauths_form_and_suggest(capsys: pytest.CaptureFixture[str]) -> None:
    from faasauth.cli.app import main

    with pytest.raises(SystemExit) as exit_:
        main(["invok", "figlet"])
    assert exit_.value.code == 2
    assert capsys.readouterr().err.splitlines() == [
        "faasauth: no such command 'invok'", "hint: did you mean 'faasauth invoke'?"]
    with pytest.raises(SystemExit) as exit_:
        main(["invoke"])
    err = capsys.readouterr().err.splitlines()
    assert exit_.value.code == 2 and err[0].startswith("faasauth: missing argument")
    assert err[1] == "hint: see 'faasauth invoke --help'" and "Usage:" not in "".join(err)


def test_help_command_prints_the_same_help(capsys: pytest.CaptureFixture[str]) -> None:
    from faasauth.cli.app import main

    for argv, same in ((["help", "invoke"], ["invoke", "--help"]), (["help"], ["--help"])):
        with pytest.raises(SystemExit) as exit_:
            main(argv)
        assert exit_.value.code == 0
        shown = capsys.readouterr().out
        with pytest.raises(SystemExit):
            main(same)
        assert shown.strip() == capsys.readouterr().out.strip().replace("faasauth help", "faasauth help")


@pytest.mark.parametrize("argv", [["invoke", "figlet", "-a", "dev:figlet"],
                                  ["invoke", "-a", "figlet", "dev:figlet"]])
def test_invoke_dash_a_is_async_and_the_hint_says_so(
    capsys: pytest.CaptureFixture[str], argv: list[str]
) -> None:
    from faasauth.cli.app import main

    with pytest.raises(SystemExit) as exit_:
        main(argv)
    assert exit_.value.code == 2
    assert capsys.readouterr().err.splitlines() == [
        "faasauth: got unexpected extra argument (dev:figlet)",
        "hint: in invoke, -a is --async (as in faas-cli); for a token audience give "
        "--audience NS:NAME",
    ]


def test_an_extra_argument_without_dash_a_gets_the_usual_hint(
    capsys: pytest.CaptureFixture[str]
) -> None:
    from faasauth.cli.app import main

    with pytest.raises(SystemExit):
        main(["invoke", "figlet", "dev:figlet"])
    assert capsys.readouterr().err.splitlines()[1] == "hint: see 'faasauth invoke --help'"


def test_every_faas_cli_invoke_flag_in_the_readme_table_is_accepted() -> None:
    """The README's table of faas-cli invoke's flags: each one faasauth says it takes is an
    option of `faasauth invoke` (faas-cli's --name is the one it says it does not take)."""
    import re
    from pathlib import Path

    readme = (Path(__file__).resolve().parents[1] / "README.md").read_text(encoding="utf-8")
    section = readme.split("## Differences from `faas-cli invoke`", 1)[1].split("\n## ", 1)[0]
    rows = [line for line in section.splitlines() if line.startswith("| `")]
    flags = {flag for row in rows for flag in re.findall(r"(?<![\w-])(--?[a-z][\w-]*)",
                                                         row.split("|")[1])}
    assert {"--gateway", "--yaml", "--regex", "--filter", "--envsubst", "--sign"} <= flags
    ctx = click.Context(cli)
    invoke = cli.get_command(ctx, "invoke")
    assert invoke is not None
    accepted = {opt for param in invoke.params for opt in (*param.opts, *param.secondary_opts)}
    accepted |= {opt.split("/")[0] for opt in accepted}
    assert flags - accepted == {"--name"}


def test_method_is_upper_case_in_help_errors_and_completion(
    capsys: pytest.CaptureFixture[str],
) -> None:
    from click.shell_completion import ShellComplete

    from faasauth.cli.app import main

    with pytest.raises(SystemExit) as exit_:
        main(["invoke", "figlet", "-m", "fetch"])
    assert exit_.value.code == 2
    assert capsys.readouterr().err.splitlines()[0] == (
        "faasauth: invalid value for '-m' / '--method': 'fetch' is not one of GET, POST, PUT, "
        "PATCH or DELETE")
    complete = ShellComplete(cli, {}, "faasauth", "_FAASAUTH_COMPLETE")
    for typed in ("", "p", "P"):
        offered = [c.value for c in complete.get_completions(["invoke", "x", "-m"], typed)]
        assert offered and all(m.isupper() for m in offered), (typed, offered)
    assert [c.value for c in complete.get_completions(["invoke", "x", "-m"], "pa")] == ["PATCH"]
    ctx = cli.make_context("faasauth", ["invoke", "x", "-m", "patch"], resilient_parsing=True)
    invoke = cli.get_command(ctx, "invoke")
    assert invoke is not None
    assert invoke.make_context("invoke", ["x", "-m", "patch"]).params["method"] == "PATCH"


@pytest.mark.parametrize("name", ["status", "logout"])
def test_status_and_logout_offer_no_network_options(
    name: str, capsys: pytest.CaptureFixture[str]
) -> None:
    """They only read or remove what is stored: no TLS or timeout to set. -v is accepted, as
    after any command (the README says so; issue 22 item 10), though nothing is sent."""
    from faasauth.cli.app import main

    command = cli.get_command(click.Context(cli), name)
    assert command is not None
    offered = {opt for p in command.params for opt in p.opts}
    assert {"-g", "-f", "--envsubst"} <= offered
    assert not offered & {"--tls-no-verify", "--cacert", "--timeout"}
    with pytest.raises(SystemExit) as exit_:
        main([name, "--timeout", "5"])
    assert exit_.value.code == 2
    for verbose in ("-v", "--verbose"):
        capsys.readouterr()
        with pytest.raises(SystemExit) as exit_:
            main([name, verbose])
        err = capsys.readouterr().err
        assert exit_.value.code in (0, 4), err  # 4: status, not logged in
        assert "no such option" not in err


def _help_of(name: str) -> str:
    ctx = click.Context(cli, info_name="faasauth")
    command = cli.get_command(ctx, name)
    assert command is not None
    return command.get_help(click.Context(command, info_name=name, parent=ctx))


def test_auth_help_names_the_sdks_token_path_only() -> None:
    # One truth for a pod's token file: the OpenFaaS SDK's path, the --ambient default.
    import re

    from faasauth.idp.ambient_sources import KUBERNETES_TOKEN_FILE

    text = " ".join(_help_of("auth").split())
    paths = set(re.findall(r"/var/[\w/.-]*tokens/[\w.-]+", text))
    assert paths == {KUBERNETES_TOKEN_FILE}


def test_copy_code_help_lists_every_clipboard_tool() -> None:
    import re

    from faasauth.cli.clipboard import TOOLS

    text = " ".join(_help_of("auth").split())
    copy_code = text[text.index("--copy-code"):text.index("--redirect-port")]
    named = set(re.findall(r"[\w-]+", copy_code))  # words: `clip` is not in `xclip`
    assert [tool for tool, _, _ in TOOLS if tool not in named] == []
