"""Hardening, the low items of issue 16: odd values that used to crash, leftovers that held
secrets, permissions, and secrets moving where they do not belong."""

from __future__ import annotations

import json
import os
import time
from pathlib import Path
from typing import Callable

import pytest

from cli_support import CliResult, cli_runner, make_jwt


@pytest.fixture
def run(capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> Callable[..., CliResult]:
    return cli_runner(capsys, monkeypatch)


# -- 8. values that crashed ---------------------------------------------------------------


@pytest.mark.parametrize("value", ["inf", "nan", "1e400"])
def test_an_infinite_timeout_is_a_usage_error(run: Callable[..., CliResult], value: str) -> None:
    result = run("exchange", "--timeout", value)
    assert result.code == 2 and "invalid timeout" in result.err


def test_a_store_entry_expiring_at_infinity_is_a_miss_not_a_crash(
    run: Callable[..., CliResult], tmp_path: Path
) -> None:
    token = tmp_path / "t"
    token.write_text(make_jwt({"sub": "a", "iss": "https://i", "exp": 4_000_000_000}))
    assert run("auth", "--token-file", str(token)).code == 0
    home = Path(os.environ["FAASAUTH_HOME"]) / "tokens"
    for path in home.glob("*.json"):
        entry = json.loads(path.read_text())
        entry["value"]["expires_at"] = float("inf")
        path.write_text(json.dumps(entry))  # json writes Infinity
    status = run("status", "--json")
    assert status.code in (0, 4) and "internal error" not in status.err
    assert json.loads(status.out)["logins"] == []


@pytest.mark.parametrize("value", ["1e400", "Infinity", "0.001", "-5"])
def test_device_codes_interval_and_lifetime_are_bounded(value: str) -> None:
    from faasauth.idp.prompts import MAX_EXPIRES_IN, MIN_INTERVAL, DeviceCode

    body = json.loads(f'{{"device_code": "d", "user_code": "u", "verification_uri": "v", '
                      f'"expires_in": {value}, "interval": {value}}}')
    code = DeviceCode.from_response(body)
    assert MIN_INTERVAL <= code.interval <= 1e9
    assert 0 < code.expires_in <= MAX_EXPIRES_IN


def test_a_non_ascii_header_value_is_a_usage_error(run: Callable[..., CliResult]) -> None:
    result = run("invoke", "env", "-H", "X-Name: café")
    assert result.code == 2 and "printable ASCII" in result.err


# -- 10. temporary files a killed writer left ----------------------------------------------


def test_stale_temporary_entries_are_removed_on_write_and_on_logout(
    run: Callable[..., CliResult], tmp_path: Path
) -> None:
    token = tmp_path / "t"
    token.write_text(make_jwt({"sub": "a", "iss": "https://i", "exp": 4_000_000_000}))
    assert run("auth", "--token-file", str(token)).code == 0
    tokens = Path(os.environ["FAASAUTH_HOME"]) / "tokens"
    stale = tokens / ".tmp-killed.json"
    stale.write_text('{"secret": "left by SIGKILL"}')
    old = time.time() - 3600
    os.utime(stale, (old, old))
    assert run("auth", "--token-file", str(token)).code == 0
    assert not stale.exists()
    stale.write_text("again")
    os.utime(stale, (old, old))
    assert run("logout").code == 0
    assert not stale.exists()


# -- 13. stack.yml cannot move a secret into a URL -------------------------------------------


def test_stack_file_never_expands_faasauths_secrets(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    from faasauth.config.settings import resolve_settings

    (tmp_path / "stack.yml").write_text(
        "provider:\n  gateway: http://gw.example:8080/${FAASAUTH_CLIENT_SECRET}${SUFFIX}\n")
    env = {"FAASAUTH_CLIENT_SECRET": "topsecret", "SUFFIX": "/x"}
    settings = resolve_settings(env=env, cwd=tmp_path)
    assert "topsecret" not in settings.gateway and settings.gateway.endswith("/x")


# -- 14. credentials in URLs --------------------------------------------------------------


def test_credentials_in_a_gateway_url_are_masked_in_messages(
    run: Callable[..., CliResult], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("FAASAUTH_SUBJECT_TOKEN", raising=False)
    result = run("exchange", "-g", "http://admin:hunter22@127.0.0.1:9")
    assert result.code != 0
    assert "hunter22" not in result.err and "***@" in result.err


def test_verbose_lines_mask_secret_looking_query_values() -> None:
    import httpx

    from faasauth.http import shown_url

    shown = shown_url(httpx.URL("http://gw/function/f?api_key=K1&token=T1&sig=S1&page=2"))
    assert "K1" not in shown and "T1" not in shown and "S1" not in shown and "page=2" in shown


# -- 15. the home's parents under umask 000 --------------------------------------------------


def test_parents_of_the_home_are_made_private_too(tmp_path: Path) -> None:
    from faasauth.store.home import ensure_private_dir

    old = os.umask(0)
    try:
        ensure_private_dir(tmp_path / "a" / "b" / "home")
    finally:
        os.umask(old)
    for path in (tmp_path / "a", tmp_path / "a" / "b", tmp_path / "a" / "b" / "home"):
        assert path.stat().st_mode & 0o777 == 0o700, path


# -- 16. a renewal sends only its own client's secret ----------------------------------------


def test_renewal_does_not_send_another_clients_secret(monkeypatch: pytest.MonkeyPatch) -> None:
    from faasauth.flows.login import configured_for as _configured_for
    from faasauth.tokens.login import Login

    login = Login(gateway="http://gw", authority="https://idp-a", client_id="a",
                  grant="client_credentials")
    assert _configured_for({}, login)
    assert _configured_for({"FAASAUTH_CLIENT_ID": "a", "FAASAUTH_AUTHORITY": "https://idp-a/"},
                           login)
    assert not _configured_for({"FAASAUTH_CLIENT_ID": "b"}, login)
    assert not _configured_for({"FAASAUTH_AUTHORITY": "https://idp-b"}, login)


# -- 11. symlinks in and around the store ----------------------------------------------------


def _logged_in(run: Callable[..., CliResult], tmp_path: Path) -> Path:
    token = tmp_path / "t"
    token.write_text(make_jwt({"sub": "a", "iss": "https://i", "exp": 4_000_000_000}))
    assert run("auth", "--token-file", str(token)).code == 0
    return Path(os.environ["FAASAUTH_HOME"])


def test_a_symlinked_entry_is_refused_and_its_target_untouched(
    run: Callable[..., CliResult], tmp_path: Path
) -> None:
    home = _logged_in(run, tmp_path)
    entry = next((home / "tokens").glob("*.json"))
    target = tmp_path / "elsewhere.json"
    target.write_text(entry.read_text())
    target.chmod(0o644)
    entry.unlink()
    entry.symlink_to(target)
    result = run("status")
    assert result.code == 4  # the link is not a login: not listed, not followed
    assert target.stat().st_mode & 0o777 == 0o644  # not chmod'ed through the link
    assert run("exchange").code == 2  # reading the login refuses the link


def test_a_dangling_lock_symlink_creates_nothing(tmp_path: Path) -> None:
    from faasauth.errors import UsageFailure
    from faasauth.store.locking import FileLock

    lock = tmp_path / "x.lock"
    target = tmp_path / "created-through-the-link"
    lock.symlink_to(target)
    with pytest.raises(UsageFailure):
        FileLock(lock, timeout=1).acquire()
    assert not target.exists()


def test_a_symlinked_home_is_refused(tmp_path: Path) -> None:
    from faasauth.errors import UsageFailure
    from faasauth.store.home import ensure_private_dir

    real = tmp_path / "real"
    real.mkdir(mode=0o755)
    link = tmp_path / "home"
    link.symlink_to(real)
    with pytest.raises(UsageFailure) as raised:
        ensure_private_dir(link)
    assert "symlink" in raised.value.message
    assert real.stat().st_mode & 0o777 == 0o755
