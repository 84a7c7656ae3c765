"""secret_input.read_jwt_file: a token file must hold a JWT, or the error names the file."""

from __future__ import annotations

import io
import json
from pathlib import Path

import pytest

from faasauth.errors import ExitCode, UsageFailure
from faasauth.config.secrets import read_jwt_file

JWT = (
    "eyJhbGciOiJFUzI1NiIsInR5cCI6IkpXVCJ9"
    ".eyJzdWIiOiJyZXBvOm9wZW5mYWFzL2RlbW8iLCJhdWQiOiJodHRwOi8vZ3cifQ"
    ".c2lnbmF0dXJl"
)


def test_a_jwt_is_read_without_surrounding_whitespace(tmp_path: Path) -> None:
    path = tmp_path / "token"
    path.write_text(f"\n{JWT}\n")
    assert read_jwt_file(str(path)) == JWT


@pytest.mark.parametrize(
    ("content", "message", "hint"),
    [
        ("", "is empty", None),
        ("  \n", "is empty", None),
        ("garbage", "does not hold a JWT (three base64url parts separated by dots)", None),
        ("a.b.c", "does not hold a JWT (its parts do not decode to a JWT header and claims)", None),
        (f"{JWT} {JWT}", "does not hold a JWT (three base64url parts separated by dots)", None),
        (
            json.dumps({"count": 1, "value": JWT}),
            "holds GitHub's JSON answer, not the token in it",
            "extract the token with `jq -r .value`",
        ),
        ('{"access_token": "x"}', "holds JSON, not a JWT", None),
    ],
)
def test_what_is_not_a_jwt_is_a_usage_failure_naming_the_file(
    tmp_path: Path, content: str, message: str, hint: str | None
) -> None:
    path = tmp_path / "token"
    path.write_text(content)
    with pytest.raises(UsageFailure) as caught:
        read_jwt_file(str(path))
    assert caught.value.message == f"the token file {path} {message}"
    assert caught.value.hint == hint
    assert caught.value.exit_code == ExitCode.USAGE
    assert JWT not in caught.value.message


def test_stdin(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("sys.stdin", io.StringIO(JWT + "\n"))
    assert read_jwt_file("-") == JWT
    monkeypatch.setattr("sys.stdin", io.StringIO("garbage"))
    with pytest.raises(UsageFailure, match="^stdin does not hold a JWT"):
        read_jwt_file("-")


def test_unreadable_file(tmp_path: Path) -> None:
    with pytest.raises(UsageFailure, match="cannot read the token file .*: No such file"):
        read_jwt_file(str(tmp_path / "missing"))
