"""The opt-in pytest plugin, as a user's suite would load it."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

import faasauth

REPO = Path(faasauth.__file__).resolve().parents[1]

USER_TESTS = """
import os
import httpx
import pytest


@pytest.mark.faasauth_sandbox(auto_approve=True, latency_ms=1)
def test_marker_options(faasauth_sandbox):
    assert faasauth_sandbox.auto_approve and faasauth_sandbox.latency_ms == 1
    token = faasauth_sandbox.issue_function_token(["openfaas-fn:echo-auth"])
    answer = httpx.post(f"{faasauth_sandbox.gateway_url}/function/echo-auth", content=b"hi",
                        headers={"Authorization": f"Bearer {token}"})
    assert answer.text == "hi"
    assert faasauth_sandbox.count("/function/echo-auth", status=200) == 1


def test_env(faasauth_sandbox_env, faasauth_sandbox):
    assert os.environ["OPENFAAS_URL"] == faasauth_sandbox.gateway_url
    assert os.environ["FAASAUTH_TOKEN_STORE"] == "file"
    assert os.path.isdir(os.environ["FAASAUTH_HOME"])


def test_auth_with_the_sandbox_env_stays_out_of_the_users_home(faasauth_sandbox):
    import stat
    import subprocess
    import sys

    env = faasauth_sandbox.env()
    home = env["FAASAUTH_HOME"]
    assert env["FAASAUTH_TOKEN_STORE"] == "file"
    assert stat.S_IMODE(os.stat(home).st_mode) == 0o700
    assert home != os.environ.get("FAASAUTH_HOME")
    done = subprocess.run([sys.executable, "-m", "faasauth", "auth"], env={**os.environ, **env},
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert os.listdir(os.path.join(home, "tokens"))
    faasauth_sandbox.stop()
    assert not os.path.exists(home)  # thrown away with the sandbox


def test_factory(faasauth_sandbox_factory):
    one, two = faasauth_sandbox_factory(), faasauth_sandbox_factory(watchdog="hardened")
    assert one.gateway_url != two.gateway_url
"""


def test_plugin_in_a_user_suite(tmp_path: Path, tmp_path_factory: pytest.TempPathFactory) -> None:
    user_home = tmp_path_factory.mktemp("user-home")
    (tmp_path / "test_user.py").write_text(USER_TESTS)
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            "-q",
            "-p",
            "faasauth.sandbox.pytest_plugin",
            "-p",
            "no:cacheprovider",
            "--strict-markers",
            "--rootdir",
            str(tmp_path),
            str(tmp_path),
        ],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
        # a user's own machine: no FAASAUTH_HOME, HOME and the data directory its own
        env={**{k: v for k, v in os.environ.items() if not k.startswith("FAASAUTH_")},
             "PYTHONPATH": str(REPO), "HOME": str(user_home),
             "XDG_DATA_HOME": str(user_home / ".local/share")},
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "4 passed" in result.stdout
    # `faasauth auth` with the sandbox's env() wrote nothing into the user's own store
    assert list(user_home.rglob("*")) == [], list(user_home.rglob("*"))
