"""What a person reads on a narrow terminal (issue 22 item 26): messages wrap at spaces, a
URL is never split (a terminal can't click a broken link), no line starts with a space.

Real processes write to a real pseudo-terminal with COLUMNS set; the device panel is drawn
by rich at its console's width, as a terminal of that width would get it.
"""

from __future__ import annotations

import io
import os
import pty
import re
import select
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from faasauth.cli.device_prompt import TerminalPrompt
from faasauth.console import wrap
from faasauth.idp.prompts import DeviceCode
from foundation.conftest import make_jwt, subprocess_env

ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]")
URL = re.compile(r"https?://[^\s,;)]+")


def on_terminal(argv: list[str], columns: int, *, until: str | None = None,
                env: dict[str, str] | None = None, timeout: float = 60) -> list[str]:
    """Run argv with stderr on a pseudo-terminal (stdout a pipe) of `columns` columns;
    the lines it wrote there, until it exits or (then it gets SIGINT) `until` is seen."""
    controller, terminal = pty.openpty()
    environment = {**(env or subprocess_env()), "COLUMNS": str(columns), "TERM": "xterm"}
    environment.pop("NO_COLOR", None)
    proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                            stderr=terminal, env=environment)
    os.close(terminal)
    seen = b""
    deadline = time.monotonic() + timeout
    try:
        while time.monotonic() < deadline:
            ready, _, _ = select.select([controller], [], [], 0.2)
            if ready:
                try:
                    chunk = os.read(controller, 65536)
                except OSError:  # the other side closed: it exited
                    break
                if not chunk:
                    break
                seen += chunk
                if until is not None and until.encode() in seen:
                    break
            elif proc.poll() is not None:
                break
        else:
            pytest.fail(f"{argv} did not finish in {timeout} s: {seen!r}")
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGINT)
        proc.communicate(timeout=30)
        os.close(controller)
    return ANSI.sub("", seen.decode()).replace("\r\n", "\n").splitlines()


def assert_reads_at(lines: list[str], columns: int, urls: list[str]) -> None:
    for line in lines:
        assert not line.startswith(" ") or line.startswith(" " * 4), repr(line)
        assert len(line) <= columns or " " not in line.strip(), repr(line)
    for url in urls:
        assert any(url in line for line in lines), f"{url} split: {lines}"


def test_wrap_breaks_at_spaces_and_never_inside_a_word() -> None:
    link = "http://127.0.0.1:40925/device?user_code=WDJB-MJHT&with=a-long-query"
    text = f"Or open this link, which carries the code: {link} (it expires in 10 min)."
    lines = wrap(text, 40).split("\n")
    assert lines == ["Or open this link, which carries the", "code:", link,
                     "(it expires in 10 min)."]
    assert wrap(text, 40, "  ").split("\n")[1:3] == ["  code:", "  " + link]
    assert wrap(text, None) == text and wrap("short", 40) == "short"


def test_messages_wrap_at_words_on_an_80_column_terminal(tmp_path: Path) -> None:
    """"Logged in ... the token" / " is valid": a terminal breaking the line itself left a
    space at the start of the next one, and split URLs anywhere."""
    gateway = "http://gateway.openfaas.example.com:8080"
    issuer = "https://login.identity-provider.example.com/tenant"
    token = make_jwt({"iss": issuer, "sub": "alice@example.com", "exp": int(time.time()) + 3600})
    token_file = tmp_path / "id_token.jwt"
    token_file.write_text(token)
    lines = on_terminal([sys.executable, "-m", "faasauth", "auth", "-g", gateway,
                         "--token-file", str(token_file)], 80)
    said = " ".join(lines)
    assert f"Logged in to {gateway} as alice@example.com ({issuer}); the token is valid" in said
    assert len(lines) > 1  # it did wrap
    assert_reads_at(lines, 80, [gateway, issuer])


@pytest.mark.parametrize("columns", [80, 50])
def test_the_sandbox_banner_wraps_under_its_values_and_keeps_urls_whole(columns: int) -> None:
    lines = on_terminal([sys.executable, "-m", "faasauth", "sandbox"], columns,
                        until="serving; Ctrl-C to stop")
    banner = [line for line in lines if line.startswith(("faasauth sandbox:", " "))]
    gateway = next(line.split()[3] for line in banner if line.startswith("faasauth sandbox: gateway"))
    idp = next(line.split()[3] for line in banner if line.startswith("faasauth sandbox: IdP"))
    assert all(line.startswith(("faasauth sandbox: ", " " * 28)) for line in banner), banner
    assert_reads_at(banner, columns, [f"{idp}/device", f"{idp}/authorize",
                                      f"{gateway}/_sandbox/requests",
                                      "http://127.0.0.1:PORT/oauth/callback"])
    for line in banner:
        for url in URL.findall(line):
            assert url.startswith(("http://127.0.0.1:", "https://127.0.0.1:")), line


LINK = "http://127.0.0.1:8080/device?user_code=WDJB-MJHT"
CODE = DeviceCode("device-secret", "WDJB-MJHT", "http://127.0.0.1:8080/device", LINK, 600, 5)


def device_prompt(width: int, height: int = 60) -> str:
    from rich.console import Console

    out = io.StringIO()
    prompt = TerminalPrompt(qr=True)
    prompt.console = Console(file=out, width=width, height=height, force_terminal=True,
                             color_system="standard")
    prompt.show(CODE)
    prompt.close(False)
    return out.getvalue()


@pytest.mark.parametrize("width", [80, 50, 40])
def test_the_device_panel_never_splits_its_links(width: int) -> None:
    text = ANSI.sub("", device_prompt(width))
    lines = text.splitlines()
    assert any(LINK in line for line in lines), text
    assert any("http://127.0.0.1:8080/device" in line for line in lines)
    assert "WDJB-MJHT" in text
    assert all(len(line) <= width or " " not in line.strip("│ ") for line in lines), text
    if width == 80:
        assert "Sign in to continue" in lines[0] and lines[0].startswith("╭")  # the panel


def test_the_qr_label_is_plain_text() -> None:
    """rich's highlighter made the parentheses of "(--no-qr hides this)" bold."""
    text = device_prompt(100, 60)
    assert "Or scan it with a phone (--no-qr hides this):\n" in text
