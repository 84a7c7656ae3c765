"""The function side: the watchdog's 401/403 answers, byte for byte, and its permission rules."""

from __future__ import annotations

import base64
import json
import socket
from collections.abc import Callable
from urllib.parse import urlsplit

import httpx
import pytest

from faasauth.sandbox import Sandbox
from faasauth.sandbox.gojwt import GoError, decode_segment
from faasauth.sandbox.keys import SigningKey
from faasauth.sandbox.watchdog import is_authorized
from sandbox.helpers import FakeClock

CHALLENGE = "Bearer realm=IAM function invoke"
PARSE = "failed to parse JWT token: "
SEGMENTS = PARSE + "token is malformed: token contains an invalid number of segments\n"
KEYFUNC = PARSE + "token is unverifiable: error while executing keyfunc: "


def call(
    client: httpx.Client, sb: Sandbox, name: str, authorization: str | None = None
) -> httpx.Response:
    headers = {"Authorization": authorization} if authorization is not None else {}
    return client.post(f"{sb.gateway_url}/function/{name}", content=b"hi", headers=headers)


def assert_401(answer: httpx.Response, body: str) -> None:
    assert answer.status_code == 401
    assert answer.headers["WWW-Authenticate"] == CHALLENGE
    assert answer.headers["X-OpenFaaS-Internal"] == "faas-middleware"
    assert answer.headers["Content-Type"] == "text/plain; charset=utf-8"
    assert answer.headers["X-Content-Type-Options"] == "nosniff"
    assert answer.text == body


def gateway_kid(client: httpx.Client, sb: Sandbox) -> str:
    return str(client.get(f"{sb.gateway_url}/.well-known/jwks.json").json()["keys"][0]["kid"])


def raw_request(url: str, request: bytes) -> bytes:
    parts = urlsplit(url)
    with socket.create_connection((parts.hostname, parts.port), timeout=5) as conn:
        conn.sendall(request)
        data = b""
        while chunk := conn.recv(65536):
            data += chunk
    return data


def test_missing_bearer_is_the_exact_watchdog_answer(sb: Sandbox) -> None:
    raw = raw_request(
        sb.gateway_url,
        b"POST /function/echo-auth HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\n"
        b"Connection: close\r\n\r\nhi",
    )
    head, _, body = raw.partition(b"\r\n\r\n")
    lines = head.split(b"\r\n")
    assert lines[0] == b"HTTP/1.1 401 Unauthorized"
    assert b"Www-Authenticate: Bearer realm=IAM function invoke" in lines  # Go's canonical names
    assert b"X-Openfaas-Internal: faas-middleware" in lines
    assert b"Content-Type: text/plain; charset=utf-8" in lines
    assert b"Content-Length: 47" in lines
    assert body == b"Bearer must be present in Authorization header\n"


@pytest.mark.parametrize("authorization", [None, "", "Bearer"])
def test_no_token_at_all(sb: Sandbox, client: httpx.Client, authorization: str | None) -> None:
    answer = call(client, sb, "echo-auth", authorization)
    if authorization == "Bearer":  # what Go sees of "Bearer ": not the prefix "Bearer ", so a token
        assert_401(
            answer,
            SEGMENTS,
        )
    else:
        assert_401(answer, "Bearer must be present in Authorization header\n")


def test_malformed_token(sb: Sandbox, client: httpx.Client) -> None:
    answer = call(client, sb, "echo-auth", "Bearer not-a-jwt")
    assert_401(
        answer,
        SEGMENTS,
    )


def test_lower_case_scheme_is_not_stripped_by_the_released_watchdog(
    sb: Sandbox, client: httpx.Client
) -> None:
    token = sb.issue_function_token(["*"])
    answer = call(client, sb, "echo-auth", f"bearer {token}")
    assert_401(
        answer,
        "failed to parse JWT token: token is malformed: could not base64 decode header: "
        "illegal base64 data at input byte 6\n",
    )


def test_expired_token(sb: Sandbox, client: httpx.Client) -> None:
    token = sb.issue_function_token(["*"], expires_in=-30)
    assert_401(
        call(client, sb, "echo-auth", f"Bearer {token}"),
        "failed to parse JWT token: token has invalid claims: token is expired\n",
    )


def test_wrong_issuer(sb: Sandbox, client: httpx.Client) -> None:
    token = sb.issue_function_token(["*"], iss="https://gateway.example.com")
    assert_401(
        call(client, sb, "echo-auth", f"Bearer {token}"),
        "failed to parse JWT token: token has invalid claims: token has invalid issuer\n",
    )


def test_every_failed_claim_is_listed_one_per_line(sb: Sandbox, client: httpx.Client) -> None:
    token = sb.issue_function_token(
        ["*"], expires_in=-30, aud=["someone-else"], iss="https://evil.example"
    )
    assert_401(
        call(client, sb, "echo-auth", f"Bearer {token}"),
        "failed to parse JWT token: token has invalid claims: token is expired\n"
        "token has invalid audience\ntoken has invalid issuer\n",
    )


def test_missing_audience(sb: Sandbox, client: httpx.Client) -> None:
    token = sb.issue_function_token(["*"], aud=[])
    assert_401(
        call(client, sb, "echo-auth", f"Bearer {token}"),
        "failed to parse JWT token: token has invalid claims: token is missing required claim: "
        "aud claim is required\n",
    )


def test_wrong_signature(sb: Sandbox, client: httpx.Client) -> None:
    rogue = SigningKey.generate()
    now = int(sb.clock())
    claims = {
        "iss": sb.gateway_url,
        "aud": [sb.gateway_url],
        "sub": "fed:x",
        "iat": now,
        "exp": now + 60,
        "function": {"permissions": ["*"]},
    }
    token = rogue.sign(claims, headers={"kid": gateway_kid(client, sb)})
    assert_401(
        call(client, sb, "echo-auth", f"Bearer {token}"),
        "failed to parse JWT token: token signature is invalid: crypto/ecdsa: verification error\n",
    )


def test_an_idp_token_is_not_a_function_token(sb: Sandbox, client: httpx.Client) -> None:
    token = sb.issue_idp_token("alice")
    kid = json.loads(base64.urlsafe_b64decode(token.split(".")[0] + "=="))["kid"]
    assert_401(
        call(client, sb, "echo-auth", f"Bearer {token}"),
        f"{KEYFUNC}invalid kid: {kid}\n",
    )


def test_token_without_kid(sb: Sandbox, client: httpx.Client) -> None:
    token = sb.issue_function_token(["*"])
    header = (
        base64.urlsafe_b64encode(json.dumps({"alg": "ES256", "typ": "JWT"}).encode())
        .rstrip(b"=")
        .decode()
    )
    token = ".".join([header, *token.split(".")[1:]])
    assert_401(
        call(client, sb, "echo-auth", f"Bearer {token}"),
        f"{KEYFUNC}invalid kid: <nil>\n",
    )


def test_truncated_token(sb: Sandbox, client: httpx.Client) -> None:
    token = sb.issue_function_token(["*"])
    short = token[:-1]
    position = len(short.split(".")[2]) - 1
    assert_401(
        call(client, sb, "echo-auth", f"Bearer {short}"),
        f"failed to parse JWT token: token is malformed: could not base64 decode signature: "
        f"illegal base64 data at input byte {position}\n",
    )


def test_expiry_and_not_before_have_one_second_of_leeway(
    make_sandbox: Callable[..., Sandbox], client: httpx.Client, clock: FakeClock
) -> None:
    sb = make_sandbox(clock=clock)
    now = int(clock())
    clock.now = now
    on_time = sb.issue_function_token(["*"], exp=now, nbf=now + 0.5)
    clock.advance(0.9)
    assert call(client, sb, "echo-auth", f"Bearer {on_time}").status_code == 200
    clock.advance(0.1)
    assert_401(
        call(client, sb, "echo-auth", f"Bearer {on_time}"),
        "failed to parse JWT token: token has invalid claims: token is expired\n",
    )
    early = sb.issue_function_token(["*"], nbf=clock() + 1.5)
    assert_401(
        call(client, sb, "echo-auth", f"Bearer {early}"),
        "failed to parse JWT token: token has invalid claims: token is not valid yet\n",
    )


def test_insufficient_permissions(sb: Sandbox, client: httpx.Client) -> None:
    token = sb.issue_function_token(["openfaas-fn:env-auth"])
    answer = call(client, sb, "echo-auth", f"Bearer {token}")
    assert answer.status_code == 403
    assert answer.text == "insufficient permissions\n"
    assert "WWW-Authenticate" not in answer.headers
    assert answer.headers["X-OpenFaaS-Internal"] == "faas-middleware"
    assert answer.headers["Content-Type"] == "text/plain; charset=utf-8"


def test_empty_permissions_deny(sb: Sandbox, client: httpx.Client) -> None:
    token = sb.issue_function_token([])
    assert call(client, sb, "echo-auth", f"Bearer {token}").status_code == 403


def test_permission_is_an_unanchored_pattern_in_the_released_watchdog(
    sb: Sandbox, client: httpx.Client
) -> None:
    token = sb.issue_function_token(["openfaas-fn:echo"])  # also matches openfaas-fn:echo-auth
    answer = call(client, sb, "echo-auth", f"Bearer {token}")
    assert answer.status_code == 200 and answer.text == "hi"


def test_audience_narrows_the_token(sb: Sandbox, client: httpx.Client) -> None:
    token = sb.issue_function_token(["openfaas-fn:*"], ["openfaas-fn:env-auth"])
    assert call(client, sb, "env-auth", f"Bearer {token}").status_code == 200
    assert call(client, sb, "echo-auth", f"Bearer {token}").status_code == 403


def test_open_functions_ignore_tokens(sb: Sandbox, client: httpx.Client) -> None:
    assert call(client, sb, "echo", "Bearer garbage").status_code == 200


def test_watchdog_health_is_not_protected(sb: Sandbox, client: httpx.Client) -> None:
    for path in ("/_/health", "/_/ready"):
        answer = client.get(f"{sb.gateway_url}/function/echo-auth{path}")
        assert answer.status_code == 200 and answer.text == "OK"


# faas-middleware's own table for isAuthorized (auth/jwt_authenticator_test.go)
AUTHORIZE_CASES = [
    (False, [], None, "staging", "env"),
    (True, ["staging:env"], None, "staging", "env"),
    (True, ["*"], None, "staging", "figlet"),
    (True, ["dev:*"], None, "dev", "figlet"),
    (True, ["*:env"], None, "openfaas-fn", "env"),
    (True, ["openfaas-fn:env"], None, "openfaas-fn", "env"),
    (False, ["openfaas-fn:env"], None, "openfaas-fn", "figlet"),
    (False, ["openfaas-fn:*"], None, "staging", "env"),
    (False, ["*:figlet"], None, "staging", "env"),
    (True, ["openfaas-fn:*", "staging:env"], None, "staging", "env"),
    (False, ["openfaas-fn:figlet", "staging-*:env"], None, "staging", "env"),
    (True, ["openfaas-fn:*"], ["openfaas-fn:env"], "openfaas-fn", "env"),
    (False, ["openfaas-fn:*"], ["openfaas-fn:env"], "openfaas-fn", "figlet"),
    (True, ["openfaas-fn:figlet"], ["openfaas-fn:*"], "openfaas-fn", "figlet"),
    (False, ["openfaas-fn:figlet", "dev:env"], ["openfaas-fn:*"], "dev", "env"),
    (False, ["openfaas-fn:*", "dev:*"], ["*:env"], "dev", "figlet"),
    (True, ["openfaas-fn:*", "dev:*"], ["*:env"], "openfaas-fn", "env"),
]


@pytest.mark.parametrize("anchored", [False, True])
@pytest.mark.parametrize("want, permissions, audience, namespace, name", AUTHORIZE_CASES)
def test_permission_table(
    want: bool,
    permissions: list[str],
    audience: list[str] | None,
    namespace: str,
    name: str,
    anchored: bool,
) -> None:
    claims = {
        "function": {"permissions": permissions, **({"audience": audience} if audience else {})}
    }
    assert is_authorized(claims, namespace, name, anchored=anchored) is want


@pytest.mark.parametrize(
    "pattern, ref, unanchored, anchored",
    [
        ("dev:env", "dev:env2", True, False),
        ("dev:env", "xdev:env", True, False),
        ("dev:*", "xdev:fn", True, False),
        ("ns:fn(x", "ns:fn(x", True, True),  # regular expression characters are literal
        ("ns:f.n", "ns:fxn", False, False),
        ("ns:*fn", "ns:myfn", True, True),
    ],
)
def test_wildcard_patterns(pattern: str, ref: str, unanchored: bool, anchored: bool) -> None:
    claims = {"function": {"permissions": [pattern]}}
    namespace, name = ref.split(":")
    assert is_authorized(claims, namespace, name, anchored=False) is unanchored
    assert is_authorized(claims, namespace, name, anchored=True) is anchored


def test_hardened_watchdog(make_sandbox: Callable[..., Sandbox], client: httpx.Client) -> None:
    sb = make_sandbox(watchdog="hardened")
    token = sb.issue_function_token(["openfaas-fn:echo"])
    assert call(client, sb, "echo", "").status_code == 200
    assert call(client, sb, "echo-auth", f"Bearer {token}").status_code == 403  # anchored
    good = sb.issue_function_token(["openfaas-fn:echo-auth"])
    assert (
        call(client, sb, "echo-auth", f"bearer {good}").status_code == 200
    )  # scheme case-insensitive
    assert_401(
        call(client, sb, "echo-auth", "Basic dXNlcjpwYXNz"),
        "Bearer must be present in Authorization header\n",
    )
    expired = sb.issue_function_token(["*"], expires_in=-30)
    assert_401(call(client, sb, "echo-auth", f"Bearer {expired}"), "failed to verify JWT token\n")


@pytest.mark.parametrize(
    "segment, error",
    [
        ("abc$", "illegal base64 data at input byte 3"),
        ("abcde", "illegal base64 data at input byte 4"),
        ("ab=", "illegal base64 data at input byte 2"),
        ("a b", "illegal base64 data at input byte 1"),
    ],
)
def test_go_base64_errors(segment: str, error: str) -> None:
    with pytest.raises(GoError) as raised:
        decode_segment(segment)
    assert str(raised.value) == error


def test_go_base64_accepts_what_go_accepts() -> None:
    assert decode_segment("aGk") == b"hi"
    assert decode_segment("aG\nk") == b"hi"
