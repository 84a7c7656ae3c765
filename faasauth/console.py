"""Messages for people, on stderr. stdout is reserved for what the user asked for."""

from __future__ import annotations

import os
import re
import sys
from contextlib import contextmanager
from contextvars import ContextVar
from typing import BinaryIO, Iterator, Protocol, TextIO

PREFIX = "faasauth"
_USERINFO = re.compile(r"(\b[a-z][a-z0-9+.-]*://)[^/\s@:]*:[^/\s@]*@", re.IGNORECASE)


def plain_output(stream: TextIO | None = None) -> bool:
    """True where decoration (colour, spinners, panels) must not be used on `stream`
    (stderr, where messages for people go, unless told otherwise)."""
    return (
        not (stream or sys.stderr).isatty()
        or "NO_COLOR" in os.environ
        or os.environ.get("TERM", "") == "dumb"
    )


# Inside the library's calls messages go to the `faasauth` logger, not to stderr: nothing
# is printed unless the application asks. A context variable, so the rest of the process
# (and threads started from elsewhere) keep their own setting.
_to_logging: ContextVar[bool] = ContextVar("faasauth_messages_to_logging", default=False)


@contextmanager
def messages_to_logging() -> Iterator[None]:
    token = _to_logging.set(True)
    try:
        yield
    finally:
        _to_logging.reset(token)


def printable(text: str) -> str:
    """Text safe to show on a terminal: every control character (ESC of an OSC 52 clipboard
    write or a screen clear, a newline forging a `faasauth:` line, BiDi overrides) shown as
    an escape instead of acting. The one sanitiser every message passes through."""
    if "@" in text:  # http://user:password@host: the password is no one's business
        text = _USERINFO.sub(r"\1***@", text)
    if text.isprintable():
        return text
    return "".join(c if c.isprintable() or c == "\t" else _escape(c) for c in text)


def _escape(char: str) -> str:
    code = ord(char)
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"


class Output(Protocol):
    """Where a function's answer is copied to: stdout's buffer, or a TerminalOutput."""

    def write(self, data: bytes, /) -> int: ...

    def flush(self) -> None: ...


class TerminalOutput:
    """stdout on a terminal shared with stderr, remembering whether the last byte written
    ended a line, so that a message can end it first (as httpie does): a function's answer
    without a final newline must not run into `faasauth: ...`. Pipes and files are never
    wrapped: what goes there stays byte for byte what the function sent."""

    def __init__(self, out: BinaryIO) -> None:
        self._out = out
        self.mid_line = False

    def write(self, data: bytes) -> int:
        if data:
            self.mid_line = not data.endswith(b"\n")
        return self._out.write(data)

    def flush(self) -> None:
        self._out.flush()

    def end_line(self) -> None:
        if self.mid_line:
            self.mid_line = False
            try:
                self._out.write(b"\n")
                self._out.flush()
            except OSError:
                pass


_terminal: TerminalOutput | None = None  # the invoke's stdout on a terminal, if any


def terminal_output(out: BinaryIO) -> Output:
    """`out` itself, or, when it and stderr are the same kind of thing, a terminal, a
    TerminalOutput that messages on stderr end the line of first."""
    try:
        if not (out.isatty() and sys.stderr.isatty()):
            return out
    except (AttributeError, ValueError):
        return out
    global _terminal
    _terminal = TerminalOutput(out)
    return _terminal


def terminal_width(stream: TextIO | None = None) -> int | None:
    """The columns to wrap messages to on `stream` (stderr unless told): COLUMNS when set,
    else the terminal's own width; None off a terminal, where each message stays one line
    (a log, a pipe, a test reading stderr)."""
    stream = stream or sys.stderr
    try:
        if not stream.isatty():
            return None
    except (AttributeError, ValueError):
        return None
    columns = os.environ.get("COLUMNS", "").strip()
    if columns.isdigit() and int(columns) > 0:
        return int(columns)
    try:
        return os.get_terminal_size(stream.fileno()).columns or None
    except (AttributeError, OSError, ValueError):
        return None


def wrap(text: str, width: int | None, indent: str = "") -> str:
    """`text` in lines of at most `width` columns, broken at spaces only, each line after
    the first starting with `indent`. A word is never split: a URL longer than the room
    stands alone on its line, where the terminal soft-wraps it and a click still gets it
    whole. A terminal left to itself breaks a line anywhere, mid-URL or before a space."""
    if width is None or all(len(line) <= width for line in text.split("\n")):
        return text
    import textwrap

    wrapper = textwrap.TextWrapper(
        width=width, subsequent_indent=indent, break_long_words=False, break_on_hyphens=False
    )
    return "\n".join(
        "\n".join(wrapper.wrap(line)) if len(line) > width else line
        for line in text.split("\n")
    )


def say(message: str) -> None:
    message = printable(message)
    if _to_logging.get():
        import logging

        logging.getLogger(PREFIX).info(message)
        return
    if _terminal is not None:
        _terminal.end_line()
    print(wrap(message, terminal_width()), file=sys.stderr, flush=True)


def warn(message: str) -> None:
    if _to_logging.get():
        import logging

        logging.getLogger(PREFIX).warning(printable(message))
        return
    say(f"{PREFIX}: warning: {message}")


def error(message: str, hint: str | None = None) -> None:
    say(f"{PREFIX}: {message}")
    if hint:
        say(f"hint: {hint}")
