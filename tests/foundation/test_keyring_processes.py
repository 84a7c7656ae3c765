"""The keyring and the automatic choice, in real processes (PYTHON_KEYRING_BACKEND)."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

import pytest

from foundation.conftest import Gateway, run_probe, subprocess_env

SUBJECT = "opaque-subject-token-123456"


def auto_env(backend: str, **extra: str) -> dict[str, str]:
    settings = {
        "FAASAUTH_TOKEN_STORE": "auto",
        "FAASAUTH_SUBJECT_TOKEN": SUBJECT,
        "PYTHON_KEYRING_BACKEND": backend,
    }
    return subprocess_env(**{**settings, **extra})


def test_unusable_keyring_first_run_warns_and_remembers_files(gateway: Gateway, home: Path) -> None:
    env = auto_env("foundation.keyring_backends.FailingKeyring")
    code, out, err, heavy = run_probe("exchange", "-g", gateway.url, env=env)
    assert code == 0, err
    assert out == "fn-token-1-abcdefghijklmnop\n"
    assert err.count("faasauth: warning:") == 1
    assert "the OS keyring failed with KeyringError" in err and "keeping tokens in files" in err
    state = json.loads((home / "store-backend.json").read_text())
    assert state["backend"] == "file"
    assert len(list((home / "tokens").glob("*.json"))) == 1

    code, out, err, heavy = run_probe("exchange", "-g", gateway.url, env=env)
    assert (code, out, err.strip()) == (0, "fn-token-1-abcdefghijklmnop\n", "")
    assert "keyring" not in heavy
    assert gateway.count == 1


def test_working_keyring_is_chosen_and_used_across_processes(
    gateway: Gateway, home: Path, tmp_path: Path
) -> None:
    env = auto_env(
        "foundation.keyring_backends.FileBackedKeyring",
        FAASAUTH_TEST_KEYRING=str(tmp_path / "keyring.json"),
    )
    for _ in range(2):
        code, out, err, heavy = run_probe("exchange", "-g", gateway.url, "-a", "dev:fn", env=env)
        assert (code, out, err.strip()) == (0, "fn-token-1-abcdefghijklmnop\n", "")
    assert gateway.count == 1
    assert json.loads((home / "store-backend.json").read_text())["backend"] == "keyring"
    keyring_items = json.loads((tmp_path / "keyring.json").read_text())
    assert any("fn-token-1-abcdefghijklmnop" in value for value in keyring_items.values())
    assert not (home / "tokens").exists()
    for path in home.rglob("*"):  # the index and state files hold key names, never tokens
        if path.is_file():
            assert b"fn-token" not in path.read_bytes() and SUBJECT.encode() not in path.read_bytes()

    code, out, _, _ = run_probe("status", "--json", "-g", gateway.url, env=env)
    status = json.loads(out)
    assert status["store"]["backend"] == "keyring" and not status["store"]["plain_file"]
    assert "automatic" in status["store"]["reason"]
    assert [t["audience"] for t in status["function_tokens"]] == [["dev:fn"]]
    code, _, err, _ = run_probe("logout", "--all", env=env)
    assert code == 0 and "Removed 1 cached function token." in err
    assert json.loads((tmp_path / "keyring.json").read_text()) == {}


HANGING_DETECTION = """
import sys
import faasauth.store.choice
faasauth.store.choice.PROBE_SECONDS = 0.5
from faasauth.cli import app as cli
cli.main(sys.argv[1:])
"""


def test_keyring_whose_detection_hangs_falls_back_in_time(gateway: Gateway, home: Path) -> None:
    """A Secret Service that never answers may hang in backend detection, before any call."""
    env = auto_env("foundation.keyring_hang_detect.HangingDetectionKeyring")
    started = time.monotonic()
    try:
        done = subprocess.run(
            [sys.executable, "-c", HANGING_DETECTION, "exchange", "-g", gateway.url],
            env=env, capture_output=True, text=True, timeout=15,
        )
    except subprocess.TimeoutExpired:
        pytest.fail("faasauth hung in keyring detection instead of falling back to files")
    assert time.monotonic() - started < 10
    assert done.returncode == 0, done.stderr
    assert "did not answer within 0.5s" in done.stderr
    assert json.loads((home / "store-backend.json").read_text())["backend"] == "file"


def test_broken_keyring_configuration_falls_back_on_auto(gateway: Gateway, home: Path) -> None:
    env = auto_env("no_such_module_for_faasauth.Keyring")
    code, out, err, _ = run_probe("exchange", "-g", gateway.url, env=env)
    assert code == 0, err
    assert out.startswith("fn-token-1-")
    assert err.count("faasauth: warning:") == 1 and "Traceback" not in err
    assert json.loads((home / "store-backend.json").read_text())["backend"] == "file"


@pytest.mark.parametrize(
    "backend",
    ["no_such_module_for_faasauth.Keyring", "foundation.keyring_backends.FailingKeyring"],
)
def test_explicit_keyring_that_fails_is_one_line_exit_3(gateway: Gateway, backend: str) -> None:
    env = auto_env(backend, FAASAUTH_TOKEN_STORE="keyring")
    code, out, err, _ = run_probe("exchange", "-g", gateway.url, env=env)
    assert code == 3, err
    assert out == "" and "Traceback" not in err
    assert err.strip().startswith("faasauth: the OS keyring failed to read")
    assert err.strip().splitlines()[1:] == [
        "hint: set FAASAUTH_TOKEN_STORE=file to keep tokens in files (mode 0600) instead"]


def test_explicit_keyring_where_there_is_none_says_so_with_the_way_out(gateway: Gateway) -> None:
    """Issue 22 item 18: `NoKeyringError` and no hint."""
    env = auto_env("keyring.backends.fail.Keyring", FAASAUTH_TOKEN_STORE="keyring")
    code, out, err, _ = run_probe("exchange", "-g", gateway.url, env=env)
    assert code == 2 and out == "", err
    assert err.splitlines() == [
        "faasauth: FAASAUTH_TOKEN_STORE=keyring, but no OS keyring backend is available here",
        "hint: set FAASAUTH_TOKEN_STORE=file to keep tokens in files (mode 0600) instead",
    ]
