"""`faasauth --version`: the lines a bug report needs, without importing what it reports on."""

from __future__ import annotations

import json
import platform
from importlib.metadata import version
from pathlib import Path

import pytest

from faasauth import __version__
from foundation.conftest import run_probe, subprocess_env


def lines(out: str) -> dict[str, str]:
    return dict(line.split(" ", 1) for line in out.splitlines())


def test_version_names_faasauth_python_httpx_and_platform(run_cli) -> None:
    result = run_cli("--version")
    assert result.code == 0 and result.err == ""
    found = lines(result.out)
    assert list(found) == ["faasauth", "Python", "httpx", "platform", "store"]
    assert found["faasauth"] == __version__
    assert found["Python"].startswith(f"{platform.python_version()} ({platform.python_implementation()}, ")
    assert found["httpx"] == version("httpx")  # read off the dist-info name, as metadata does
    assert found["platform"].startswith(platform.system())
    assert run_cli("-V").out == result.out


@pytest.mark.parametrize(
    ("state", "expected"),
    [
        # a home written by an earlier faasauth: its reason in today's words, parentheses
        # never nested (issue 22 item 26)
        ({"backend": "file", "reason": "no OS keyring backend is available (automatic choice)"},
         "file (automatic choice: no OS keyring backend is available)"),
        ({"backend": "keyring", "reason": "an OS keyring answered (automatic choice)"},
         "keyring (automatic choice: an OS keyring answered)"),
        ({"backend": "file", "reason": "automatic choice: no OS keyring backend is available"},
         "file (automatic choice: no OS keyring backend is available)"),
        ({"backend": "keyring"}, "keyring (chosen automatically earlier)"),
        (None, "auto, not chosen yet"),
    ],
)
def test_store_line_reports_the_remembered_automatic_choice(
    run_cli, home: Path, monkeypatch: pytest.MonkeyPatch, state: dict[str, str] | None,
    expected: str,
) -> None:
    monkeypatch.setenv("FAASAUTH_TOKEN_STORE", "auto")
    if state is not None:
        (home / "store-backend.json").write_text(json.dumps(state))
    result = run_cli("--version")
    assert result.code == 0, result.err
    store = lines(result.out)["store"]
    assert store.startswith(expected) and store.endswith(f"home {home}")
    if state is None:
        assert not (home / "store-backend.json").exists()  # nothing probed, nothing chosen


@pytest.mark.parametrize("backend", ["file", "keyring", "none"])
def test_store_line_names_an_explicit_choice(
    run_cli, home: Path, monkeypatch: pytest.MonkeyPatch, backend: str
) -> None:
    monkeypatch.setenv("FAASAUTH_TOKEN_STORE", backend)
    (home / "store-backend.json").write_text(json.dumps({"backend": "file"}))  # not consulted
    store = lines(run_cli("--version").out)["store"]
    assert store == f"{backend} (FAASAUTH_TOKEN_STORE={backend}), home {home}"


def test_an_invalid_store_setting_is_reported_not_fatal(
    run_cli, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("FAASAUTH_TOKEN_STORE", "vault")
    result = run_cli("--version")
    assert result.code == 0
    assert lines(result.out)["store"].startswith("invalid FAASAUTH_TOKEN_STORE='vault'")


@pytest.mark.parametrize("remembered", ["keyring", "file", None])
def test_version_imports_neither_httpx_nor_keyring(home: Path, remembered: str | None) -> None:
    if remembered:
        (home / "store-backend.json").write_text(json.dumps({"backend": remembered}))
    code, out, err, heavy = run_probe("--version", env=subprocess_env(FAASAUTH_TOKEN_STORE="auto"))
    assert code == 0, err
    assert f"store {remembered or 'auto'}" in out
    assert heavy == []
