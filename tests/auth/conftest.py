"""Fixtures for the `faasauth auth` unit tests: pytest-httpserver plays an odd IdP.

- `run_cli(*args)`: `faasauth.cli.app.main` in-process -> CliResult(code, out, err).
- `idp`: an `IdP` (auth/helpers.py) around the session's pytest-httpserver.
- `fake_device_prompt`: makes `faasauth auth` use a PlainPrompt whose sleep only records
  the waits (the list is the fixture's value).
"""

from __future__ import annotations

from typing import Callable

import pytest
from pytest_httpserver import HTTPServer

from auth.helpers import CliResult, IdP
from cli_support import cli_runner


@pytest.fixture
def run_cli(capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> Callable[..., CliResult]:
    return cli_runner(capsys, monkeypatch)


@pytest.fixture
def idp(httpserver: HTTPServer) -> IdP:
    return IdP(httpserver)


@pytest.fixture
def fake_device_prompt(monkeypatch: pytest.MonkeyPatch) -> list[float]:
    from faasauth.cli import device_prompt

    waits: list[float] = []
    monkeypatch.setattr(
        device_prompt, "make_prompt",
        lambda no_browser, env, **_: device_prompt.PlainPrompt(sleep=waits.append),
    )
    return waits
