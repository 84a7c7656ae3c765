"""Showing the browser login's link to a person (stderr only), and opening a browser there.

The link carries the PKCE challenge and the state, never a secret; it is always printed, so
it can be copied into a browser by hand. Whether a browser is opened follows the device
grant's rule (faasauth.cli.device_prompt.why_no_browser).
"""

from __future__ import annotations

from typing import Callable, Mapping

from faasauth.cli.device_prompt import open_browser, why_no_browser
from faasauth.console import say


class LinkPrompt:
    """A BrowserPrompt (faasauth.idp.authorization_code) in plain lines."""

    def __init__(
        self, unavailable: str | None, opener: Callable[[str], bool] | None = open_browser
    ) -> None:
        self.unavailable = unavailable
        self.opener = opener if unavailable is None else None

    def show(self, url: str, redirect_uri: str) -> None:
        say(f"To log in, open this link in a browser on this machine: {url}")
        if self.opener is not None and _opened(self.opener, url):
            say("Opened your browser; if it did not appear, open the link above yourself.")
        elif self.unavailable is not None:
            say(f"(No browser was opened: {self.unavailable}.)")
        say(f"Waiting for the login to come back to {redirect_uri} ...")

    def close(self, ok: bool) -> None:
        if ok:
            say("Browser login complete.")


def _opened(opener: Callable[[str], bool], url: str, patience: float = 2.0) -> bool:
    """Whether the browser was opened; a BROWSER command still running after `patience`
    seconds counts as opened. It runs beside the login: a command that waits for its page
    (a fetching script) gets it only once the login has ended, which needs the wait."""
    import threading

    result: list[bool] = []
    worker = threading.Thread(target=lambda: result.append(opener(url)), daemon=True,
                              name="faasauth-browser")
    worker.start()
    worker.join(patience)
    return result[0] if result else True


def make_browser_prompt(no_browser: bool, env: Mapping[str, str]) -> LinkPrompt:
    return LinkPrompt(why_no_browser(no_browser, env))
