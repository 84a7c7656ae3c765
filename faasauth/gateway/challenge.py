"""Reading `WWW-Authenticate` challenges, and spotting OpenFaaS's function-invoke one.

The watchdog answers a call without a valid token with

    WWW-Authenticate: Bearer realm=IAM function invoke

(the realm is NOT quoted, against RFC 9110's grammar), so the parser takes an unquoted
parameter value up to the next comma instead of up to the next space. Quoted values,
several challenges in one header line and several header lines are read as the RFC says.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Iterable

FUNCTION_INVOKE_REALM = "IAM function invoke"

_SEPARATORS = " \t,="


@dataclass
class Challenge:
    scheme: str  # lower-cased: schemes are case-insensitive
    params: dict[str, str] = field(default_factory=dict)  # names lower-cased

    @property
    def realm(self) -> str | None:
        return self.params.get("realm")


def _skip(text: str, pos: int, chars: str) -> int:
    while pos < len(text) and text[pos] in chars:
        pos += 1
    return pos


def _quoted(text: str, pos: int) -> tuple[str, int]:
    """The quoted-string starting at text[pos] == '"', and the position after it."""
    out = []
    pos += 1
    while pos < len(text):
        char = text[pos]
        if char == "\\" and pos + 1 < len(text):
            out.append(text[pos + 1])
            pos += 2
            continue
        if char == '"':
            return "".join(out), pos + 1
        out.append(char)
        pos += 1
    return "".join(out), pos  # unterminated: take what is there


def parse_challenges(value: str) -> list[Challenge]:
    """Every challenge in one `WWW-Authenticate` value; malformed parts are skipped."""
    challenges: list[Challenge] = []
    current: Challenge | None = None
    pos = 0
    while True:
        pos = _skip(value, pos, " \t,")
        if pos >= len(value):
            break
        end = pos
        while end < len(value) and value[end] not in _SEPARATORS:
            end += 1
        word = value[pos:end]
        after = _skip(value, end, " \t")
        if word and after < len(value) and value[after] == "=":
            # name=value (or name="value"): a parameter of the current challenge.
            start = _skip(value, after + 1, " \t")
            if start < len(value) and value[start] == '"':
                param, pos = _quoted(value, start)
            else:
                stop = value.find(",", start)
                stop = len(value) if stop < 0 else stop
                param, pos = value[start:stop].strip(), stop
            if current is not None:  # else a parameter before any scheme: malformed, dropped
                current.params.setdefault(word.lower(), param)
            continue
        if not word:
            # A stray '=' (a token68's padding, or garbage): step over it.
            pos = _skip(value, end, "=")
            continue
        current = Challenge(word.lower())
        challenges.append(current)
        pos = end
    return challenges


def is_function_invoke_challenge(values: Iterable[str]) -> bool:
    """True when a `Bearer` challenge among `values` has the realm `IAM function invoke`."""
    return any(
        challenge.scheme == "bearer" and challenge.realm == FUNCTION_INVOKE_REALM
        for value in values
        for challenge in parse_challenges(value)
    )
