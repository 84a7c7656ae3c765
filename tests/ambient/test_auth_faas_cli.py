"""`faasauth auth --faas-cli` and `faasauth logout` on faas-cli's config.yml, against the
sandbox: one login for both tools, the rest of the file kept byte for byte, edits locked."""

from __future__ import annotations

import os
import stat
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import jwt
import pytest
import yaml

from cli_support import CliResult
from faasauth.config import faas_cli as fcc
from faasauth.sandbox import Sandbox

# A user's file: comments, odd indentation, quoting, flow style, other gateways, other keys.
ODD = """\
# faas-cli config, edited by hand
auths:
    -   gateway: https://prod.example.com   # production
        auth: basic
        token: 'YWRtaW46c2VjcmV0'
    - {gateway: "http://staging:8080", auth: oauth2, token: abc}
    - gateway: http://other:31112
      auth: oauth2
      token: |
        multi
        line

      options:
      - name: client_id
        value: "faas-cli"
# kept too
x-team: [a, b]   # unknown to faas-cli
"""


def in_job(monkeypatch: pytest.MonkeyPatch, sb: Sandbox) -> None:
    for name, value in sb.env().items():
        monkeypatch.setenv(name, value)


def config_file() -> Path:
    return fcc.config_path(os.environ)


def write(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(text.encode())


@pytest.fixture
def github_job(
    make_sandbox: Callable[..., Sandbox], monkeypatch: pytest.MonkeyPatch
) -> Sandbox:
    sb = make_sandbox(ci="github")
    in_job(monkeypatch, sb)
    return sb


def test_round_trip_keeps_every_other_byte(
    github_job: Sandbox, run_cli: Callable[..., CliResult], isolated_environment: Path
) -> None:
    sb = github_job
    path = config_file()
    write(path, ODD)
    result = run_cli("auth", "--ambient", "--faas-cli")
    assert result.code == 0, result.err
    assert result.out == ""
    assert (
        f"Added an entry for {sb.gateway_url} in faas-cli's config {path}; its API token is "
        "valid for " in result.err
    )
    text = path.read_text()
    entry = fcc.find_entry(path, sb.gateway_url)
    assert entry is not None and entry.auth == "oauth2" and entry.written_by_faasauth
    assert entry.token is not None and entry.token not in result.err
    api = jwt.decode(entry.token, options={"verify_signature": False})
    assert api["iss"] == sb.gateway_url and api["fed:iss"] == sb.ci.issuer  # an API token
    # Everything else reads back as it was; the file is private.
    before, after = yaml.safe_load(ODD), yaml.safe_load(text)
    assert after["auths"][:3] == before["auths"] and after["x-team"] == before["x-team"]
    assert stat.S_IMODE(path.stat().st_mode) == 0o600

    # Again: faasauth's own entry is updated in place, not added twice.
    result = run_cli("auth", "--ambient", "--faas-cli")
    assert result.code == 0, result.err
    assert f"Updated faasauth's entry for {sb.gateway_url}" in result.err
    assert len(fcc.read_entries(path)) == 4

    result = run_cli("logout")
    assert result.code == 0, result.err
    assert f"Removed faasauth's faas-cli entry for {sb.gateway_url} from {path}." in result.err
    assert path.read_bytes() == ODD.encode()  # byte for byte


def test_the_api_token_is_a_subject_token_for_exchange_and_invoke(
    github_job: Sandbox, run_cli: Callable[..., CliResult], monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
) -> None:
    sb = github_job
    assert run_cli("auth", "--ambient", "--faas-cli").code == 0
    # Another faasauth home: no stored login, only faas-cli's config.yml.
    monkeypatch.setenv("FAASAUTH_HOME", str(tmp_path / "other-home"))
    for name in ("ACTIONS_ID_TOKEN_REQUEST_URL", "ACTIONS_ID_TOKEN_REQUEST_TOKEN"):
        monkeypatch.delenv(name)
    sb.clear_requests()
    result = run_cli("exchange", "-a", "openfaas-fn:echo-auth")
    assert result.code == 0, result.err
    claims = jwt.decode(result.out.strip(), options={"verify_signature": False})
    assert claims["function"]["audience"] == ["openfaas-fn:echo-auth"]
    assert sb.count("/oauth/token", origin="gateway", token="api") == 1
    result = run_cli("invoke", "env-auth", stdin="")
    assert result.code == 0, result.err
    assert sb.count("/oauth/token", origin="gateway", token="api") == 2
    assert sb.count(origin="ci") == 0  # nothing asked of the CI platform

    # Without the entry there is no subject at all.
    assert run_cli("logout", "--all").code == 0
    write(config_file(), "auths: []\n")
    result = run_cli("exchange")
    assert result.code == 4 and "not logged in to" in result.err


def test_logout_leaves_an_entry_faas_cli_rewrote(
    github_job: Sandbox, run_cli: Callable[..., CliResult]
) -> None:
    sb = github_job
    path = config_file()
    assert run_cli("auth", "--ambient", "--faas-cli").code == 0
    # `faas-cli login` replaces the whole entry, without faasauth's mark.
    rewritten = f"auths:\n- gateway: {sb.gateway_url}\n  auth: basic\n  token: YWRtaW46eA==\n"
    write(path, rewritten)
    result = run_cli("logout")
    assert result.code == 0, result.err
    assert "faas-cli" not in result.err
    assert path.read_text() == rewritten


def test_logout_all_removes_each_faasauth_entry(
    github_job: Sandbox, run_cli: Callable[..., CliResult]
) -> None:
    sb = github_job
    path = config_file()
    write(path, ODD)
    other = sb.gateway_url.replace("127.0.0.1", "localhost")
    assert run_cli("auth", "--ambient", "--faas-cli").code == 0
    # The same gateway by another name (the JwtIssuer lists the first as its audience).
    assert run_cli(
        "auth", "--ambient", "--faas-cli", "-g", other, "--ambient-audience", sb.gateway_url
    ).code == 0
    assert len(fcc.read_entries(path)) == 5
    result = run_cli("logout", "--all")
    assert result.code == 0, result.err
    assert (
        f"Removed faasauth's faas-cli entries for {sb.gateway_url}, {other} from {path}."
        in result.err
    )
    assert path.read_bytes() == ODD.encode()


@pytest.mark.parametrize("everything", [False, True])
def test_logout_also_cleans_the_config_the_login_wrote_to(
    github_job: Sandbox, run_cli: Callable[..., CliResult], monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path, everything: bool,
) -> None:
    """The entry went to OPENFAAS_CONFIG's file; logout later, without that variable, still
    finds it through the path the login recorded (issue 22, item 31's follow-up)."""
    sb = github_job
    elsewhere = tmp_path / "elsewhere" / "config.yml"
    write(elsewhere, ODD)
    monkeypatch.setenv("OPENFAAS_CONFIG", str(elsewhere.parent))
    assert config_file() == elsewhere
    assert run_cli("auth", "--ambient", "--faas-cli").code == 0
    assert len(fcc.read_entries(elsewhere)) == 4
    monkeypatch.setenv("OPENFAAS_CONFIG", str(tmp_path / "usual"))
    result = run_cli("logout", *(["--all"] if everything else []))
    assert result.code == 0, result.err
    assert f"Removed faasauth's faas-cli entry for {sb.gateway_url} from {elsewhere}." \
        in result.err
    assert elsewhere.read_bytes() == ODD.encode()


def test_logout_warns_about_an_unparsable_config(
    github_job: Sandbox, run_cli: Callable[..., CliResult], isolated_environment: Path
) -> None:
    path = config_file()
    assert run_cli("auth", "--ambient").code == 0
    write(path, "auths: [\n  - gateway: x\n")
    result = run_cli("logout")
    assert result.code == 0, result.err
    lines = result.err.splitlines()
    assert lines[0].startswith("Removed the login for ")
    assert lines[1] == (
        f"faasauth: warning: cannot edit faas-cli's config {path}: invalid YAML at line 2, "
        "column 3; left as it was"
    )
    assert path.read_text() == "auths: [\n  - gateway: x\n"
    assert list((isolated_environment / "tokens").glob("*.json")) == []


def test_auth_faas_cli_with_an_unparsable_config_checks_it_before_logging_in(
    github_job: Sandbox, run_cli: Callable[..., CliResult], isolated_environment: Path
) -> None:
    """Issue 22 item 23: it logged in, said so, then refused the file (exit 2)."""
    path = config_file()
    write(path, "auths: [\n")
    result = run_cli("auth", "--ambient", "--faas-cli")
    assert result.code == 2, result
    assert result.err.splitlines() == [
        f"faasauth: cannot edit faas-cli's config {path}: invalid YAML at line 2, column 1; "
        "no login was attempted",
        "hint: fix or move the file; faasauth does not rewrite a file it cannot parse",
    ]
    assert path.read_text() == "auths: [\n"
    assert github_job.count("/oauth/token", origin="gateway") == 0
    assert run_cli("exchange").code == 4  # nothing was stored


def test_auth_faas_cli_refused_by_the_gateway(
    make_sandbox: Callable[..., Sandbox], run_cli: Callable[..., CliResult],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    sb = make_sandbox(ci="github")
    in_job(monkeypatch, sb)
    result = run_cli("auth", "--ambient", "--ambient-audience", "openfaas", "--faas-cli")
    assert result.code == 4, result
    lines = result.err.splitlines()
    assert lines[0].startswith("Logged in to ")
    assert lines[1].startswith("faasauth: API token exchange refused: invalid_request: ")
    # what was done, and what was not
    assert lines[1].endswith("; the login was kept, faas-cli's config was not changed")
    assert not config_file().exists()


def test_ci_rule_puts_the_config_in_the_working_directory(
    github_job: Sandbox, run_cli: Callable[..., CliResult], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("OPENFAAS_CONFIG")
    monkeypatch.setenv("CI", "true")
    assert run_cli("auth", "--ambient", "--faas-cli").code == 0
    path = Path.cwd() / ".openfaas" / "config.yml"
    entry = fcc.find_entry(path, github_job.gateway_url)
    assert entry is not None and entry.written_by_faasauth


def test_two_processes_do_not_edit_the_config_at_once(
    github_job: Sandbox, monkeypatch: pytest.MonkeyPatch
) -> None:
    from faasauth.config.settings import resolve_settings
    from faasauth.flows.faas_cli import config_lock
    from faasauth.runtime import Runtime

    path = config_file()
    write(path, ODD)
    rt = Runtime(resolve_settings(env=dict(os.environ)))
    with config_lock(rt, path):
        child = subprocess.Popen(
            [sys.executable, "-m", "faasauth", "auth", "--ambient", "--faas-cli"],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        )
        deadline = time.monotonic() + 20
        # The child logs in, then waits for the lock before it touches the file.
        while github_job.count("/oauth/token", origin="gateway") == 0:
            assert time.monotonic() < deadline and child.poll() is None, child.communicate()
            time.sleep(0.05)
        time.sleep(0.5)
        assert child.poll() is None
        assert path.read_bytes() == ODD.encode()
    out, err = child.communicate(timeout=30)
    assert child.returncode == 0, err
    assert "Added an entry for" in err
    assert len(fcc.read_entries(path)) == 4


def test_auth_faas_cli_refuses_yaml_aliases_at_once(
    github_job: Sandbox, isolated_environment: Path
) -> None:
    """Issue 21, finding 7: nested aliases (a "billion laughs") are refused, not expanded
    under the config lock, and before any login (issue 22 item 23). (In a child process,
    with a timeout: without the refusal the edit takes hours.)"""
    from hostile.test_local_files import laughs

    path = config_file()
    write(path, laughs())
    started = time.monotonic()
    result = subprocess.run([sys.executable, "-m", "faasauth", "auth", "--ambient", "--faas-cli"],
                            capture_output=True, text=True, timeout=30)
    assert time.monotonic() - started < 20
    assert result.returncode == 2, result.stderr
    lines = result.stderr.splitlines()
    assert lines[0] == (f"faasauth: cannot read faas-cli's config {path}: a YAML alias at line 2, "
                        "column 10 (faas-cli writes none); no login was attempted")
    assert lines[1].startswith("hint: write the value out in place of the alias")
    assert path.read_text() == laughs()


@pytest.mark.parametrize("which", [".openfaas", "config.yml"])
def test_auth_faas_cli_refuses_a_linked_repository_config(
    github_job: Sandbox, run_cli: Callable[..., CliResult], tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch, which: str,
) -> None:
    """Issue 21, finding 8: with CI=true, a repository's `.openfaas/config.yml` that is (or
    sits in) a symlink is not written through: nothing is created outside the repository,
    and no API token is asked for."""
    from hostile.test_local_files import link_out

    repo = tmp_path / "repo"
    repo.mkdir()
    monkeypatch.chdir(repo)
    monkeypatch.setenv("CI", "true")
    monkeypatch.delenv("OPENFAAS_CONFIG")
    outside = link_out(repo, which)
    result = run_cli("auth", "--ambient", "--faas-cli")
    assert result.code == 2, result.err
    lines = result.err.splitlines()
    assert lines[0] == (
        f"faasauth: refusing faas-cli's config {repo}/.openfaas/config.yml (CI is set): "
        f"{which} is a symlink, and the file must stay in the working directory; no login "
        "was attempted"
    )
    assert lines[1] == "hint: remove the link, or set OPENFAAS_CONFIG to the file to use"
    assert not outside.exists()
    assert github_job.count("/oauth/token", origin="gateway", token="api") == 0


def test_auth_faas_cli_removes_a_killed_writers_temporary_copy(
    github_job: Sandbox, run_cli: Callable[..., CliResult]
) -> None:
    """Issue 21, finding 16: a temporary copy of the config (every token in it) that a
    writer killed before its rename left is removed by the next edit."""
    from hostile.test_local_files import left_behind

    path = config_file()
    write(path, ODD)
    stale = left_behind(path.parent, 120)
    assert run_cli("auth", "--ambient", "--faas-cli").code == 0
    assert sorted(p.name for p in path.parent.iterdir()) == ["config.yml"]
    assert not stale.exists()
