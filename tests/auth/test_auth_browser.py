"""When the device grant may open a browser: a person, at a local terminal, with a display."""

from __future__ import annotations

import io
import sys
from typing import Callable

import pytest

from faasauth.cli.device_prompt import (
    PlainPrompt,
    TerminalPrompt,
    make_prompt,
    may_open_browser,
    open_browser,
)

DESKTOP = {"DISPLAY": ":0"}


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


class NotTerminal(io.StringIO):
    def isatty(self) -> bool:
        return False


@pytest.fixture
def terminal(monkeypatch: pytest.MonkeyPatch) -> Callable[[], None]:
    """Call it in the test body: pytest puts its own sys.stderr back after fixture setup."""

    def fake() -> None:
        monkeypatch.setattr(sys, "stdin", Terminal())
        monkeypatch.setattr(sys, "stderr", Terminal())

    return fake


def test_true_on_a_terminal_with_a_display(terminal: Callable[[], None]) -> None:
    terminal()
    assert may_open_browser(False, DESKTOP, platform="linux") is True
    assert may_open_browser(False, {"WAYLAND_DISPLAY": "wayland-0"}, platform="linux") is True
    assert may_open_browser(False, {}, platform="darwin") is True


def test_never_with_no_browser(terminal: Callable[[], None]) -> None:
    terminal()
    assert may_open_browser(True, DESKTOP, platform="linux") is False
    assert may_open_browser(True, {}, platform="darwin") is False


@pytest.mark.parametrize("name", ["SSH_CONNECTION", "SSH_TTY"])
def test_never_over_ssh(terminal: Callable[[], None], name: str) -> None:
    terminal()
    value = "10.0.0.1 5555 10.0.0.2 22" if name == "SSH_CONNECTION" else "/dev/pts/3"
    env = {**DESKTOP, name: value}
    assert may_open_browser(False, env, platform="linux") is False
    assert may_open_browser(False, env, platform="darwin") is False


@pytest.mark.parametrize("platform", ["linux", "freebsd14"])
def test_never_without_a_display(terminal: Callable[[], None], platform: str) -> None:
    terminal()
    assert may_open_browser(False, {}, platform=platform) is False
    assert may_open_browser(False, {"DISPLAY": ""}, platform=platform) is False


@pytest.mark.parametrize("stream", ["stdin", "stderr"])
def test_never_off_a_terminal(terminal: Callable[[], None], monkeypatch: pytest.MonkeyPatch,
                              stream: str) -> None:
    terminal()
    monkeypatch.setattr(sys, stream, NotTerminal())
    assert may_open_browser(False, DESKTOP, platform="linux") is False
    assert may_open_browser(False, {}, platform="darwin") is False


def test_make_prompt_wires_the_rules(terminal: Callable[[], None],
                                     monkeypatch: pytest.MonkeyPatch) -> None:
    terminal()
    monkeypatch.delenv("NO_COLOR", raising=False)
    monkeypatch.setenv("TERM", "xterm-256color")
    with_browser = make_prompt(False, DESKTOP)
    assert isinstance(with_browser, TerminalPrompt)  # rich panel and spinner on a terminal
    assert with_browser.opener is open_browser
    assert make_prompt(True, DESKTOP).opener is None
    assert make_prompt(False, {**DESKTOP, "SSH_TTY": "/dev/pts/1"}).opener is None


def test_make_prompt_off_a_terminal_is_plain_without_browser(monkeypatch: pytest.MonkeyPatch
                                                             ) -> None:
    monkeypatch.setattr(sys, "stdin", NotTerminal())
    monkeypatch.setattr(sys, "stderr", NotTerminal())
    prompt = make_prompt(False, DESKTOP)
    assert isinstance(prompt, PlainPrompt)
    assert prompt.opener is None


def test_a_broken_browser_does_not_break_the_login(monkeypatch: pytest.MonkeyPatch) -> None:
    import webbrowser

    def broken(url: str, new: int = 0) -> bool:
        raise webbrowser.Error("no runnable browser")

    monkeypatch.setattr(webbrowser, "open", broken)
    assert open_browser("https://idp.example/device") is False


def test_terminal_prompt_panel_shows_uri_and_code_even_with_a_complete_link() -> None:
    from rich.console import Console

    from faasauth.idp.prompts import DeviceCode

    code = DeviceCode("dc-secret-0123456789", "WDJB-MJHT", "https://idp.example/device",
                      "https://idp.example/device?user_code=WDJB-MJHT", 600.0, 5.0)
    prompt = TerminalPrompt(clock=lambda: 0.0)
    screen = io.StringIO()
    prompt.console = Console(file=screen, force_terminal=True, width=120)
    prompt.show(code)
    prompt.close(False)  # stops the spinner; nothing more is said when not approved
    text = screen.getvalue()
    assert "https://idp.example/device" in text and "WDJB-MJHT" in text
    assert "https://idp.example/device?user_code=WDJB-MJHT" in text
    assert "dc-secret-0123456789" not in text
    assert "Approved" not in text
    assert prompt._status is None
