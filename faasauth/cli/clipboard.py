"""Copying the device grant's user code (`--copy-code`), so nobody retypes it.

Here: the local clipboard tool that exists (wl-copy, xclip, xsel, pbcopy, clip). Over SSH
(or with no tool): OSC 52, an escape sequence that asks the terminal the person sits at to
set its clipboard (most modern terminals and tmux with set-clipboard honour it; it is
written only to a terminal). The user code is not a secret: it is shown on screen anyway.
"""

from __future__ import annotations

import base64
import shutil
import subprocess
import sys
from typing import Callable, Mapping, TextIO

TOOLS: tuple[tuple[str, tuple[str, ...], str], ...] = (
    # (tool, argv, what it needs: a variable that must be set, or a platform prefix)
    ("wl-copy", ("wl-copy",), "WAYLAND_DISPLAY"),
    ("xclip", ("xclip", "-selection", "clipboard"), "DISPLAY"),
    ("xsel", ("xsel", "--clipboard", "--input"), "DISPLAY"),
    ("pbcopy", ("pbcopy",), "darwin"),
    ("clip", ("clip",), "win"),
)


def osc52(text: str) -> str:
    return "\x1b]52;c;" + base64.b64encode(text.encode("utf-8")).decode("ascii") + "\x07"


def copy_text(
    text: str,
    env: Mapping[str, str],
    *,
    platform: str = sys.platform,
    which: Callable[[str], str | None] = shutil.which,
    terminal: TextIO | None = None,
) -> str | None:
    """Copy `text`; how it was done ("xclip", "OSC 52"), or None when it could not be."""
    over_ssh = bool(env.get("SSH_CONNECTION") or env.get("SSH_TTY"))
    if not over_ssh:
        for tool, argv, needs in TOOLS:
            usable = platform.startswith(needs) if needs.islower() else bool(env.get(needs))
            path = which(tool) if usable else None
            if path is None:
                continue
            try:
                done = subprocess.run(
                    [path, *argv[1:]], input=text.encode("utf-8"), timeout=5,
                    stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=False,
                )
            except (OSError, subprocess.TimeoutExpired):
                continue
            if done.returncode == 0:
                return tool
    stream = terminal if terminal is not None else sys.stderr
    if stream.isatty():
        stream.write(osc52(text))
        stream.flush()
        return "OSC 52"
    return None
