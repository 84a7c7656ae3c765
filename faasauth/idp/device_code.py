"""The OAuth 2.0 device authorization grant (RFC 8628), to the letter.

Time and waiting are passed in, so tests run the whole poll loop without sleeping.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Callable

from faasauth.errors import LoginFailed, MalformedResponse, TransientFailure
from faasauth.idp.forms import GRANT_DEVICE_CODE, Client, post_form
from faasauth.idp.prompts import DeviceCode
from faasauth.idp.prompts import DevicePrompt as DevicePrompt  # re-exported for flows.auth
from faasauth.runtime import Runtime
from faasauth.tokens.response import TokenError, TokenResponse

if TYPE_CHECKING:
    from faasauth.idp.grant_call import GrantCall

SLOW_DOWN_STEP = 5.0  # RFC 8628 3.5
TRANSIENT_FAILURES_TOLERATED = 3  # consecutive network/5xx failures while polling
FINAL_ERRORS = {
    "access_denied": "the request was denied",
    "expired_token": "the device code expired before it was approved",
    "invalid_grant": "the device code is no longer valid",
}


def checked_links(code: DeviceCode, endpoint: str) -> DeviceCode:
    """The links a person is shown and a browser is opened at: only https:// (or http:// to
    loopback) URLs, with a host, no userinfo, no control characters (discovery's rule). A bad
    verification_uri ends the login (exit 3, the IdP is at fault); a bad
    verification_uri_complete alone is dropped, with a line: the plain link and the code work."""
    from dataclasses import replace

    from faasauth.console import say
    from faasauth.idp.discovery import link_problem

    problem = link_problem(code.verification_uri)
    if problem is not None:
        raise MalformedResponse(
            f"login failed ({endpoint}): the identity provider's verification_uri was "
            f"refused, {problem}; nothing was shown or opened",
            hint="the identity provider is misconfigured (or hostile): tell its administrator",
        )
    if code.verification_uri_complete is not None:
        problem = link_problem(code.verification_uri_complete)
        if problem is not None:
            say(f"The identity provider's verification_uri_complete was ignored ({problem}): "
                "open the link below and enter the code.")
            return replace(code, verification_uri_complete=None)
    return code


@dataclass
class DeviceGrant:
    rt: Runtime
    device_endpoint: str
    token_endpoint: str
    client: Client
    scope: str | None
    prompt: DevicePrompt
    clock: Callable[[], float] = time.monotonic

    def start(self) -> DeviceCode:
        form: dict[str, Any] = {}
        if self.scope:
            form["scope"] = self.scope
        result = post_form(self.rt, self.device_endpoint, form, self.client, "login")
        if isinstance(result, TokenError):
            raise LoginFailed(f"login failed: {result.message()}")
        return checked_links(DeviceCode.from_response(result), self.device_endpoint)

    def run(self) -> TokenResponse:
        """Show the code, poll until approved, and return the token response."""
        code = self.start()
        deadline = self.clock() + code.expires_in
        self.prompt.show(code)
        approved = False
        try:
            tokens = self._poll(code, deadline)
            approved = True
            return tokens
        finally:
            self.prompt.close(approved)

    def _poll(self, code: DeviceCode, deadline: float) -> TokenResponse:
        interval = code.interval
        failures = 0
        while True:
            if self.clock() + interval > deadline:
                raise LoginFailed(
                    f"login failed: {FINAL_ERRORS['expired_token']}",
                    hint="approve the code in time",  # flows.auth adds the command
                )
            self.prompt.wait(interval, deadline)
            form = {"grant_type": GRANT_DEVICE_CODE, "device_code": code.device_code}
            try:
                result = post_form(self.rt, self.token_endpoint, form, self.client, "login")
            except TransientFailure:
                # The person may be approving right now: a passing network or server fault
                # must not throw their login away. Several in a row end it.
                failures += 1
                if failures >= TRANSIENT_FAILURES_TOLERATED:
                    raise
                continue
            failures = 0
            if not isinstance(result, TokenError):
                try:
                    return TokenResponse.from_json(result)  # never poll again after success
                except ValueError as problem:
                    raise MalformedResponse(f"login failed: the token answer {problem}") from None
            if result.error == "authorization_pending":
                continue
            if result.error == "slow_down":
                interval += SLOW_DOWN_STEP  # for this and every later poll
                continue
            reason = FINAL_ERRORS.get(result.error)
            raise LoginFailed(
                f"login failed: {result.message()}",
                hint=reason,  # flows.auth adds the command to run again
            )


def device_code(rt: Runtime, call: GrantCall) -> TokenResponse:
    """The grant's unit: show a code, wait for the person to approve it elsewhere."""
    assert call.endpoints.device_endpoint is not None  # resolve_endpoints made sure
    grant = DeviceGrant(
        rt, call.endpoints.device_endpoint, call.endpoints.token_endpoint, call.client,
        call.request.chosen_scope, call.prompt(),
    )
    return grant.run()
