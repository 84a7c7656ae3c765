"""What a person is shown during a login, and the prompts that show it: the interface
between the grant units and the command line (which implements both prompts).

    DeviceCode     the device grant's code and links, as the IdP sent them (clamped)
    DevicePrompt   shows a DeviceCode and spends the wait (faasauth.cli.device_prompt)
    BrowserPrompt  shows the browser login's URL (faasauth.cli.browser_prompt)

Below the grant units and their registry (idp.grant_call, idp.grants): it knows neither.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Protocol

from faasauth.errors import MalformedResponse

DEFAULT_INTERVAL = 5.0  # RFC 8628 3.2
MIN_INTERVAL = 1.0  # never poll faster than this, whatever the server says
MAX_EXPIRES_IN = 3600.0  # a code that "lives" longer is waited for this long at most


@dataclass(frozen=True)
class DeviceCode:
    device_code: str
    user_code: str
    verification_uri: str
    verification_uri_complete: str | None
    expires_in: float
    interval: float

    def __repr__(self) -> str:  # the device code is a secret
        return f"DeviceCode(user_code={self.user_code!r}, verification_uri={self.verification_uri!r})"

    @classmethod
    def from_response(cls, body: dict[str, Any]) -> DeviceCode:
        # Some providers (Google) still spell it verification_url.
        uri = body.get("verification_uri") or body.get("verification_url")
        device_code, user_code = body.get("device_code"), body.get("user_code")
        if not all(isinstance(v, str) and v for v in (device_code, user_code, uri)):
            raise MalformedResponse(
                "login failed: the device authorization answer lacks device_code, "
                "user_code or verification_uri"
            )
        complete = body.get("verification_uri_complete")
        expires_in = body.get("expires_in")
        interval = body.get("interval")
        return cls(
            device_code=str(device_code),
            user_code=str(user_code),
            verification_uri=str(uri),
            verification_uri_complete=complete if isinstance(complete, str) and complete else None,
            expires_in=min(_seconds(expires_in) or 1800.0, MAX_EXPIRES_IN),
            interval=max(_seconds(interval) or DEFAULT_INTERVAL, MIN_INTERVAL),
        )


def _seconds(value: Any) -> float | None:
    """A positive number of seconds; some servers (Azure AD v1) send numbers as strings."""
    if isinstance(value, bool):
        return None
    if isinstance(value, str) and value.strip().isascii() and value.strip().isdigit():
        value = int(value) if len(value.strip()) < 12 else None
    if isinstance(value, (int, float)) and value > 0:  # NaN compares false
        return min(float(value), 1e9)  # 1e400 and Infinity are just "long"
    return None


class DevicePrompt(Protocol):
    """How the code is shown and the wait is spent; see faasauth.cli.device_prompt."""

    def show(self, code: DeviceCode) -> None: ...

    def wait(self, seconds: float, deadline: float) -> None: ...

    def close(self, approved: bool) -> None: ...


class BrowserPrompt(Protocol):
    """How the authorization URL reaches the person; see faasauth.cli.browser_prompt."""

    @property
    def unavailable(self) -> str | None:
        """Why no browser can be opened here, or None when one can."""

    def show(self, url: str, redirect_uri: str) -> None:
        """Print `url` on stderr and open a browser at it where one may be opened."""

    def close(self, ok: bool) -> None: ...
