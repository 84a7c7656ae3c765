"""Fixtures for the ambient identity and faas-cli config tests: sandboxes playing CI.

- `make_sandbox(**options)`: a started Sandbox (the plugin's factory).
- `run_cli(*args, stdin="")`: `faasauth ARGS` in this process -> CliResult(code, out, err);
  stdin has the binary buffer `invoke` streams from.
"""

from __future__ import annotations

import io
import sys
from collections.abc import Callable

import pytest

from cli_support import CliResult

from faasauth.sandbox import Sandbox
from faasauth.sandbox.pytest_plugin import (  # noqa: F401 (fixtures, as the plugin gives them)
    faasauth_sandbox,
    faasauth_sandbox_factory,
    pytest_configure,
)


@pytest.fixture
def make_sandbox(faasauth_sandbox_factory: Callable[..., Sandbox]) -> Callable[..., Sandbox]:  # noqa: F811
    return faasauth_sandbox_factory


@pytest.fixture
def run_cli(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> Callable[..., CliResult]:
    from faasauth.cli import app

    def run(*args: object, stdin: str = "") -> CliResult:
        monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(stdin.encode())))
        capsys.readouterr()
        with pytest.raises(SystemExit) as info:
            app.main([str(a) for a in args])
        out, err = capsys.readouterr()
        assert isinstance(info.value.code, int)
        return CliResult(info.value.code, out, err)

    return run
