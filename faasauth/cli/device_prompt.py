"""Showing a device code to a person (stderr only) and deciding whether to open a browser."""

from __future__ import annotations

import sys
import time
from typing import TYPE_CHECKING, Callable, Mapping

from faasauth.console import plain_output, printable, say
from faasauth.idp.prompts import DeviceCode

if TYPE_CHECKING:
    from rich.status import Status

    from faasauth.idp.loopback_redirect import LoopbackRedirect


def _minutes(seconds: float) -> str:
    seconds = max(0, int(seconds))
    return f"{seconds // 60}:{seconds % 60:02d}"


def may_open_browser(no_browser: bool, env: Mapping[str, str], platform: str = sys.platform) -> bool:
    """Only for a person at a local terminal with a display (or who named a BROWSER)."""
    return why_no_browser(no_browser, env, platform) is None


def why_no_browser(
    no_browser: bool, env: Mapping[str, str], platform: str = sys.platform
) -> str | None:
    """Why no browser may be opened here, or None when one may. A BROWSER the user set is
    their word that one can (Python's webbrowser runs it), wherever this runs."""
    if no_browser:
        return "--no-browser was given"
    if (env.get("BROWSER") or "").strip():
        return None
    if not (sys.stdin.isatty() and sys.stderr.isatty()):
        return "not at a terminal"
    if env.get("SSH_CONNECTION") or env.get("SSH_TTY"):
        return "over SSH"
    if (platform.startswith("linux") or "bsd" in platform) and not (
        env.get("DISPLAY") or env.get("WAYLAND_DISPLAY")
    ):
        return "no display (neither DISPLAY nor WAYLAND_DISPLAY is set)"
    return None


def open_browser(url: str) -> bool:
    """Open a browser at `url`; False when none was. Only at a link discovery's rule allows
    (faasauth.idp.discovery.link_problem): never a `-option`, a file: or javascript: URL."""
    import os

    from faasauth.idp.discovery import link_problem

    if url.startswith("-") or link_problem(url) is not None:
        return False  # the grants refuse such links first; this is the last guard
    if (os.environ.get("BROWSER") or "").strip():
        return _run_browser_variable(os.environ["BROWSER"], url)
    import webbrowser

    try:
        return webbrowser.open(url, new=2)
    except Exception:  # a broken browser setup must not break the login
        return False


def _run_browser_variable(value: str, url: str) -> bool:
    """BROWSER as git and gh read it: commands separated by os.pathsep, each a command line
    (`%s` stands for the URL, else it comes last); the first that succeeds. Unlike Python's
    webbrowser, a command with arguments works, and no other browser is tried instead."""
    import os
    import shlex
    import subprocess

    for choice in value.split(os.pathsep):
        try:
            words = shlex.split(choice)
        except ValueError:
            continue
        if not words:
            continue
        argv = [w.replace("%s", url) for w in words] if "%s" in choice else [*words, url]
        try:
            # its output goes to stderr: stdout is only for what faasauth was asked for
            if subprocess.run(argv, stdout=sys.stderr.fileno(), check=False).returncode == 0:
                return True
        except OSError:
            continue
    return False


def _open_link(
    code: DeviceCode, opener: Callable[[str], bool] | None
) -> LoopbackRedirect | None:
    """Open the browser at a one-shot local address that redirects once to the link, never
    at the link: a browser's argv is readable by every local user (/proc/PID/cmdline), and
    the complete link carries the user code, with which another user could approve this
    login as himself at the IdP. A second fetch of that address ends the login (the
    receiver returned, checked while waiting). Links the user opens are unchanged."""
    if opener is None:
        return None
    import secrets

    from faasauth.idp.loopback_redirect import LoopbackRedirect

    start = LoopbackRedirect(secrets.token_urlsafe(16), port=0)  # no callback comes here
    try:
        opened = opener(start.start_address(code.verification_uri_complete
                                            or code.verification_uri))
    except BaseException:
        start.close()
        raise
    if not opened:
        start.close()
        return None
    say("Opened your browser; if it did not appear, open the link above yourself.")
    return start


def _check_start(start: LoopbackRedirect | None) -> None:
    if start is not None and start.misused():
        from faasauth.idp.loopback_redirect import LoginHijacked

        raise LoginHijacked(
            "the address faasauth opened the browser at was fetched a second time",
            hint="log in again; if it happens again, pass --no-browser and open the link "
            "yourself")


def _close_start(start: LoopbackRedirect | None) -> None:
    if start is not None:
        start.close()


def _copy_code(code: DeviceCode, env: Mapping[str, str] | None) -> None:
    """--copy-code: the user code to a clipboard, and one line saying where (or why not)."""
    if env is None:
        return
    from faasauth.cli.clipboard import copy_text

    how = copy_text(code.user_code, env)
    if how is None:
        say("Could not copy the code: no clipboard tool (wl-copy, xclip, xsel, pbcopy) and "
            "not at a terminal for OSC 52.")
    elif how == "OSC 52":
        say("Asked your terminal to copy the code to its clipboard (OSC 52).")
    else:
        say(f"Copied the code to the clipboard ({how}).")


class PlainPrompt:
    """Plain lines a CI log can show; no escape codes, no spinner."""

    def __init__(
        self,
        sleep: Callable[[float], None] = time.sleep,
        opener: Callable[[str], bool] | None = None,
        copy_from: Mapping[str, str] | None = None,  # the environment, for --copy-code
    ) -> None:
        self.sleep = sleep
        self.opener = opener
        self.copy_from = copy_from
        self._start: LoopbackRedirect | None = None

    def show(self, code: DeviceCode) -> None:
        say(f"To sign in, open {code.verification_uri} and enter the code: {code.user_code}")
        if code.verification_uri_complete:
            say(f"Or open this link, which carries the code: {code.verification_uri_complete}")
        _copy_code(code, self.copy_from)
        self._start = _open_link(code, self.opener)
        say(f"Waiting for approval (the code expires in {_minutes(code.expires_in)} min)...")

    def wait(self, seconds: float, deadline: float) -> None:
        self.sleep(seconds)
        _check_start(self._start)

    def close(self, approved: bool) -> None:
        _close_start(self._start)
        if approved:
            say("Approved.")


class TerminalPrompt:
    """A rich panel and a spinner counting down, for a person at a terminal."""

    def __init__(
        self,
        clock: Callable[[], float] = time.monotonic,
        opener: Callable[[str], bool] | None = None,
        copy_from: Mapping[str, str] | None = None,  # the environment, for --copy-code
        qr: bool = True,
    ) -> None:
        from rich.console import Console

        self.console = Console(stderr=True)
        self.clock = clock
        self.opener = opener
        self.copy_from = copy_from
        self.qr = qr
        self._status: Status | None = None
        self._start: LoopbackRedirect | None = None

    def show(self, code: DeviceCode) -> None:
        link = printable(code.verification_uri)
        complete = printable(code.verification_uri_complete or "")
        user_code = printable(code.user_code)
        # The panel's borders and padding take 4 columns; a link that would not fit on its
        # line there is never wrapped by rich (a split URL cannot be clicked): no panel then.
        room = self.console.width - 4
        if len("Open  " + link) <= room and len("or open " + complete) <= room:
            self._panel(link, user_code, complete)
        else:
            self._lines(link, user_code, complete)
        if self.qr and code.verification_uri_complete:
            self._show_qr(code.verification_uri_complete)
        _copy_code(code, self.copy_from)
        self._start = _open_link(code, self.opener)
        status = self._status = self.console.status("Waiting for approval…")
        status.start()

    def _panel(self, link: str, user_code: str, complete: str) -> None:
        from rich.panel import Panel
        from rich.text import Text

        body = Text()
        body.append("Open  ")
        body.append(link, style="bold underline")
        body.append("\nCode  ")
        body.append(user_code, style="bold cyan")
        if complete:
            body.append("\n\nor open ")
            body.append(complete, style="underline")
        self.console.print(Panel(body, title="Sign in to continue", expand=False))

    def _lines(self, link: str, user_code: str, complete: str) -> None:
        """A narrow terminal: each link alone on its line, which rich leaves unbroken (the
        terminal soft-wraps one longer than the width, and it stays one link)."""
        from rich.text import Text

        print_line = self.console.print
        print_line("Sign in to continue: open", style="bold", highlight=False)
        print_line(Text(link, style="bold underline"), soft_wrap=True)
        print_line(Text.assemble("and enter the code ", (user_code, "bold cyan")),
                   highlight=False)
        if complete:
            print_line("or open this link, which carries the code:", highlight=False)
            print_line(Text(complete, style="underline"), soft_wrap=True)

    def _show_qr(self, link: str) -> None:
        """The link with the code, for a phone's camera, when the terminal has room."""
        from rich.text import Text

        from faasauth.cli.qr import fits, qr_lines

        lines = qr_lines(link)
        if not lines:
            self.console.print("(The link is too long for a QR code: open it above.)",
                               highlight=False)
            return
        size = self.console.size
        if fits(lines, size.width, size.height):
            self.console.print("Or scan it with a phone (--no-qr hides this):", highlight=False)
            for line in lines:
                self.console.print(Text(line, style="black on white"), soft_wrap=True)

    def wait(self, seconds: float, deadline: float) -> None:
        end = self.clock() + seconds
        while (now := self.clock()) < end:
            if self._status is not None:
                self._status.update(
                    f"Waiting for approval… {_minutes(deadline - now)} left"
                )
            time.sleep(min(0.25, end - now))
            _check_start(self._start)

    def close(self, approved: bool) -> None:
        _close_start(self._start)
        if self._status is not None:
            self._status.stop()
            self._status = None
        if approved:
            self.console.print("[green]Approved.[/]")


def make_prompt(
    no_browser: bool, env: Mapping[str, str], *, qr: bool = True, copy_code: bool = False
) -> PlainPrompt | TerminalPrompt:
    """Plain lines off a terminal (never a QR code there), else the panel."""
    opener = open_browser if may_open_browser(no_browser, env) else None
    copy_from = env if copy_code else None
    if plain_output():
        return PlainPrompt(opener=opener, copy_from=copy_from)
    return TerminalPrompt(opener=opener, copy_from=copy_from, qr=qr)
