"""The device grant (RFC 8628) against scripted answers, on a fake clock: no real sleeping."""

from __future__ import annotations

import http.client

from pathlib import Path
from typing import Any, Callable

import pytest

from auth.helpers import (
    CliResult,
    FakeClock,
    IdP,
    RecordingPrompt,
    make_runtime,
    make_jwt,
    stored_files,
    stored_login_entry,
)
from faasauth.idp.device_code import DeviceGrant
from faasauth.idp.prompts import DeviceCode
from faasauth.cli.device_prompt import PlainPrompt
from faasauth.errors import ExitCode, LoginFailed, MalformedResponse, TransientFailure
from faasauth.idp.forms import Client

DEVICE_CODE = "dc-secret-0123456789abcdef"
DEVICE_GRANT_TYPE = "urn:ietf:params:oauth:grant-type:device_code"
ID_TOKEN = make_jwt({"iss": "https://idp.example", "sub": "alice", "exp": 4_000_000_000})


def device_answer(**fields: Any) -> dict[str, Any]:
    answer: dict[str, Any] = {
        "device_code": DEVICE_CODE,
        "user_code": "WDJB-MJHT",
        "verification_uri": "https://idp.example/device",
        "expires_in": 600,
    }
    answer.update(fields)
    return {k: v for k, v in answer.items() if v is not None}


def pending(error: str = "authorization_pending", status: int = 400) -> tuple[dict[str, Any], int]:
    return {"error": error, "error_description": f"say {error}"}, status


TOKENS = ({"access_token": "at-0123456789", "id_token": ID_TOKEN, "refresh_token": "rt-0123456789",
           "token_type": "Bearer", "expires_in": 300}, 200)


def script(idp: IdP, device: dict[str, Any], *polls: tuple[dict[str, Any], int]) -> None:
    """The device answer, then one answer per poll, each used once: a further poll gets 500."""
    idp.server.expect_oneshot_request("/device", method="POST").respond_with_json(device)
    for body, status in polls:
        idp.server.expect_oneshot_request("/token", method="POST").respond_with_json(body, status)


def grant(idp: IdP, clock: FakeClock, prompt: Any, client: Client | None = None,
          scope: str | None = "openid offline_access") -> DeviceGrant:
    return DeviceGrant(make_runtime(), idp.device_url, idp.token_url, client or Client("public"),
                       scope, prompt, clock=clock)


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def prompt(clock: FakeClock) -> RecordingPrompt:
    return RecordingPrompt(clock)


def test_default_interval_is_five_seconds(idp: IdP, clock: FakeClock,
                                          prompt: RecordingPrompt) -> None:
    script(idp, device_answer(), pending(), pending(), TOKENS)
    tokens = grant(idp, clock, prompt).run()
    assert tokens.access_token == "at-0123456789"
    assert prompt.waits == [5.0, 5.0, 5.0]
    assert prompt.closed == [True]


@pytest.mark.parametrize("interval", [0, -3, "soon", True, None])
def test_unusable_interval_falls_back_to_five(idp: IdP, clock: FakeClock, prompt: RecordingPrompt,
                                               interval: object) -> None:
    script(idp, device_answer(interval=interval), TOKENS)
    grant(idp, clock, prompt).run()
    assert prompt.waits == [5.0]


def test_numbers_sent_as_strings_are_honoured(idp: IdP, clock: FakeClock,
                                              prompt: RecordingPrompt) -> None:
    # Azure AD v1 sent "expires_in": "900", "interval": "5": strings, not numbers.
    script(idp, device_answer(interval="7", expires_in="20"), pending(), pending(), TOKENS)
    with pytest.raises(LoginFailed):
        grant(idp, clock, prompt).run()
    assert prompt.waits == [7.0, 7.0]  # the next wait (21 s) would pass expires_in (20 s)
    assert len(idp.requests("/token")) == 2


def test_given_interval_is_used(idp: IdP, clock: FakeClock, prompt: RecordingPrompt) -> None:
    script(idp, device_answer(interval=2), pending(), TOKENS)
    grant(idp, clock, prompt).run()
    assert prompt.waits == [2.0, 2.0]


def test_slow_down_adds_five_seconds_to_this_and_every_later_poll(
    idp: IdP, clock: FakeClock, prompt: RecordingPrompt
) -> None:
    script(idp, device_answer(), pending(), pending("slow_down"), pending(), pending(), TOKENS)
    grant(idp, clock, prompt).run()
    assert prompt.waits == [5.0, 5.0, 10.0, 10.0, 10.0]
    assert len(idp.requests("/token")) == 5


def test_slow_down_accumulates(idp: IdP, clock: FakeClock, prompt: RecordingPrompt) -> None:
    script(idp, device_answer(interval=1), pending("slow_down"), pending("slow_down"), pending(),
           TOKENS)
    grant(idp, clock, prompt).run()
    assert prompt.waits == [1.0, 6.0, 11.0, 11.0]


def test_polls_carry_the_grant_type_and_device_code(idp: IdP, clock: FakeClock,
                                                    prompt: RecordingPrompt) -> None:
    script(idp, device_answer(), pending(), TOKENS)
    grant(idp, clock, prompt).run()
    for request in idp.requests("/token"):
        assert idp.form(request) == {"grant_type": DEVICE_GRANT_TYPE,
                                     "device_code": DEVICE_CODE, "client_id": "public"}


def test_never_polls_again_after_success(idp: IdP, clock: FakeClock,
                                         prompt: RecordingPrompt) -> None:
    script(idp, device_answer(), pending(), TOKENS)
    # Were it to poll again, the IdP would say the code is spent.
    idp.server.expect_request("/token").respond_with_json(pending("invalid_grant")[0], 400)
    tokens = grant(idp, clock, prompt).run()
    assert tokens.refresh_token == "rt-0123456789"
    assert len(idp.requests("/token")) == 2
    assert len(prompt.waits) == 2


def test_reaching_expires_in_stops_without_an_extra_poll(
    idp: IdP, clock: FakeClock, prompt: RecordingPrompt
) -> None:
    script(idp, device_answer(expires_in=12), pending(), pending(), pending())
    with pytest.raises(LoginFailed) as failed:
        grant(idp, clock, prompt).run()
    assert failed.value.exit_code == ExitCode.REFUSED
    assert "expired" in failed.value.message
    assert prompt.waits == [5.0, 5.0]  # a third wait would end after the code expired
    assert len(idp.requests("/token")) == 2
    assert prompt.closed == [False]


def test_slow_down_counts_towards_expiry(idp: IdP, clock: FakeClock,
                                         prompt: RecordingPrompt) -> None:
    script(idp, device_answer(expires_in=15), pending("slow_down"), pending())
    with pytest.raises(LoginFailed):
        grant(idp, clock, prompt).run()
    assert prompt.waits == [5.0, 10.0]
    assert len(idp.requests("/token")) == 2


@pytest.mark.parametrize("error", ["access_denied", "expired_token", "invalid_grant"])
def test_final_errors_stop_polling(idp: IdP, clock: FakeClock, prompt: RecordingPrompt,
                                   error: str) -> None:
    script(idp, device_answer(), pending(), pending(error))
    idp.server.expect_request("/token").respond_with_json(TOKENS[0])  # would succeed: must not ask
    with pytest.raises(LoginFailed) as failed:
        grant(idp, clock, prompt).run()
    assert failed.value.message == f"login failed: {error}: say {error}"
    assert failed.value.exit_code == ExitCode.REFUSED
    assert len(idp.requests("/token")) == 2
    assert prompt.closed == [False]


def test_unknown_oauth_error_while_polling_stops(idp: IdP, clock: FakeClock,
                                                 prompt: RecordingPrompt) -> None:
    script(idp, device_answer(), pending("invalid_client", 401))
    with pytest.raises(LoginFailed) as failed:
        grant(idp, clock, prompt).run()
    assert failed.value.message == "login failed: invalid_client: say invalid_client"


def test_server_errors_while_polling_end_the_login_when_they_persist(
    idp: IdP, clock: FakeClock, prompt: RecordingPrompt
) -> None:
    unavailable = ({"error": "server_error"}, 503)
    script(idp, device_answer(), pending(), unavailable, unavailable, unavailable, TOKENS)
    with pytest.raises(TransientFailure) as failed:
        grant(idp, clock, prompt).run()
    assert failed.value.exit_code == ExitCode.TRANSIENT
    assert prompt.closed == [False]
    assert prompt.waits == [5.0] * 4  # pending, then three failures in a row: no fifth poll


def test_a_passing_server_error_while_polling_is_survived(
    idp: IdP, clock: FakeClock, prompt: RecordingPrompt
) -> None:
    unavailable = ({"error": "server_error"}, 503)
    script(idp, device_answer(), pending(), unavailable, unavailable, pending(), unavailable,
           TOKENS)
    assert grant(idp, clock, prompt).run().access_token == "at-0123456789"
    assert prompt.closed == [True]


def test_success_without_access_token_is_malformed(idp: IdP, clock: FakeClock,
                                                   prompt: RecordingPrompt) -> None:
    script(idp, device_answer(), ({"id_token": ID_TOKEN}, 200))
    with pytest.raises(MalformedResponse):
        grant(idp, clock, prompt).run()


def test_google_spelling_verification_url_is_accepted(idp: IdP, clock: FakeClock,
                                                      prompt: RecordingPrompt) -> None:
    script(idp, device_answer(verification_uri=None,
                              verification_url="https://www.google.com/device"), TOKENS)
    grant(idp, clock, prompt).run()
    (shown,) = prompt.shown
    assert shown.verification_uri == "https://www.google.com/device"
    assert shown.user_code == "WDJB-MJHT"


@pytest.mark.parametrize("missing", ["user_code", "device_code", "verification_uri"])
def test_device_answer_missing_a_field_is_malformed(idp: IdP, clock: FakeClock,
                                                    prompt: RecordingPrompt, missing: str) -> None:
    script(idp, device_answer(**{missing: None}))
    with pytest.raises(MalformedResponse) as failed:
        grant(idp, clock, prompt).run()
    assert failed.value.exit_code == ExitCode.TRANSIENT
    assert prompt.shown == [] and prompt.waits == []
    assert idp.requests("/token") == []


def test_device_endpoint_refusal(idp: IdP, clock: FakeClock, prompt: RecordingPrompt) -> None:
    idp.server.expect_request("/device").respond_with_json(
        {"error": "unauthorized_client", "error_description": "device grant not allowed"}, 400)
    with pytest.raises(LoginFailed) as failed:
        grant(idp, clock, prompt).run()
    assert failed.value.message == "login failed: unauthorized_client: device grant not allowed"
    assert prompt.shown == []


def test_device_endpoint_html_is_malformed(idp: IdP, clock: FakeClock,
                                          prompt: RecordingPrompt) -> None:
    idp.server.expect_request("/device").respond_with_data(
        "<!DOCTYPE html><html>oops! something went wrong</html>", 400, content_type="text/html")
    with pytest.raises(MalformedResponse) as failed:
        grant(idp, clock, prompt).run()
    assert failed.value.message.startswith("login failed: the identity provider answered 400 "
                                           "(text/html: ")
    assert prompt.shown == []


def test_confidential_client_authenticates_its_device_requests(
    idp: IdP, clock: FakeClock, prompt: RecordingPrompt
) -> None:
    script(idp, device_answer(), pending(), TOKENS)
    grant(idp, clock, prompt, client=Client("conf", "conf-secret+1", "client_secret_basic")).run()
    requests = idp.requests("/device") + idp.requests("/token")
    assert len(requests) == 3
    for request in requests:
        assert idp.basic(request) == ("conf", "conf-secret+1")
        assert "client_secret" not in idp.form(request)


def test_confidential_client_with_client_secret_post(idp: IdP, clock: FakeClock,
                                                     prompt: RecordingPrompt) -> None:
    script(idp, device_answer(), TOKENS)
    grant(idp, clock, prompt, client=Client("conf", "conf-secret+1", "client_secret_post"),
          scope=None).run()
    device, token = idp.requests("/device") + idp.requests("/token")
    assert idp.form(device) == {"client_id": "conf", "client_secret": "conf-secret+1"}
    assert idp.form(token)["client_secret"] == "conf-secret+1"
    assert "Authorization" not in device.headers and "Authorization" not in token.headers


def test_interrupt_while_waiting_closes_the_prompt(idp: IdP, clock: FakeClock) -> None:
    class Interrupted(RecordingPrompt):
        def wait(self, seconds: float, deadline: float) -> None:
            raise KeyboardInterrupt

    prompt = Interrupted(clock)
    script(idp, device_answer())
    with pytest.raises(KeyboardInterrupt):
        grant(idp, clock, prompt).run()
    assert prompt.closed == [False]
    assert idp.requests("/token") == []


# --------------------------------------------------------------------------- PlainPrompt


def test_plain_prompt_shows_uri_and_code_even_with_a_complete_link(
    capsys: pytest.CaptureFixture[str]
) -> None:
    code = DeviceCode(DEVICE_CODE, "WDJB-MJHT", "https://idp.example/device",
                      "https://idp.example/device?user_code=WDJB-MJHT", 600.0, 5.0)
    waits: list[float] = []
    prompt = PlainPrompt(sleep=waits.append)
    prompt.show(code)
    prompt.wait(5.0, 0.0)
    prompt.close(True)
    out, err = capsys.readouterr()
    assert out == ""
    assert "open https://idp.example/device and enter the code: WDJB-MJHT" in err
    assert "https://idp.example/device?user_code=WDJB-MJHT" in err
    assert "10:00 min" in err
    assert DEVICE_CODE not in err
    assert "\x1b[" not in err
    assert waits == [5.0]


def test_plain_prompt_opens_the_complete_link_when_allowed(
    capsys: pytest.CaptureFixture[str]
) -> None:
    opened: list[str] = []
    code = DeviceCode(DEVICE_CODE, "WDJB-MJHT", "https://idp.example/device",
                      "https://idp.example/device?user_code=WDJB-MJHT", 600.0, 5.0)
    prompt = PlainPrompt(sleep=lambda s: None, opener=lambda url: opened.append(url) or True)
    prompt.show(code)
    try:
        # the browser gets a one-shot local address that redirects once to the link
        [start] = opened
        assert start.startswith("http://127.0.0.1:") and "/start/" in start
        host, _, path = start.removeprefix("http://").partition("/")
        conn = http.client.HTTPConnection(host, timeout=5)
        conn.request("GET", "/" + path)
        answer = conn.getresponse()
        assert answer.status == 303
        assert answer.getheader("Location") == "https://idp.example/device?user_code=WDJB-MJHT"
        prompt.wait(0.0, 0.0)  # fetched once: the login goes on
    finally:
        prompt.close(False)
    assert "Opened your browser" in capsys.readouterr().err


# --------------------------------------------------------------------------- the command


@pytest.mark.parametrize("error, reason", [
    ("access_denied", "the request was denied"),
    ("expired_token", "the device code expired before it was approved"),
    ("invalid_grant", "the device code is no longer valid"),
])
def test_command_reports_final_errors_and_stores_nothing(
    run_cli: Callable[..., CliResult], idp: IdP, fake_device_prompt: list[float], error: str,
    reason: str, isolated_environment: Path,
) -> None:
    idp.discovery()
    script(idp, device_answer(), pending(), pending(error))
    result = run_cli("auth", "--authority", idp.issuer, "--client-id", "public")
    assert result.code == 4, result
    assert (f"faasauth: login failed: {error}: say {error}\nhint: {reason}; run: faasauth auth "
            f"--authority {idp.issuer} --client-id public\n") in result.err
    assert "enter the code: WDJB-MJHT" in result.err
    assert result.out == ""
    assert fake_device_prompt == [5.0, 5.0]
    assert stored_files(isolated_environment) == {}


def test_command_device_login_is_stored(
    run_cli: Callable[..., CliResult], idp: IdP, fake_device_prompt: list[float],
    isolated_environment: Path,
) -> None:
    idp.discovery()
    script(idp, device_answer(verification_uri_complete="https://idp.example/device?c=1"),
           pending(), TOKENS)
    result = run_cli("auth", "--authority", idp.issuer + "/", "--client-id", "public",
                     "--scope", "openid offline_access groups")
    assert result.code == 0, result.err
    assert result.out == ""
    assert "https://idp.example/device and enter the code: WDJB-MJHT" in result.err
    assert "https://idp.example/device?c=1" in result.err
    assert "Logged in to http://127.0.0.1:8080 as alice" in result.err
    entry = stored_login_entry(isolated_environment)
    assert entry["grant"] == "device" and entry["auth_method"] == "none"
    assert entry["authority"] == idp.issuer  # trailing slash dropped
    assert entry["scope"] == "openid offline_access groups"
    assert entry["id_token"] == ID_TOKEN and entry["refresh_token"] == "rt-0123456789"
    assert entry["token_endpoint"] == idp.token_url
    assert idp.form(idp.requests("/device")[0])["scope"] == "openid offline_access groups"


def test_command_interrupt_exits_130_and_stores_nothing(
    run_cli: Callable[..., CliResult], idp: IdP, monkeypatch: pytest.MonkeyPatch,
    isolated_environment: Path,
) -> None:
    from faasauth.cli import device_prompt

    def interrupt(seconds: float) -> None:
        raise KeyboardInterrupt

    monkeypatch.setattr(device_prompt, "make_prompt",
                        lambda no_browser, env, **_: PlainPrompt(sleep=interrupt))
    idp.discovery()
    script(idp, device_answer())
    result = run_cli("auth", "--authority", idp.issuer, "--client-id", "public")
    assert result.code == 130
    assert "Traceback" not in result.err
    assert stored_files(isolated_environment) == {}
    assert idp.requests("/token") == []
