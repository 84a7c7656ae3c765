"""The opt-in pytest plugin, as a user's suite would load it."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

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


def test_factory(faasauth_sandbox_factory):
    one, two = faasauth_sandbox_factory(), faasauth_sandbox_factory(watchdog="hardened")
    assert one.gateway_url != two.gateway_url
"""


def test_plugin_in_a_user_suite(tmp_path: Path) -> None:
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
        env={**os.environ, "PYTHONPATH": str(REPO)},
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "3 passed" in result.stdout
