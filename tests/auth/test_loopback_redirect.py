"""The browser login's loopback redirect receiver (faasauth/idp/loopback_redirect.py), over
real sockets: each case a real HTTP request to 127.0.0.1, as a browser sends it."""

from __future__ import annotations

import os
import signal
import socket
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

import httpx
import pytest

from faasauth.errors import ExitCode
from faasauth.idp.loopback_redirect import (
    DEFAULT_PATH,
    DEFAULT_PORT,
    AuthorizationCode,
    AuthorizationError,
    LoginHijacked,
    LoginTimedOut,
    LoopbackRedirect,
    MalformedCallback,
    RedirectPortBusy,
    sanitize,
)

STATE = "st-4f1e9a"
CODE = "the-code-XYZ-123"


@pytest.fixture
def receiver() -> Iterator[LoopbackRedirect]:
    with LoopbackRedirect(STATE, port=0, hold_page=True) as r:
        yield r


def get(receiver: LoopbackRedirect, target: str) -> httpx.Response:
    return httpx.get(f"http://127.0.0.1:{receiver.port}{target}", timeout=5, trust_env=False)


def later(delay: float, action: Callable[[], Any]) -> list[Any]:
    """Run `action` in a thread after `delay` seconds; its result lands in the list."""
    results: list[Any] = []

    def run() -> None:
        time.sleep(delay)
        results.append(action())

    threading.Thread(target=run, daemon=True).start()
    return results


def test_defaults_are_faas_clis() -> None:
    assert (DEFAULT_PORT, DEFAULT_PATH) == (31111, "/oauth/callback")


def test_valid_callback_returns_the_code_and_the_page_says_done(
    receiver: LoopbackRedirect,
) -> None:
    assert receiver.redirect_uri == f"http://127.0.0.1:{receiver.port}/oauth/callback"
    pages = later(0.1, lambda: get(receiver, f"/oauth/callback?code={CODE}&state={STATE}&iss=x"))
    answer = receiver.wait(timeout=5)
    assert answer == AuthorizationCode(code=CODE, state=STATE, iss="x")
    assert CODE not in repr(answer)
    time.sleep(0.3)
    assert not pages  # held until the login has ended (issue 21, finding 14)
    receiver.finish(True)
    deadline = time.monotonic() + 5
    while not pages and time.monotonic() < deadline:
        time.sleep(0.02)
    page = pages[0]
    assert page.status_code == 200
    assert "Login complete" in page.text and "close this tab" in page.text
    assert CODE not in page.text
    assert page.headers["Cache-Control"] == "no-store"
    assert page.headers["Referrer-Policy"] == "no-referrer"


def test_wrong_or_missing_state_is_answered_and_the_wait_goes_on(
    receiver: LoopbackRedirect,
) -> None:
    seen: list[httpx.Response] = []

    def browse() -> None:
        seen.append(get(receiver, f"/oauth/callback?code={CODE}&state=forged"))
        seen.append(get(receiver, f"/oauth/callback?code={CODE}"))
        seen.append(get(receiver, f"/oauth/callback?error=access_denied&state=forged"))
        seen.append(get(receiver, f"/oauth/callback?code=a&state={STATE}&state={STATE}"))
        seen.append(get(receiver, f"/oauth/callback?code=real&state={STATE}"))

    browser = threading.Thread(target=browse, daemon=True)
    browser.start()
    answer = receiver.wait(timeout=5)
    browser.join(5)
    assert answer.code == "real"
    assert [r.status_code for r in seen[:4]] == [400, 400, 400, 400]
    assert all("does not belong" in r.text and CODE not in r.text for r in seen[:4])


def test_error_ends_the_wait_with_a_sanitised_description(receiver: LoopbackRedirect) -> None:
    later(
        0.1,
        lambda: get(
            receiver,
            f"/oauth/callback?error=access_denied&state={STATE}"
            "&error_description=End-User%20aborted%1b%5b31m%20%3Cb%3Einteraction%3C/b%3E",
        ),
    )
    with pytest.raises(AuthorizationError) as caught:
        receiver.wait(timeout=5)
    failure = caught.value
    assert failure.error == "access_denied"
    assert failure.description == "End-User aborted [31m <b>interaction</b>"
    assert "\x1b" not in failure.message
    assert failure.exit_code == ExitCode.REFUSED
    assert "access_denied" in failure.message


def test_error_page_in_the_browser_escapes_what_the_idp_said(receiver: LoopbackRedirect) -> None:
    pages = later(
        0.1,
        lambda: get(
            receiver,
            f"/oauth/callback?error=access_denied&state={STATE}"
            "&error_description=%3Cscript%3Ealert(1)%3C/script%3E",
        ),
    )
    with pytest.raises(AuthorizationError):
        receiver.wait(timeout=5)
    deadline = time.monotonic() + 5
    while not pages and time.monotonic() < deadline:
        time.sleep(0.02)
    assert "Login failed" in pages[0].text and "access_denied" in pages[0].text
    assert "<script>" not in pages[0].text and "&lt;script&gt;" in pages[0].text


def test_a_callback_with_neither_code_nor_error(receiver: LoopbackRedirect) -> None:
    later(0.1, lambda: get(receiver, f"/oauth/callback?state={STATE}"))
    with pytest.raises(MalformedCallback):
        receiver.wait(timeout=5)


def test_favicon_and_other_paths_are_ignored(receiver: LoopbackRedirect) -> None:
    seen: list[httpx.Response] = []

    def browse() -> None:
        seen.append(get(receiver, "/favicon.ico"))
        seen.append(get(receiver, f"/oauth/callbackX?code={CODE}&state={STATE}"))
        seen.append(get(receiver, f"/?code={CODE}&state={STATE}"))
        seen.append(get(receiver, f"/oauth/callback?code=real&state={STATE}"))

    browser = threading.Thread(target=browse, daemon=True)
    browser.start()
    assert receiver.wait(timeout=5).code == "real"
    receiver.finish(True)
    browser.join(5)
    assert [r.status_code for r in seen] == [404, 404, 404, 200]


def test_only_one_callback_counts(receiver: LoopbackRedirect) -> None:
    later(0.1, lambda: get(receiver, f"/oauth/callback?code=first&state={STATE}"))
    assert receiver.wait(timeout=5).code == "first"
    again = get(receiver, f"/oauth/callback?code=second&state={STATE}")
    assert "already finished" in again.text


def test_timeout(receiver: LoopbackRedirect) -> None:
    begun = time.monotonic()
    with pytest.raises(LoginTimedOut) as caught:
        receiver.wait(timeout=0.5)
    assert 0.45 <= time.monotonic() - begun < 2
    assert caught.value.exit_code == ExitCode.REFUSED
    assert receiver.redirect_uri in caught.value.message
    assert "--login-timeout" in (caught.value.hint or "")
    # a late callback is told the login is over, and is not taken
    assert "already finished" in get(receiver, f"/oauth/callback?code=x&state={STATE}").text


def test_busy_port_is_a_usage_failure_with_a_hint() -> None:
    with socket.socket() as other:
        other.bind(("127.0.0.1", 0))
        other.listen()
        port = other.getsockname()[1]
        with pytest.raises(RedirectPortBusy) as caught:
            LoopbackRedirect(STATE, port=port)
    failure = caught.value
    assert failure.exit_code == ExitCode.USAGE
    assert f"127.0.0.1:{port}" in failure.message and "already in use" in failure.message
    assert "--redirect-port 0" in (failure.hint or "")


def test_two_receivers_cannot_share_a_port(receiver: LoopbackRedirect) -> None:
    with pytest.raises(RedirectPortBusy):
        LoopbackRedirect(STATE, port=receiver.port)


def test_listens_on_loopback_only(receiver: LoopbackRedirect) -> None:
    assert receiver._server.server_address[0] == "127.0.0.1"


def test_a_custom_path_and_a_bad_one() -> None:
    with LoopbackRedirect(STATE, port=0, path="/cb") as r:
        assert r.redirect_uri.endswith("/cb")
        later(0.1, lambda: get(r, f"/cb?code=c&state={STATE}"))
        assert r.wait(timeout=5).code == "c"
    with pytest.raises(ValueError):
        LoopbackRedirect(STATE, port=0, path="cb")


def test_the_port_is_free_again_after_close() -> None:
    with LoopbackRedirect(STATE, port=0) as first:
        port = first.port
    with LoopbackRedirect(STATE, port=port) as second:
        assert second.port == port


def test_an_idle_connection_does_not_block_the_callback(receiver: LoopbackRedirect) -> None:
    # browsers open speculative connections that send nothing
    with socket.create_connection(("127.0.0.1", receiver.port)):
        later(0.1, lambda: get(receiver, f"/oauth/callback?code=c&state={STATE}"))
        assert receiver.wait(timeout=3).code == "c"


@pytest.mark.skipif(os.name != "posix", reason="sends SIGINT to this process")
def test_ctrl_c_interrupts_the_wait_quickly(receiver: LoopbackRedirect) -> None:
    assert threading.current_thread() is threading.main_thread()
    sent: list[float] = []

    def interrupt() -> None:
        sent.append(time.monotonic())
        os.kill(os.getpid(), signal.SIGINT)

    previous = signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        later(0.3, interrupt)
        with pytest.raises(KeyboardInterrupt):
            receiver.wait(timeout=30)
        assert time.monotonic() - sent[0] < 0.5
    finally:
        signal.signal(signal.SIGINT, previous)


def test_sanitize() -> None:
    assert sanitize('a\nb\t"c"\\d\x1b[0m é') == "a b c d [0m"
    assert len(sanitize("x" * 500)) == 200


def test_a_callback_before_wait_is_kept(receiver: LoopbackRedirect) -> None:
    # a fast browser (or --auto-approve) can be back before the caller starts waiting
    pages = later(0, lambda: get(receiver, f"/oauth/callback?code=early&state={STATE}"))
    time.sleep(0.5)
    assert receiver.wait(timeout=1).code == "early"
    receiver.finish(True)
    deadline = time.monotonic() + 5
    while not pages and time.monotonic() < deadline:
        time.sleep(0.02)
    assert "Login complete" in pages[0].text


# -- the page after the login has ended (issue 21, finding 14) ------------------------------


def test_a_login_that_fails_after_the_callback_never_says_complete(
    receiver: LoopbackRedirect,
) -> None:
    pages = later(0.1, lambda: get(receiver, f"/oauth/callback?code={CODE}&state={STATE}"))
    assert receiver.wait(timeout=5).code == CODE
    receiver.finish(False)  # the code was refused at the token endpoint, say
    deadline = time.monotonic() + 5
    while not pages and time.monotonic() < deadline:
        time.sleep(0.02)
    assert "Login complete" not in pages[0].text
    assert "Login failed" in pages[0].text and "terminal" in pages[0].text


def test_closing_without_a_verdict_releases_the_page_as_failed() -> None:
    with LoopbackRedirect(STATE, port=0, hold_page=True) as r:
        pages = later(0.1, lambda: get(r, f"/oauth/callback?code={CODE}&state={STATE}"))
        assert r.wait(timeout=5).code == CODE
    deadline = time.monotonic() + 5
    while not pages and time.monotonic() < deadline:
        time.sleep(0.02)
    assert pages and "Login complete" not in pages[0].text


# -- the one-shot start address (issue 21, finding 2) ----------------------------------------

AUTHORIZE = "https://idp.example/authorize?state=" + STATE


def test_the_start_address_redirects_once_to_the_identity_provider(
    receiver: LoopbackRedirect,
) -> None:
    start = receiver.start_address(AUTHORIZE)
    assert start.startswith(f"http://127.0.0.1:{receiver.port}/start/")
    assert STATE not in start and len(start.rsplit("/", 1)[1]) >= 32
    first = httpx.get(start, timeout=5, trust_env=False)
    assert first.status_code == 303 and first.headers["Location"] == AUTHORIZE
    assert first.headers["Cache-Control"] == "no-store"
    pages = later(0.1, lambda: get(receiver, f"/oauth/callback?code={CODE}&state={STATE}"))
    assert receiver.wait(timeout=5).code == CODE
    receiver.finish(True)
    deadline = time.monotonic() + 5
    while not pages and time.monotonic() < deadline:
        time.sleep(0.02)
    assert "Login complete" in pages[0].text


def test_a_start_address_fetched_twice_ends_the_login(receiver: LoopbackRedirect) -> None:
    start = receiver.start_address(AUTHORIZE)
    assert httpx.get(start, timeout=5, trust_env=False).status_code == 303  # another user
    second = httpx.get(start, timeout=5, trust_env=False)  # the person's browser
    assert second.status_code == 400 and "already used" in second.text
    assert "Location" not in second.headers
    with pytest.raises(LoginHijacked, match="fetched a second time") as info:
        receiver.wait(timeout=5)
    assert info.value.exit_code == ExitCode.REFUSED and info.value.hint
    late = get(receiver, f"/oauth/callback?code={CODE}&state={STATE}")
    assert "already finished" in late.text  # the other user's code is never taken


def test_a_callback_for_a_login_that_did_not_start_there_ends_it(
    receiver: LoopbackRedirect,
) -> None:
    receiver.start_address(AUTHORIZE)
    page = get(receiver, f"/oauth/callback?code={CODE}&state={STATE}")
    assert page.status_code == 400 and "did not start" in page.text
    with pytest.raises(LoginHijacked, match="did not start at the address faasauth opened"):
        receiver.wait(timeout=5)


def test_a_guessed_start_address_is_not_found(receiver: LoopbackRedirect) -> None:
    start = receiver.start_address(AUTHORIZE)
    assert get(receiver, "/start/guess").status_code == 404
    assert get(receiver, "/start/").status_code == 404
    assert httpx.get(start, timeout=5, trust_env=False).status_code == 303  # still unused
