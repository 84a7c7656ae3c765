"""faas-cli invoke parity: headers, query, method, content type, signing, bodies, exit codes."""

from __future__ import annotations

import gzip
import hashlib
import hmac
from pathlib import Path
from urllib.parse import parse_qsl

import pytest

from .fake_gateway import FakeGateway

ALL_BYTES = bytes(range(256))


@pytest.fixture
def echo(gateway: FakeGateway) -> FakeGateway:
    gateway.add("echo", protected=False)
    return gateway


def test_headers_repeat_and_keep_their_values(echo: FakeGateway, run_cli) -> None:
    result = run_cli("echo", "-H", "X-A: 1", "-H", "X-A: 2", "-H", "X-B:  v=w: z ")
    assert result.code == 0 and result.err == ""
    call = echo.requests[0]
    assert call.header_values("X-A") == ["1", "2"]
    assert call.header("X-B") == "v=w: z"


def test_old_key_value_header_form_still_works(echo: FakeGateway, run_cli) -> None:
    result = run_cli("echo", "-H", "X-Old=1")
    assert result.code == 0
    assert echo.requests[0].header("X-Old") == "1"
    assert "deprecated" in result.err


@pytest.mark.parametrize("bad", ["nonsense", ": value", "=value", "bad name: x"])
def test_malformed_header_is_a_usage_error(echo: FakeGateway, run_cli, bad: str) -> None:
    result = run_cli("echo", "-H", bad)
    assert result.code == 2 and "invalid header" in result.err
    assert echo.requests == []


def test_query_parameters_in_order_and_encoded(echo: FakeGateway, run_cli) -> None:
    result = run_cli("echo", "--query", "a=1", "--query", "b=two words&x", "--query", "a=3")
    assert result.code == 0
    # Grouped by key, values in the order given: as Go's url.Values.Encode for these keys.
    assert parse_qsl(echo.requests[0].query) == [("a", "1"), ("a", "3"), ("b", "two words&x")]


@pytest.mark.parametrize("bad", ["novalue", "=1"])
def test_malformed_query_is_a_usage_error(echo: FakeGateway, run_cli, bad: str) -> None:
    assert run_cli("echo", "--query", bad).code == 2
    assert echo.requests == []


@pytest.mark.parametrize("method", ["GET", "post", "PUT", "Patch", "DELETE"])
def test_methods(echo: FakeGateway, run_cli, method: str) -> None:
    result = run_cli("echo", "-m", method, input=b"data")
    assert result.code == 0, result.err
    assert echo.requests[0].method == method.upper()
    assert echo.requests[0].body == b"data"


@pytest.mark.parametrize("method", ["TRACE", "HEAD", "get2"])
def test_invalid_method_is_exit_2_and_sends_nothing(echo: FakeGateway, run_cli, method) -> None:
    result = run_cli("echo", "--method", method)
    assert result.code == 2
    assert result.err.splitlines() == [
        f"faasauth: invalid value for '-m' / '--method': {method!r} is not one of GET, POST, "
        "PUT, PATCH or DELETE", "hint: see 'faasauth invoke --help'"]
    assert echo.requests == []


def test_get_without_input_sends_no_body(echo: FakeGateway, run_cli) -> None:
    result = run_cli("echo", "-m", "GET")
    assert result.code == 0
    call = echo.requests[0]
    assert call.header("Content-Length") is None and call.header("Transfer-Encoding") is None


def test_post_without_input_says_length_0(echo: FakeGateway, run_cli) -> None:
    assert run_cli("echo").code == 0
    assert echo.requests[0].header("Content-Length") == "0"


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        ([], ["text/plain"]),
        (["--content-type", "application/json"], ["application/json"]),
        (["-H", "Content-Type: image/png"], ["image/png"]),
        (["-H", "content-type: image/png", "--content-type", "text/csv"], ["text/csv"]),
    ],
)
def test_content_type(echo: FakeGateway, run_cli, args: list[str], expected) -> None:
    assert run_cli("echo", *args).code == 0
    assert echo.requests[0].header_values("Content-Type") == expected


def test_user_agent(echo: FakeGateway, run_cli) -> None:
    assert run_cli("echo").code == 0
    assert echo.requests[0].header("User-Agent").startswith("faasauth/")
    assert run_cli("echo", "-H", "User-Agent: mine/1").code == 0
    assert echo.requests[1].header_values("User-Agent") == ["mine/1"]


def _signature(body: bytes, key: bytes) -> str:
    return "sha256=" + hmac.new(key, body, hashlib.sha256).hexdigest()


def test_sign_with_key(echo: FakeGateway, run_cli) -> None:
    body = ALL_BYTES * 10
    result = run_cli("echo", "--sign", "X-Hub-Signature", "--key", "s3cret", input=body)
    assert result.code == 0
    assert echo.requests[0].header("X-Hub-Signature") == _signature(body, b"s3cret")
    assert "s3cret" not in result.err


def test_sign_with_key_from_env_and_file(
    echo: FakeGateway, run_cli, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("FAASAUTH_SIGN_KEY", "from-env")
    assert run_cli("echo", "--sign", "X-Sig", input=b"abc").code == 0
    assert echo.requests[0].header("X-Sig") == _signature(b"abc", b"from-env")
    key_file = tmp_path / "key"
    key_file.write_bytes(b"from-file\n")
    assert run_cli("echo", "--sign", "X-Sig", "--key-file", str(key_file), input=b"abc").code == 0
    assert echo.requests[1].header("X-Sig") == _signature(b"abc", b"from-file")


def test_sign_survives_the_retry(gateway: FakeGateway, run_cli) -> None:
    gateway.add("env")
    body = b"x" * (3 * 1024 * 1024 + 5)  # spooled to disk
    result = run_cli("env", "--sign", "X-Sig", "--key", "k", "-v", input=body)
    assert result.code == 0
    probe, retry = gateway.calls()
    assert probe.header("X-Sig") == retry.header("X-Sig") == _signature(body, b"k")
    assert probe.body == retry.body == body
    assert probe.header("Content-Length") == str(len(body))  # known once loaded
    assert "k" not in [line.split(": ", 1)[-1] for line in result.err.splitlines()]


@pytest.mark.parametrize(
    "args",
    [["--sign", "X-Sig"], ["--key", "k"], ["--key-file", "f"],
     ["--sign", "X-Sig", "--key", "k", "--key-file", "f"]],
)
def test_sign_and_key_go_together(echo: FakeGateway, run_cli, args: list[str]) -> None:
    result = run_cli("echo", *args)
    assert result.code == 2
    assert echo.requests == []


@pytest.mark.parametrize("size", [256, 1024 * 1024, 1024 * 1024 + 1, 5 * 1024 * 1024 + 77])
def test_binary_bodies_both_ways_identical_after_retry(
    gateway: FakeGateway, run_cli, size: int
) -> None:
    gateway.add("env")
    body = (ALL_BYTES * (size // 256 + 1))[:size]
    result = run_cli("env", input=body)
    assert result.code == 0, result.err
    assert result.out == body
    probe, retry = gateway.calls()
    assert probe.body == retry.body == body
    # Small bodies go with a Content-Length; a larger stream is chunked the first time and
    # sent from the spool, with its length known, on the retry.
    assert probe.chunked == (size > 1024 * 1024)
    assert not retry.chunked and retry.header("Content-Length") == str(size)


def test_function_rejecting_before_reading_a_large_body(gateway: FakeGateway, run_cli) -> None:
    gateway.add("env", reject_early=True)
    body = (ALL_BYTES * 40000)[: 8 * 1024 * 1024]
    result = run_cli("env", input=body)
    assert result.code == 0, result.err
    assert result.out == body
    assert gateway.summary()[-1] == "POST /function/env 200 +token"
    assert gateway.calls()[-1].body == body


def test_non_2xx_function_answer_goes_to_stdout_exit_1(gateway: FakeGateway, run_cli) -> None:
    gateway.add("fail", protected=False, status=500, body=b"boom\x00\xff")
    result = run_cli("fail")
    assert result.code == 1
    assert result.out == b"boom\x00\xff"
    assert result.err == "faasauth: openfaas-fn:fail answered 500 Internal Server Error\n"


def test_unknown_function_is_exit_1(gateway: FakeGateway, run_cli) -> None:
    """The gateway's own 404 is a message on stderr (a deliberate difference: faas-cli
    prints it on stdout); see test_invoke_auth for its wording."""
    result = run_cli("ghost")
    assert result.code == 1 and result.out == b""
    assert result.err.startswith("faasauth: no function ghost in namespace openfaas-fn at ")


def test_gateway_trouble_is_exit_3(gateway: FakeGateway, run_cli) -> None:
    gateway.add("busy", protected=False, status=503, body=b"try later")
    result = run_cli("busy")
    assert result.code == 3 and result.out == b"try later"
    gateway.add("gone", protected=False, status=500, body=b"Can't reach service for: gone.\n",
                headers={"X-OpenFaaS-Internal": "proxy"})
    result = run_cli("gone")
    assert result.code == 3
    assert result.out == b""
    assert "the gateway answered 500 Internal Server Error: Can't reach service for: gone." in (
        result.err
    )


def test_unreachable_gateway_is_exit_3(run_cli, monkeypatch: pytest.MonkeyPatch) -> None:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    result = run_cli("env", "-g", f"http://127.0.0.1:{port}")
    assert result.code == 3
    assert "cannot connect" in result.err


def test_timeout_is_exit_3(gateway: FakeGateway, run_cli) -> None:
    gateway.add("slow", protected=False, delay=1.0)
    result = run_cli("slow", "--timeout", "0.2")
    assert result.code == 3
    assert "timed out after 0.2s" in result.err


def test_compressed_answers(gateway: FakeGateway, run_cli) -> None:
    packed = gzip.compress(b"plain text")
    gateway.add("gz", protected=False, body=packed, headers={"Content-Encoding": "gzip"})
    assert run_cli("gz").out == b"plain text"  # as Go's transport: it asked, it decodes
    assert run_cli("gz", "-H", "Accept-Encoding: gzip").out == packed  # the caller asked


def test_stdout_carries_only_the_body_even_verbose(gateway: FakeGateway, run_cli) -> None:
    gateway.add("env")
    result = run_cli("env", "-v", input=ALL_BYTES)
    assert result.code == 0
    assert result.out == ALL_BYTES
    assert "> POST" in result.err and "authorization: Bearer <redacted>" in result.err
    token = next(iter(gateway.issued))
    assert token not in result.err


def test_help_has_an_example(run_cli) -> None:
    result = run_cli("--help")
    assert result.code == 0
    assert b"Example" in result.out and b"--sign" in result.out


@pytest.mark.parametrize("empty", ["X-Empty:", "X-Empty:   ", "X-Empty="])
def test_a_header_with_an_empty_value_is_refused_as_faas_cli_does(
    echo: FakeGateway, run_cli, empty: str
) -> None:
    result = run_cli("echo", "-H", empty)
    assert (result.code, result.err) == (
        2, "faasauth: invalid header 'X-Empty': its value is empty; use -H 'Key: Value'\n")
    assert echo.requests == []


def test_regex_picks_the_stack_namespace_as_faas_cli_does(echo: FakeGateway, run_cli) -> None:
    echo.add("echo", namespace="dev", protected=False)
    Path("stack.yml").write_text(
        "provider:\n  name: openfaas\nfunctions:\n  echo:\n    namespace: dev\n"
        "  other:\n    namespace: prod\n")
    assert run_cli("echo", input=b"x").code == 0
    assert run_cli("echo", "--regex", "^oth", input=b"x").code == 0  # echo filtered out
    assert [r.path for r in echo.requests] == ["/function/echo.dev", "/function/echo"]


@pytest.mark.parametrize(
    ("args", "warned"),
    [
        (["-H", "Content-Type: image/png", "--content-type", "text/csv"], True),
        (["-H", "content-type: TEXT/CSV", "--content-type", "text/csv"], False),
        (["--content-type", "text/csv"], False),
        (["-H", "Content-Type: image/png"], False),
    ],
)
def test_content_type_over_a_header_warns_when_they_differ(
    echo: FakeGateway, run_cli, args: list[str], warned: bool
) -> None:
    result = run_cli("echo", *args)
    assert result.code == 0
    expected = ("faasauth: warning: --content-type text/csv wins over -H 'Content-Type: "
                "image/png'; give one of them\n") if warned else ""
    assert result.err == expected
