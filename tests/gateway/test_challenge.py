"""faasauth.gateway.challenge: WWW-Authenticate parsing and the IAM function-invoke challenge."""

from __future__ import annotations

import pytest

from faasauth.gateway.challenge import is_function_invoke_challenge, parse_challenges

# -- challenges ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("Bearer realm=IAM function invoke", [("bearer", {"realm": "IAM function invoke"})]),
        ('Bearer realm="IAM function invoke"', [("bearer", {"realm": "IAM function invoke"})]),
        (
            'Bearer realm="a \\"b\\", c", error=invalid_token',
            [("bearer", {"realm": 'a "b", c', "error": "invalid_token"})],
        ),
        (
            'Basic realm="x", Bearer realm=IAM function invoke , scope="f"',
            [("basic", {"realm": "x"}), ("bearer", {"realm": "IAM function invoke", "scope": "f"})],
        ),
        ("Negotiate abc123==", [("negotiate", {"abc123": "="})]),
        ("", []),
        ("realm=orphan", []),
    ],
)
def test_parse_challenges(value: str, expected: list[tuple[str, dict[str, str]]]) -> None:
    assert [(c.scheme, c.params) for c in parse_challenges(value)] == expected


@pytest.mark.parametrize(
    ("values", "expected"),
    [
        (["Bearer realm=IAM function invoke"], True),
        (["bEaReR REALM=IAM function invoke"], True),
        (['Basic realm="gw"', 'Bearer realm="IAM function invoke"'], True),
        (["Bearer realm=IAM function invoke2"], False),
        (["Bearer realm=iam function invoke"], False),
        (['Basic realm="IAM function invoke"'], False),
        (["Bearer"], False),
        ([], False),
    ],
)
def test_function_invoke_challenge(values: list[str], expected: bool) -> None:
    assert is_function_invoke_challenge(values) is expected


