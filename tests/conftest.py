"""Every test runs with its own FAASAUTH_HOME, working directory and a clean environment."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Iterator

import pytest

from browser import chrome  # noqa: F401 (the fixture: a real headless chromium, or a skip)

ISOLATED_PREFIXES = ("FAASAUTH_", "OPENFAAS_")
ISOLATED_NAMES = ("SSL_CERT_FILE", "HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "http_proxy",
                  "https_proxy", "all_proxy", "NO_COLOR", "SSH_CONNECTION", "SSH_TTY")
# A CI runner's own ambient identity and faas-cli's CI rule must not leak into the tests.
# A person's own browser must never be opened by a test (tests set BROWSER themselves).
ISOLATED_NAMES += ("BROWSER",)
ISOLATED_NAMES += ("CI", "GITHUB_ACTIONS", "ACTIONS_ID_TOKEN_REQUEST_URL",
                   "ACTIONS_ID_TOKEN_REQUEST_TOKEN", "GITLAB_CI", "BUILDKITE", "CIRCLECI")


@pytest.fixture(autouse=True)
def isolated_environment(
    tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch
) -> Iterator[Path]:
    home = tmp_path_factory.mktemp("faasauth-home")
    work = tmp_path_factory.mktemp("cwd")
    for name in list(os.environ):
        if name.startswith(ISOLATED_PREFIXES) or name in ISOLATED_NAMES:
            monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("FAASAUTH_HOME", str(home))
    monkeypatch.setenv("FAASAUTH_TOKEN_STORE", "file")
    monkeypatch.setenv("OPENFAAS_CONFIG", str(tmp_path_factory.mktemp("openfaas-config")))
    monkeypatch.setenv("NO_PROXY", "*")  # loopback servers only; never a proxy from the host
    monkeypatch.chdir(work)
    yield home
