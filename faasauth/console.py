"""Messages for people, on stderr. stdout is reserved for what the user asked for."""

from __future__ import annotations

import os
import sys
from typing import TextIO

PREFIX = "faasauth"


def plain_output(stream: TextIO | None = None) -> bool:
    """True where decoration (colour, spinners, panels) must not be used on `stream`
    (stderr, where messages for people go, unless told otherwise)."""
    return (
        not (stream or sys.stderr).isatty()
        or "NO_COLOR" in os.environ
        or os.environ.get("TERM", "") == "dumb"
    )


def say(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def warn(message: str) -> None:
    say(f"{PREFIX}: warning: {message}")


def error(message: str, hint: str | None = None) -> None:
    say(f"{PREFIX}: {message}")
    if hint:
        say(f"hint: {hint}")
