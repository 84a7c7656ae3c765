"""`faasauth auth --token-file` and FAASAUTH_ID_TOKEN: keep a token from elsewhere, ask no IdP."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Callable

import pytest

from auth.helpers import CliResult, IdP, make_jwt, stored_files, stored_login_entry


def jwt_expiring_in(seconds: float, sub: str = "repo:acme/app:ref:refs/heads/main") -> str:
    return make_jwt({"iss": "https://token.actions.githubusercontent.com", "sub": sub,
                     "aud": "openfaas", "exp": int(time.time() + seconds)})


@pytest.mark.parametrize(("content", "problem"), [
    ("", "is empty"),
    ("\n  \n", "is empty"),
    ("garbage\n", "does not hold a JWT"),
    ("opaque-token-0123456789\n", "does not hold a JWT"),
    ("one-token another-token\n", "does not hold a JWT"),
    ("first.jwt.here\nsecond.jwt.here\n", "does not hold a JWT"),
    ('{"count": 1, "value": "x.y.z"}', "holds GitHub's JSON answer, not the token in it"),
])
def test_a_file_that_is_not_one_jwt_is_a_usage_error(
    run_cli: Callable[..., CliResult], tmp_path: Path, content: str, problem: str,
    isolated_environment: Path,
) -> None:
    path = tmp_path / "token"
    path.write_text(content)
    result = run_cli("auth", "--token-file", str(path))
    assert result.code == 2, result
    assert result.err.splitlines()[0].startswith(f"faasauth: the token file {path} {problem}")
    assert len(result.err.splitlines()) <= 2 and "Traceback" not in result.err
    if "GitHub" in problem:
        assert result.err.splitlines()[1] == "hint: extract the token with `jq -r .value`"
    assert result.out == ""
    assert stored_files(isolated_environment) == {}


def test_a_missing_file_is_a_usage_error(run_cli: Callable[..., CliResult], tmp_path: Path) -> None:
    path = tmp_path / "nope"
    result = run_cli("auth", "--token-file", str(path))
    assert result.code == 2
    assert f"cannot read the token file {path}" in result.err
    assert "Traceback" not in result.err


def test_an_expired_jwt_is_refused(run_cli: Callable[..., CliResult], tmp_path: Path,
                                   isolated_environment: Path) -> None:
    path = tmp_path / "token"
    token = jwt_expiring_in(-60)
    path.write_text(token + "\n")
    result = run_cli("auth", "--token-file", str(path))
    assert result.code == 4, result
    assert "has already expired" in result.err
    assert token not in result.err
    assert stored_files(isolated_environment) == {}


def test_a_valid_jwt_is_kept_without_talking_to_an_idp(
    run_cli: Callable[..., CliResult], idp: IdP, tmp_path: Path, isolated_environment: Path
) -> None:
    idp.discovery()
    path = tmp_path / "token"
    token = jwt_expiring_in(600)
    path.write_text("  " + token + "\n")
    # Even with IdP settings around, a token file means: ask nobody.
    result = run_cli("auth", "--token-file", str(path), "--authority", idp.issuer,
                     "--client-id", "x")
    assert result.code == 0, result.err
    assert result.out == ""
    assert idp.server.log == []
    entry = stored_login_entry(isolated_environment)
    assert entry["grant"] == "token" and entry["id_token"] == token
    assert entry["access_token"] is None and entry["refresh_token"] is None
    assert entry["subject"] == "repo:acme/app:ref:refs/heads/main"
    assert entry["expires_at"] == pytest.approx(time.time() + 600, abs=5)
    assert "Logged in to http://127.0.0.1:8080 as repo:acme/app:ref:refs/heads/main" in result.err


def test_a_jwt_is_printed_with_print_token(
    run_cli: Callable[..., CliResult], tmp_path: Path, isolated_environment: Path
) -> None:
    path = tmp_path / "token"
    token = jwt_expiring_in(600)
    path.write_text(token + "\n")
    result = run_cli("auth", "--token-file", str(path), "--print-token")
    assert result.code == 0, result.err
    assert result.out == token + "\n"
    assert stored_login_entry(isolated_environment)["source"] is None


def test_token_from_stdin(run_cli: Callable[..., CliResult], monkeypatch: pytest.MonkeyPatch,
                          isolated_environment: Path) -> None:
    token = jwt_expiring_in(600)
    result = run_cli("auth", "--token-file", "-", stdin=token + "\n")
    assert result.code == 0, result.err
    assert stored_login_entry(isolated_environment)["id_token"] == token


def test_faasauth_id_token_from_the_environment(
    run_cli: Callable[..., CliResult], idp: IdP, monkeypatch: pytest.MonkeyPatch,
    isolated_environment: Path,
) -> None:
    token = jwt_expiring_in(600)
    monkeypatch.setenv("FAASAUTH_ID_TOKEN", f" {token}\n")
    monkeypatch.setenv("FAASAUTH_AUTHORITY", idp.issuer)
    result = run_cli("auth", "-g", "https://GW.example.com/")
    assert result.code == 0, result.err
    assert result.out == ""
    assert idp.server.log == []
    entry = stored_login_entry(isolated_environment)
    assert entry["id_token"] == token and entry["gateway"] == "https://gw.example.com"


def test_an_expired_faasauth_id_token_is_refused(
    run_cli: Callable[..., CliResult], monkeypatch: pytest.MonkeyPatch, isolated_environment: Path
) -> None:
    monkeypatch.setenv("FAASAUTH_ID_TOKEN", jwt_expiring_in(-5))
    result = run_cli("auth")
    assert result.code == 4
    assert stored_files(isolated_environment) == {}


@pytest.mark.parametrize("value", ["garbage", '{"value": "a.b.c"}'])
def test_a_faasauth_id_token_that_is_not_a_jwt_is_a_usage_error(
    run_cli: Callable[..., CliResult], monkeypatch: pytest.MonkeyPatch, isolated_environment: Path,
    value: str,
) -> None:
    monkeypatch.setenv("FAASAUTH_ID_TOKEN", value)
    result = run_cli("auth")
    assert result.code == 2, result
    assert result.err.startswith("faasauth: FAASAUTH_ID_TOKEN ")
    assert value not in result.err
    assert stored_files(isolated_environment) == {}


def test_a_blank_faasauth_id_token_is_ignored(
    run_cli: Callable[..., CliResult], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("FAASAUTH_ID_TOKEN", "   ")
    result = run_cli("auth")
    # Falls through to a normal login, which then lacks its settings.
    assert result.code == 2
    assert "no client id given" in result.err
