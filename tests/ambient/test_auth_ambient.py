"""`faasauth auth --ambient` on the command line, against the sandbox playing each platform:
the login records its source, later commands renew from it silently, and every failure is
one line with the documented exit code."""

from __future__ import annotations

import json
import re
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import jwt
import pytest

from cli_support import CliResult
from faasauth.sandbox import Sandbox
from faasauth.tokens.login import Login


def claims_of(token: str) -> dict[str, Any]:
    return jwt.decode(token, options={"verify_signature": False})


def in_job(monkeypatch: pytest.MonkeyPatch, sb: Sandbox) -> None:
    """This process becomes the sandbox's CI job: its variables and OPENFAAS_URL (the
    test's own FAASAUTH_HOME kept, where the tests look, not the sandbox's)."""
    for name, value in sb.env().items():
        if name not in ("FAASAUTH_HOME", "FAASAUTH_TOKEN_STORE"):
            monkeypatch.setenv(name, value)


def stored_login(home: Path) -> dict[str, Any]:
    envelopes = [json.loads(f.read_text()) for f in stored_files(home)]
    logins = [e["value"] for e in envelopes if e["key"].startswith("login|")]
    assert len(logins) == 1, envelopes
    value: dict[str, Any] = logins[0]
    return value


def stored_files(home: Path) -> list[Path]:
    return list((home / "tokens").glob("*.json")) if (home / "tokens").exists() else []


def only_line(result: CliResult) -> str:
    """The error line; a `hint:` line may follow, nothing else (no traceback)."""
    lines = result.err.splitlines()
    assert 1 <= len(lines) <= 2 and lines[0].startswith("faasauth: "), result.err
    assert len(lines) == 1 or lines[1].startswith("hint: "), result.err
    return lines[0]


# -- GitHub Actions -------------------------------------------------------------------


def test_github_login_records_its_source(
    make_sandbox: Callable[..., Sandbox], run_cli: Callable[..., CliResult],
    monkeypatch: pytest.MonkeyPatch, isolated_environment: Path,
) -> None:
    sb = make_sandbox(ci="github")
    in_job(monkeypatch, sb)
    result = run_cli("auth", "--ambient")
    assert result.code == 0, result.err
    assert result.out == ""
    assert result.err.startswith(
        f"Logged in to {sb.gateway_url} as repo:openfaas/demo:ref:refs/heads/main ({sb.ci.issuer})"
    )
    assert "renewed from GitHub Actions" in result.err
    entry = stored_login(isolated_environment)
    assert entry["grant"] == "ambient"
    assert entry["source"] == {"kind": "github", "audience": sb.gateway_url}
    assert claims_of(entry["id_token"])["aud"] == sb.gateway_url  # the gateway URL by default
    assert entry["access_token"] is None and entry["refresh_token"] is None
    assert sb.ci.minted == 1 and sb.count(origin="ci") == 1
    # No secret in what is stored besides the ID token itself.
    raw = "".join(f.read_text() for f in stored_files(isolated_environment))
    assert sb.ci.request_token not in raw

    result = run_cli("invoke", "echo-auth", stdin="hello")
    assert (result.code, result.out) == (0, "hello"), result.err
    assert sb.ci.minted == 1  # a fresh token is not fetched again


def test_github_job_whose_token_expires_midway_keeps_working(
    make_sandbox: Callable[..., Sandbox], run_cli: Callable[..., CliResult],
    monkeypatch: pytest.MonkeyPatch, isolated_environment: Path,
) -> None:
    sb = make_sandbox(ci="github", ci_token_ttl=3)
    in_job(monkeypatch, sb)
    assert run_cli("auth", "--ambient").code == 0
    first = stored_login(isolated_environment)["id_token"]
    assert sb.ci.minted == 1

    # The job goes on longer than its ID token lives: the gateway no longer takes it.
    time.sleep(max(0.0, claims_of(first)["exp"] + 1.2 - time.time()))
    result = run_cli("exchange", "-a", "openfaas-fn:echo-auth")
    assert result.code == 0, result.err
    assert result.err == ""  # renewed without a word
    assert sb.ci.minted == 2 and sb.count(origin="ci", status=200) == 2
    second = stored_login(isolated_environment)["id_token"]
    assert second != first and claims_of(second)["exp"] > claims_of(first)["exp"]

    # And again, mid-way through the next step.
    time.sleep(max(0.0, claims_of(second)["exp"] + 1.2 - time.time()))
    result = run_cli("invoke", "env-auth", stdin="")
    assert result.code == 0, result.err
    assert sb.ci.minted == 3
    assert stored_login(isolated_environment)["source"] == {
        "kind": "github", "audience": sb.gateway_url,
    }


def test_parallel_commands_renew_from_github_once(
    make_sandbox: Callable[..., Sandbox], run_cli: Callable[..., CliResult],
    monkeypatch: pytest.MonkeyPatch, isolated_environment: Path,
) -> None:
    import subprocess
    import sys

    # Tokens live 33 s: fresh at login, within the 30 s renewal margin 3 s later, and a
    # renewed one stays fresh for the few seconds the processes below take.
    sb = make_sandbox(ci="github", ci_token_ttl=33)
    in_job(monkeypatch, sb)
    assert run_cli("auth", "--ambient").code == 0
    first = stored_login(isolated_environment)["id_token"]
    time.sleep(max(0.0, claims_of(first)["exp"] - 30 + 0.3 - time.time()))
    children = [
        subprocess.Popen(
            [sys.executable, "-m", "faasauth", "exchange", "--force", "-a",
             "openfaas-fn:echo-auth"],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        )
        for _ in range(4)
    ]
    for child in children:
        out, err = child.communicate(timeout=60)
        assert child.returncode == 0, err
        assert err == "" and out.count(".") == 2
    # One of them asked GitHub (under the login's lock); the others used its token.
    assert sb.ci.minted == 2 and sb.count(origin="ci") == 2
    assert sb.count("/oauth/token", origin="gateway", status=200) == 4


def test_github_renewal_refused_after_the_job_ended(
    make_sandbox: Callable[..., Sandbox], run_cli: Callable[..., CliResult],
    monkeypatch: pytest.MonkeyPatch, isolated_environment: Path,
) -> None:
    sb = make_sandbox(ci="github", ci_token_ttl=3)
    in_job(monkeypatch, sb)
    assert run_cli("auth", "--ambient").code == 0
    before = stored_login(isolated_environment)
    sb.ci.revoke_requests()
    time.sleep(max(0.0, claims_of(before["id_token"])["exp"] + 0.2 - time.time()))
    result = run_cli("exchange", "-a", "openfaas-fn:echo-auth")
    assert result.code == 4, result
    port = sb.ci.issuer.rsplit(":", 1)[1]
    assert only_line(result) == (
        f"faasauth: renewing the login for {sb.gateway_url}: requesting a GitHub Actions ID "
        f"token (127.0.0.1:{port}): refused (401)"
    )
    assert "id-token: write" in result.err
    assert sb.ci.request_token not in result.err
    assert stored_login(isolated_environment) == before  # a failed renewal changes nothing


def test_github_refused_request_url_at_login(
    make_sandbox: Callable[..., Sandbox], run_cli: Callable[..., CliResult],
    monkeypatch: pytest.MonkeyPatch, isolated_environment: Path,
) -> None:
    sb = make_sandbox(ci="github")
    in_job(monkeypatch, sb)
    sb.ci.revoke_requests()
    result = run_cli("auth", "--ambient")
    assert result.code == 4, result
    port = sb.ci.issuer.rsplit(":", 1)[1]
    assert only_line(result) == (
        f"faasauth: requesting a GitHub Actions ID token (127.0.0.1:{port}): refused (401)"
    )
    assert result.err.splitlines()[1].startswith("hint: give the job `permissions: id-token: write`")
    assert stored_files(isolated_environment) == []


def test_github_job_without_id_token_permission(
    run_cli: Callable[..., CliResult], monkeypatch: pytest.MonkeyPatch,
    isolated_environment: Path,
) -> None:
    monkeypatch.setenv("GITHUB_ACTIONS", "true")
    result = run_cli("auth", "--ambient", "-g", "https://gw.example.com")
    assert result.code == 4, result
    assert only_line(result).startswith("faasauth: this GitHub Actions job has no ID token")
    assert result.err.splitlines()[1] == "hint: give the job `permissions: id-token: write`"
    assert stored_files(isolated_environment) == []


def test_ambient_audience_is_asked_for_and_recorded(
    make_sandbox: Callable[..., Sandbox], run_cli: Callable[..., CliResult],
    monkeypatch: pytest.MonkeyPatch, isolated_environment: Path,
) -> None:
    sb = make_sandbox(ci="github")
    in_job(monkeypatch, sb)
    result = run_cli("auth", "--ambient", "--ambient-audience", "openfaas")
    assert result.code == 0, result.err
    entry = stored_login(isolated_environment)
    assert claims_of(entry["id_token"])["aud"] == "openfaas"
    assert entry["source"]["audience"] == "openfaas"
    # The sandbox's JwtIssuer lists only the gateway URL: the gateway says so, exit 4.
    result = run_cli("exchange")
    assert result.code == 4
    assert "aud not accepted by JwtIssuer sandbox-ci-github" in result.err


def test_ambient_audience_needs_ambient(run_cli: Callable[..., CliResult]) -> None:
    result = run_cli("auth", "--ambient-audience", "openfaas")
    assert result.code == 2
    assert "--ambient-audience goes with --ambient" in result.err


def test_idp_login_options_given_with_ambient_are_refused_not_ignored(
    make_sandbox: Callable[..., Sandbox], run_cli: Callable[..., CliResult],
    monkeypatch: pytest.MonkeyPatch, isolated_environment: Path,
) -> None:
    sb = make_sandbox(ci="github")
    in_job(monkeypatch, sb)
    result = run_cli("auth", "--ambient", "--authority", sb.authority, "--grant", "code")
    assert result.code == 2
    assert result.err.splitlines()[0] == (
        "faasauth: --ambient logs in with the platform's own identity, so --authority, "
        "--grant do not apply"
    )
    assert stored_files(isolated_environment) == []
    # The same settings in the environment (set for other steps of the job) are no reason
    # to refuse: the sandbox's exports include FAASAUTH_AUTHORITY and FAASAUTH_CLIENT_ID.
    assert run_cli("auth", "--ambient").code == 0


def test_verbose_logs_no_request_token(
    make_sandbox: Callable[..., Sandbox], run_cli: Callable[..., CliResult],
    monkeypatch: pytest.MonkeyPatch, isolated_environment: Path,
) -> None:
    sb = make_sandbox(ci="github")
    in_job(monkeypatch, sb)
    result = run_cli("-v", "auth", "--ambient")
    assert result.code == 0, result.err
    assert "authorization: bearer <redacted>" in result.err
    token = stored_login(isolated_environment)["id_token"]
    assert sb.ci.request_token not in result.err and token not in result.err


# -- GitLab CI ------------------------------------------------------------------------


def test_gitlab_id_tokens_variable(
    make_sandbox: Callable[..., Sandbox], run_cli: Callable[..., CliResult],
    monkeypatch: pytest.MonkeyPatch, isolated_environment: Path,
) -> None:
    sb = make_sandbox(ci="gitlab")
    in_job(monkeypatch, sb)
    result = run_cli("auth", "--ambient")
    assert result.code == 0, result.err
    entry = stored_login(isolated_environment)
    assert entry["source"] == {
        "kind": "gitlab", "audience": sb.gateway_url, "variable": "OPENFAAS_ID_TOKEN",
    }
    assert entry["id_token"] == sb.env()["OPENFAAS_ID_TOKEN"]
    # The sandbox's default Role allows openfaas/demo, the sandbox's GitLab project.
    result = run_cli("invoke", "echo-auth", stdin="from gitlab")
    assert (result.code, result.out) == (0, "from gitlab"), result.err


def test_gitlab_login_says_how_long_it_lasts_and_not_that_it_renews(
    make_sandbox: Callable[..., Sandbox], run_cli: Callable[..., CliResult],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Issue 22 item 16: a CI variable cannot be renewed; "valid for 0 min" for a short one."""
    sb = make_sandbox(ci="gitlab", ci_token_ttl=2)
    in_job(monkeypatch, sb)
    result = run_cli("auth", "--ambient")
    assert result.code == 0, result.err
    assert "renewed" not in result.err and "0 min" not in result.err
    assert re.search(r"; the token is valid for [12] s \(GitLab CI's "
                     r"\$OPENFAAS_ID_TOKEN, fixed for the job\)\.$", result.err.splitlines()[0]), result.err
    time.sleep(2.5)
    for args in (("auth", "--ambient"), ("exchange", "-a", "openfaas-fn:echo-auth")):
        expired = run_cli(*args)
        assert expired.code == 4, expired.err
        assert "has already expired" in only_line(expired)
        assert expired.err.splitlines()[1].startswith(
            "hint: a GitLab id_tokens: token is fixed for the job"), expired.err


def test_gitlab_job_without_id_tokens(
    run_cli: Callable[..., CliResult], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("GITLAB_CI", "true")
    result = run_cli("auth", "--ambient", "-g", "https://gw.example.com")
    assert result.code == 4
    assert only_line(result) == (
        "faasauth: this GitLab CI job has no ID token (the variable OPENFAAS_ID_TOKEN is not set)"
    )
    assert result.err.splitlines()[1] == (
        "hint: add to the job: id_tokens: {OPENFAAS_ID_TOKEN: {aud: https://gw.example.com}}"
    )


# -- Kubernetes and token files -------------------------------------------------------


def test_kubernetes_file_rotated_between_two_invokes_is_read_again(
    make_sandbox: Callable[..., Sandbox], run_cli: Callable[..., CliResult],
    monkeypatch: pytest.MonkeyPatch, isolated_environment: Path, tmp_path: Path,
) -> None:
    path = tmp_path / "var/secrets/tokens/openfaas-token"
    sb = make_sandbox(ci="kubernetes", ci_token_ttl=600, ci_token_file=path)
    in_job(monkeypatch, sb)
    # Tokens that live 20 s: always within faasauth's renewal margin (30 s), so every
    # command that needs the login reads the file again, as it would near a real expiry.
    sb.ci.token_ttl = 20
    first = sb.ci.rotate()
    result = run_cli("auth", "--ambient", "--token-file", str(path))
    assert result.code == 0, result.err
    entry = stored_login(isolated_environment)
    assert entry["source"] == {"kind": "file", "audience": sb.gateway_url, "path": str(path)}
    assert entry["subject"] == "system:serviceaccount:openfaas-fn:caller"
    assert entry["id_token"] == first

    result = run_cli("invoke", "echo-auth", stdin="one")
    assert (result.code, result.out) == (0, "one"), result.err
    assert stored_login(isolated_environment)["id_token"] == first  # unchanged file

    second = sb.ci.rotate()  # the kubelet rewrites the file in place
    assert sb.ci.rotations == 2 and second != first
    result = run_cli("invoke", "env-auth", stdin="")
    assert result.code == 0, result.err
    assert result.err == ""
    assert stored_login(isolated_environment)["id_token"] == second


@pytest.mark.parametrize(("content", "problem"), [
    (None, "cannot read the token file {path}: No such file or directory"),
    ("", "the token file {path} is empty"),
    ("garbage", "the token file {path} does not hold a JWT"),
    ('{"count": 3, "value": "a.b.c"}', "the token file {path} holds GitHub's JSON answer"),
])
def test_an_unreadable_or_wrong_token_file_is_exit_2(
    run_cli: Callable[..., CliResult], tmp_path: Path, isolated_environment: Path,
    content: str | None, problem: str,
) -> None:
    path = tmp_path / "openfaas-token"
    if content is not None:
        path.write_text(content)
    result = run_cli("auth", "--ambient", "--token-file", str(path))
    assert result.code == 2, result
    assert only_line(result).startswith("faasauth: " + problem.format(path=path))
    assert stored_files(isolated_environment) == []


def test_a_directory_is_an_unreadable_token_file(
    run_cli: Callable[..., CliResult], tmp_path: Path
) -> None:
    result = run_cli("auth", "--ambient", "--token-file", str(tmp_path))
    assert result.code == 2
    assert only_line(result) == f"faasauth: cannot read the token file {tmp_path}: Is a directory"


def test_a_token_file_gone_at_renewal_is_one_line(
    make_sandbox: Callable[..., Sandbox], run_cli: Callable[..., CliResult],
    monkeypatch: pytest.MonkeyPatch, isolated_environment: Path, tmp_path: Path,
) -> None:
    path = tmp_path / "openfaas-token"
    sb = make_sandbox(ci="kubernetes", ci_token_ttl=600, ci_token_file=path)
    in_job(monkeypatch, sb)
    sb.ci.token_ttl = 20  # within the renewal margin: the next command reads the file
    sb.ci.rotate()
    assert run_cli("auth", "--ambient", "--token-file", str(path)).code == 0
    before = stored_login(isolated_environment)
    path.unlink()
    result = run_cli("exchange")
    assert result.code == 2, result
    assert only_line(result) == (
        f"faasauth: renewing the login for {sb.gateway_url}: cannot read the token file "
        f"{path}: No such file or directory"
    )
    assert stored_login(isolated_environment) == before


def test_ambient_token_file_cannot_be_stdin(run_cli: Callable[..., CliResult]) -> None:
    result = run_cli("auth", "--ambient", "--token-file", "-", stdin="a.b.c")
    assert result.code == 2
    assert only_line(result).startswith("faasauth: --ambient --token-file needs a file")


# -- nothing found --------------------------------------------------------------------


def test_no_ambient_identity_is_one_line_exit_4(
    run_cli: Callable[..., CliResult], isolated_environment: Path
) -> None:
    result = run_cli("auth", "--ambient", "-g", "https://gw.example.com")
    assert result.code == 4, result
    line = only_line(result)
    assert line.startswith("faasauth: no ambient identity found: looked for GitHub Actions")
    assert "GitLab CI (OPENFAAS_ID_TOKEN)" in line
    assert "/var/secrets/tokens/openfaas-token" in line
    hint = result.err.splitlines()[1]
    assert "permissions: id-token: write" in hint and "--token-file PATH" in hint
    assert stored_files(isolated_environment) == []


# -- the stored record ----------------------------------------------------------------


def test_old_login_entries_without_a_source_still_load() -> None:
    entry = {"gateway": "http://127.0.0.1:8080", "grant": "token", "id_token": "a.b.c",
             "expires_at": 1.0, "obtained_at": 0.0}
    login = Login.from_entry(entry)
    assert login is not None and login.source is None


@pytest.mark.parametrize("source", [None, {}, {"kind": 5}, "github", ["kind", "github"]])
def test_an_ambient_entry_needs_a_readable_source(source: Any) -> None:
    entry = {"gateway": "http://127.0.0.1:8080", "grant": "ambient", "id_token": "a.b.c",
             "source": source}
    assert Login.from_entry(entry) is None


def test_only_ambient_logins_have_a_source() -> None:
    entry = {"gateway": "http://127.0.0.1:8080", "grant": "device", "id_token": "a.b.c",
             "source": {"kind": "github", "audience": "x"}}
    assert Login.from_entry(entry) is None
    entry["grant"] = "ambient"
    login = Login.from_entry(entry)
    assert login is not None and login.source == {"kind": "github", "audience": "x"}
    assert login.refreshable


def test_the_hint_to_log_in_again_names_the_ambient_source() -> None:
    """An ambient login is made again with --ambient (and its token file and audience), not
    with --authority and --client-id it never had."""
    from faasauth.tokens.login import Login, auth_command

    login = Login("https://gw.example", grant="ambient",
                  source={"kind": "file", "path": "/var/run/secrets/tokens/openfaas",
                          "audience": "openfaas"})
    assert auth_command("https://gw.example", login) == (
        "faasauth auth -g https://gw.example --ambient --token-file "
        "/var/run/secrets/tokens/openfaas --ambient-audience openfaas")
    same = Login("https://gw.example", grant="ambient",
                 source={"kind": "github", "audience": "https://gw.example"})
    assert auth_command(None, same) == "faasauth auth --ambient"
