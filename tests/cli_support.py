"""Helpers shared by the test suites: running the CLI in-process, and unsigned JWTs."""

from __future__ import annotations

import base64
import io
import json
import sys
from typing import Any, Callable, NamedTuple

import pytest


class CliResult(NamedTuple):
    code: int
    out: str
    err: str


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def make_jwt(claims: dict[str, Any], header: dict[str, Any] | None = None) -> str:
    """A JWT-shaped token with these claims; its signature is not a real one."""
    head = header or {"alg": "RS256", "typ": "JWT", "kid": "test-key"}
    return ".".join(
        [_b64(json.dumps(head).encode()), _b64(json.dumps(claims).encode()), _b64(b"s" * 64)]
    )


def cli_runner(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> Callable[..., CliResult]:
    """Run `faasauth.cli.app.main(argv)` in this process, as the console script would."""
    from faasauth.cli import app as cli

    def run(*args: object, stdin: str | None = None) -> CliResult:
        monkeypatch.setattr(sys, "stdin", io.StringIO(stdin if stdin is not None else ""))
        capsys.readouterr()  # drop anything printed before
        with pytest.raises(SystemExit) as info:
            cli.main([str(a) for a in args])
        out, err = capsys.readouterr()
        code = info.value.code
        assert isinstance(code, int), f"sys.exit got {code!r}, not an int"
        return CliResult(code, out, err)

    return run
