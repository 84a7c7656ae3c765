"""`faasauth exchange` against a local gateway: the request, outputs, cache, errors, transport."""

from __future__ import annotations

import datetime
import ipaddress
import json
import socket
import ssl
import time
from pathlib import Path
from typing import Any, Iterator

import pytest

from faasauth.runtime import Runtime
from faasauth.store.cache import function_token_key
from faasauth.flows.exchange import obtain_function_token
from faasauth.config.settings import resolve_settings
from faasauth.flows.subject import SubjectSource
from foundation.conftest import Gateway, make_jwt, snapshot, store_login

SUBJECT = "opaque-subject-token-0123456789"  # opaque: not caught by JWT-shape redaction
GRANT = "urn:ietf:params:oauth:grant-type:token-exchange"


@pytest.fixture
def subject(monkeypatch: pytest.MonkeyPatch) -> str:
    monkeypatch.setenv("FAASAUTH_SUBJECT_TOKEN", SUBJECT)
    return SUBJECT


def assert_no_secret(result: Any, *secrets: str) -> None:
    for secret in secrets:
        assert secret not in result.err
        assert secret not in result.out


# ---------------------------------------------------------------------------- the request


@pytest.mark.parametrize(
    ("option", "urn"),
    [
        (None, "urn:ietf:params:oauth:token-type:id_token"),
        ("id_token", "urn:ietf:params:oauth:token-type:id_token"),
        ("access_token", "urn:ietf:params:oauth:token-type:access_token"),
        ("jwt", "urn:ietf:params:oauth:token-type:jwt"),
    ],
)
def test_the_exact_form_sent(run_cli, gateway: Gateway, subject: str, option: str | None, urn: str) -> None:
    args = ["exchange", "-g", gateway.url, "-a", "dev:b", "-a", "dev:a", "--audience", "dev:b"]
    if option:
        args += ["--subject-token-type", option]
    result = run_cli(*args)
    assert result.code == 0, result.err
    (request,) = gateway.requests
    assert request.method == "POST" and request.path == "/oauth/token"
    assert request.mimetype == "application/x-www-form-urlencoded"
    assert "authorization" not in {k.lower() for k in request.headers.keys()}
    form = request.form.to_dict(flat=False)
    audiences = form.pop("audience")
    assert form == {
        "grant_type": [GRANT],
        "subject_token": [subject],
        "subject_token_type": [urn],
        "scope": ["function"],
    }
    assert sorted(audiences) == ["dev:a", "dev:b"]  # repeated parameters, one per function


def test_no_audience_sends_no_audience(run_cli, gateway: Gateway, subject: str) -> None:
    assert run_cli("exchange", "-g", gateway.url).code == 0
    assert "audience" not in gateway.forms[0]


@pytest.mark.parametrize("bad", ["figlet", "dev:", ":figlet", "a:b:c", "dev: fn"])
def test_bad_audience_is_exit_2_before_any_request(run_cli, gateway: Gateway, subject: str, bad: str) -> None:
    result = run_cli("exchange", "-g", gateway.url, "-a", bad)
    assert result.code == 2
    assert "invalid audience" in result.err and "NAMESPACE:NAME" in result.err
    assert gateway.count == 0


@pytest.mark.parametrize(
    "args",
    [["-o", "yaml"], ["--subject-token-type", "saml"], ["--min-ttl", "-1"], ["--no-such-flag"]],
)
def test_bad_options_are_exit_2(run_cli, gateway: Gateway, subject: str, args: list[str]) -> None:
    result = run_cli("exchange", "-g", gateway.url, *args)
    assert result.code == 2
    assert "Traceback" not in result.err and result.out == ""
    assert gateway.count == 0


# ---------------------------------------------------------------------------- outputs


def test_output_token_is_the_bare_token_only(run_cli, gateway: Gateway, subject: str) -> None:
    result = run_cli("exchange", "-g", gateway.url)
    assert (result.code, result.out, result.err) == (0, "fn-token-1-abcdefghijklmnop\n", "")


def test_output_header(run_cli, gateway: Gateway, subject: str) -> None:
    result = run_cli("exchange", "-g", gateway.url, "-o", "header")
    assert result.out == "Authorization: Bearer fn-token-1-abcdefghijklmnop\n"


def test_output_json(run_cli, gateway: Gateway, subject: str) -> None:
    before = time.time()
    first = run_cli("exchange", "-g", gateway.url, "-a", "dev:fn", "-o", "json")
    second = run_cli("exchange", "-g", gateway.url, "-a", "dev:fn", "--output", "json")
    data, again = json.loads(first.out), json.loads(second.out)
    assert set(data) == {
        "access_token", "token_type", "expires_in", "expires_at", "scope", "audience", "cached"
    }
    assert data["access_token"] == "fn-token-1-abcdefghijklmnop"
    assert data["token_type"] == "Bearer"
    assert data["scope"] == "function"
    assert data["audience"] == ["dev:fn"]
    assert data["cached"] is False and again["cached"] is True
    assert 295 <= data["expires_in"] <= 300
    assert int(before) + 299 <= data["expires_at"] <= time.time() + 301
    assert again["access_token"] == data["access_token"]
    assert again["expires_at"] == data["expires_at"]


# ---------------------------------------------------------------------------- the cache


def test_second_call_uses_the_cache(run_cli, gateway: Gateway, subject: str) -> None:
    first = run_cli("exchange", "-g", gateway.url, "-a", "dev:fn")
    second = run_cli("exchange", "-g", gateway.url.upper() + "/", "-a", "dev:fn")
    assert first.out == second.out == "fn-token-1-abcdefghijklmnop\n"
    assert gateway.count == 1


def test_min_ttl_and_force(run_cli, gateway: Gateway, subject: str) -> None:
    gateway.expires_in = 100
    base = ["exchange", "-g", gateway.url, "-a", "dev:fn"]
    assert run_cli(*base).out.startswith("fn-token-1-")
    assert run_cli(*base, "--min-ttl", "50").out.startswith("fn-token-1-")  # ~100 s left >= 50
    assert gateway.count == 1
    assert run_cli(*base, "--min-ttl", "150").out.startswith("fn-token-2-")  # too short: renew
    assert run_cli(*base, "--force").out.startswith("fn-token-3-")
    assert run_cli(*base).out.startswith("fn-token-3-")  # the forced token replaced the cache
    assert gateway.count == 3


def test_default_min_ttl_is_30_seconds(run_cli, gateway: Gateway, subject: str) -> None:
    gateway.expires_in = 29  # cached, but never reused under the default --min-ttl 30
    base = ["exchange", "-g", gateway.url]
    assert run_cli(*base).out.startswith("fn-token-1-")
    assert run_cli(*base).out.startswith("fn-token-2-")
    assert run_cli(*base, "--min-ttl", "20").out.startswith("fn-token-2-")


def test_cache_key_is_the_audience_set(run_cli, gateway: Gateway, subject: str) -> None:
    base = ["exchange", "-g", gateway.url]
    assert run_cli(*base, "-a", "dev:b", "-a", "dev:a").out.startswith("fn-token-1-")
    assert run_cli(*base, "-a", "dev:a", "-a", "dev:b", "-a", "dev:a").out.startswith("fn-token-1-")
    assert run_cli(*base, "-a", "dev:a").out.startswith("fn-token-2-")
    assert run_cli(*base).out.startswith("fn-token-3-")
    assert gateway.count == 3


def test_cache_key_includes_the_subject(run_cli, gateway: Gateway, monkeypatch) -> None:
    monkeypatch.setenv("FAASAUTH_SUBJECT_TOKEN", "subject-one-123456")
    assert run_cli("exchange", "-g", gateway.url).out.startswith("fn-token-1-")
    monkeypatch.setenv("FAASAUTH_SUBJECT_TOKEN", "subject-two-123456")
    assert run_cli("exchange", "-g", gateway.url).out.startswith("fn-token-2-")
    monkeypatch.setenv("FAASAUTH_SUBJECT_TOKEN", "subject-one-123456")
    assert run_cli("exchange", "-g", gateway.url).out.startswith("fn-token-1-")


def test_cache_key_includes_the_gateway() -> None:
    a = function_token_key("http://a", "login|x", ["dev:fn"])
    assert a == function_token_key("http://a", "login|x", ["dev:fn", "dev:fn"])
    assert a != function_token_key("http://b", "login|x", ["dev:fn"])
    assert a != function_token_key("http://a", "login|y", ["dev:fn"])


def test_jwt_exp_is_used_without_expires_in(run_cli, gateway: Gateway, subject: str) -> None:
    exp = int(time.time()) + 600
    token = make_jwt({"exp": exp, "sub": "fed:alice"})
    gateway.answer({"access_token": token, "token_type": "Bearer"})
    first = json.loads(run_cli("exchange", "-g", gateway.url, "-o", "json").out)
    second = json.loads(run_cli("exchange", "-g", gateway.url, "-o", "json").out)
    assert first["expires_at"] == exp and first["access_token"] == token
    assert second["cached"] is True
    assert gateway.count == 1


def test_expires_in_as_a_string(run_cli, gateway: Gateway, subject: str) -> None:
    gateway.expires_in = "120"
    data = json.loads(run_cli("exchange", "-g", gateway.url, "-o", "json").out)
    assert 115 <= data["expires_in"] <= 120


def test_opaque_token_without_expiry_is_used_once_not_cached(
    run_cli, gateway: Gateway, subject: str, home: Path
) -> None:
    gateway.expires_in = None
    first = json.loads(run_cli("exchange", "-g", gateway.url, "-o", "json").out)
    assert first["expires_in"] is None and first["expires_at"] is None
    assert run_cli("exchange", "-g", gateway.url).out.startswith("fn-token-2-")
    assert gateway.count == 2
    assert not list((home / "tokens").glob("*.json"))


class FakeClock:
    def __init__(self) -> None:
        self.now = 1_000_000.0

    def __call__(self) -> float:
        return self.now


def test_expiry_with_a_fake_clock(gateway: Gateway) -> None:
    clock = FakeClock()
    ctx = Runtime(resolve_settings(gateway=gateway.url), clock=clock)
    source = SubjectSource("test", "token|abc", lambda: SUBJECT)
    try:
        first = obtain_function_token(ctx, source, ["dev:fn"], min_ttl=30)
        assert first.token.expires_at == clock.now + 300 and not first.cached
        clock.now += 270  # exactly 30 s left: still good enough
        assert obtain_function_token(ctx, source, ["dev:fn"], min_ttl=30).cached
        clock.now += 0.5  # 29.5 s left
        again = obtain_function_token(ctx, source, ["dev:fn"], min_ttl=30)
        assert not again.cached and again.token.access_token.startswith("fn-token-2-")
        # a token the function just refused is never handed out again from the cache
        rejected = obtain_function_token(ctx, source, ["dev:fn"], reject=again.token.access_token)
        assert rejected.token.access_token.startswith("fn-token-3-")
    finally:
        ctx.close()
    assert gateway.count == 3


def test_refused_exchange_leaves_stored_credentials_alone(
    run_cli, gateway: Gateway, subject: str, home: Path
) -> None:
    assert run_cli("exchange", "-g", gateway.url, "-a", "dev:fn").code == 0
    store_login(home, gateway.url, "stored-id-token-xyz")
    before = snapshot(home)
    gateway.answer({"error": "invalid_request"}, 400)
    assert run_cli("exchange", "-g", gateway.url, "-a", "dev:fn", "--force").code == 4
    gateway.answer("<html>oops</html>", 502, "text/html")
    assert run_cli("exchange", "-g", gateway.url, "-a", "dev:gone").code == 3
    assert snapshot(home) == before


# ---------------------------------------------------------------------------- errors


def test_400_json_error_is_refused_exit_4(run_cli, gateway: Gateway, subject: str, home: Path) -> None:
    gateway.answer(
        {"error": "invalid_request", "error_description": "No policies found for subject: fed:bob"},
        400,
    )
    result = run_cli("exchange", "-g", gateway.url, "-a", "dev:fn")
    assert result.code == 4
    assert result.err.splitlines()[0] == (
        "faasauth: token exchange refused: invalid_request: No policies found for subject: fed:bob"
    )
    assert result.out == ""
    assert not list((home / "tokens").glob("*.json"))


def test_400_json_error_without_description(run_cli, gateway: Gateway, subject: str) -> None:
    gateway.answer({"error": "invalid_grant"}, 400)
    result = run_cli("exchange", "-g", gateway.url)
    assert result.code == 4
    assert result.err.splitlines()[0] == "faasauth: token exchange refused: invalid_grant"


@pytest.mark.parametrize("status", [401, 403])
def test_401_403_without_json_are_refused(run_cli, gateway: Gateway, subject: str, status: int) -> None:
    gateway.answer("insufficient permissions\n", status)
    result = run_cli("exchange", "-g", gateway.url)
    assert result.code == 4
    assert str(status) in result.err and "insufficient permissions" in result.err


@pytest.mark.parametrize(
    ("status", "body", "content_type"),
    [
        (401, f"invalid JWT token: {SUBJECT}\n", "text/plain"),
        (500, f"panic: bad token {SUBJECT}\n", "text/plain"),
        (400, {"error": "invalid_request", "error_description": f"bad token {SUBJECT}"}, None),
        (404, f"<html><p>no route for token {SUBJECT}</p></html>", "text/html"),
        (200, f"<html>{SUBJECT}</html>", "text/html"),
    ],
)
def test_a_body_echoing_the_subject_token_is_redacted(
    run_cli, gateway: Gateway, subject: str, status: int, body: Any, content_type: str | None
) -> None:
    gateway.answer(body, status, content_type)
    result = run_cli("exchange", "-g", gateway.url, "-v")
    assert result.code in (3, 4)
    assert "<redacted>" in result.err
    assert_no_secret(result, SUBJECT)


def test_a_jwt_subject_echoed_back_is_redacted(run_cli, gateway: Gateway, monkeypatch) -> None:
    token = make_jwt({"sub": "alice", "exp": int(time.time()) + 600})
    monkeypatch.setenv("FAASAUTH_SUBJECT_TOKEN", token)
    gateway.answer(f"invalid JWT token: {token}\n", 401)
    result = run_cli("exchange", "-g", gateway.url)
    assert result.code == 4
    assert_no_secret(result, token, token.split(".")[1])


LONG_HTML = (
    "<!DOCTYPE html>\n<html><head><title>404 Not Found</title></head>\n<body>\n"
    + "<p>lorem ipsum</p>\n" * 500
    + "</body></html>\n"
)


def test_404_html_is_exit_3_with_a_one_line_summary(run_cli, gateway: Gateway, subject: str) -> None:
    gateway.answer(LONG_HTML, 404, "text/html; charset=utf-8")
    result = run_cli("exchange", "-g", gateway.url)
    assert result.code == 3
    lines = result.err.splitlines()
    assert lines[0] == "faasauth: token exchange failed: the gateway answered 404 (text/html: <!DOCTYPE html>)"
    assert lines[1].startswith("hint: ") and "IAM" in lines[1]
    assert len(lines) == 2 and "lorem" not in result.err


def test_a_single_line_html_body_is_truncated(run_cli, gateway: Gateway, subject: str) -> None:
    gateway.answer("<html>" + "x" * 5000 + "</html>", 502, "text/html")
    result = run_cli("exchange", "-g", gateway.url)
    assert result.code == 3
    assert len(result.err) < 300 and "…" in result.err
    assert len(result.err.splitlines()) == 1


@pytest.mark.parametrize(
    ("status", "body", "content_type", "words"),
    [
        (500, "internal error\n", "text/plain", "answered 500 (text/plain: internal error)"),
        (503, {"error": "temporarily_unavailable"}, None, "answered 503"),
        (200, "<html>login page</html>", "text/html", "unexpected answer 200 (text/html"),
        (200, {"token_type": "Bearer"}, None, "the answer has no access_token"),
        (200, ["not", "a", "mapping"], None, "unexpected answer 200"),
        (200, "", "application/json", "unexpected answer 200"),
        (302, "", "text/plain", "unexpected answer 302"),
        (418, "teapot", "text/plain", "answered 418"),
    ],
)
def test_malformed_and_server_errors_are_exit_3(
    run_cli, gateway: Gateway, subject: str, status: int, body: Any, content_type: str | None,
    words: str,
) -> None:
    gateway.answer(body, status, content_type)
    result = run_cli("exchange", "-g", gateway.url)
    assert result.code == 3, result.err
    assert words in result.err
    assert result.out == "" and "Traceback" not in result.err


# ---------------------------------------------------------------------------- transport


def test_connection_refused_is_exit_3(run_cli, subject: str, unused_port: int) -> None:
    result = run_cli("exchange", "-g", f"127.0.0.1:{unused_port}")
    assert result.code == 3
    assert result.err.startswith(
        f"faasauth: token exchange (http://127.0.0.1:{unused_port}): cannot connect")
    assert result.err.splitlines()[1:] == [  # one line, and where the gateway came from
        "hint: the gateway URL came from -g; is the gateway running there?"]


def test_timeout_is_exit_3(run_cli, subject: str) -> None:
    with socket.socket() as silent:  # accepts connections (backlog), never answers
        silent.bind(("127.0.0.1", 0))
        silent.listen(8)
        port = silent.getsockname()[1]
        started = time.monotonic()
        result = run_cli("exchange", "-g", f"127.0.0.1:{port}", "--timeout", "1")
        elapsed = time.monotonic() - started
    assert result.code == 3
    assert "timed out after 1s" in result.err
    assert 0.9 <= elapsed < 5


def test_http_proxy_from_the_environment_is_used(
    run_cli, gateway: Gateway, subject: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("NO_PROXY", raising=False)
    monkeypatch.delenv("no_proxy", raising=False)
    monkeypatch.setenv("HTTP_PROXY", gateway.url)  # the fake gateway doubles as the proxy
    result = run_cli("exchange", "-g", "http://gateway.faasauth.invalid:8080")
    assert result.code == 0, result.err
    (request,) = gateway.requests
    assert request.host == "gateway.faasauth.invalid:8080"


@pytest.fixture(scope="module")
def tls_files(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "faasauth test CA")])
    now = datetime.datetime.now(datetime.timezone.utc)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(hours=1))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(
            x509.SubjectAlternativeName(
                [x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]
            ),
            critical=False,
        )
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .sign(key, hashes.SHA256())
    )
    directory = tmp_path_factory.mktemp("tls")
    cert_path, key_path = directory / "cert.pem", directory / "key.pem"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return cert_path, key_path


@pytest.fixture(scope="module")
def tls_gateway(tls_files: tuple[Path, Path]) -> Iterator[str]:
    from pytest_httpserver import HTTPServer

    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(*tls_files)
    server = HTTPServer(host="127.0.0.1", port=0, ssl_context=context)
    server.expect_request("/oauth/token", method="POST").respond_with_json(
        {"access_token": "tls-function-token-123456", "token_type": "Bearer", "expires_in": 300}
    )
    server.start()
    try:
        yield f"https://127.0.0.1:{server.port}"
    finally:
        server.stop()


def test_untrusted_certificate_is_exit_3_with_a_hint(run_cli, subject: str, tls_gateway: str) -> None:
    result = run_cli("exchange", "-g", tls_gateway)
    assert result.code == 3
    lines = result.err.splitlines()
    assert lines[0] == (f"faasauth: token exchange ({tls_gateway}): "
                        "TLS certificate verification failed")
    assert "--cacert" in lines[1] and "--tls-no-verify" in lines[1]


def test_cacert_flag_trusts_the_gateway(run_cli, subject: str, tls_gateway: str, tls_files) -> None:
    result = run_cli("exchange", "-g", tls_gateway, "--cacert", str(tls_files[0]), "--force")
    assert (result.code, result.out) == (0, "tls-function-token-123456\n"), result.err


def test_ssl_cert_file_trusts_the_gateway(
    run_cli, subject: str, tls_gateway: str, tls_files, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SSL_CERT_FILE", str(tls_files[0]))
    result = run_cli("exchange", "-g", tls_gateway, "--force")
    assert (result.code, result.out) == (0, "tls-function-token-123456\n"), result.err


def test_tls_no_verify_skips_the_check(run_cli, subject: str, tls_gateway: str) -> None:
    result = run_cli("exchange", "-g", tls_gateway, "--tls-no-verify", "--force")
    assert (result.code, result.out) == (0, "tls-function-token-123456\n"), result.err


def test_missing_cacert_is_exit_2(run_cli, subject: str, tls_gateway: str, tmp_path: Path) -> None:
    result = run_cli("exchange", "-g", tls_gateway, "--cacert", str(tmp_path / "none.pem"))
    assert result.code == 2 and "CA certificate file not found" in result.err


# ---------------------------------------------------------------------------- --verbose


@pytest.mark.parametrize("where", ["before", "after"])
def test_verbose_logs_requests_with_secrets_redacted(
    run_cli, gateway: Gateway, subject: str, where: str
) -> None:
    args = ["exchange", "-g", gateway.url, "-a", "dev:fn"]
    result = run_cli(*(["-v", *args] if where == "before" else [*args, "--verbose"]))
    assert result.code == 0
    assert result.out == "fn-token-1-abcdefghijklmnop\n"
    assert f"> POST {gateway.url}/oauth/token" in result.err
    assert "subject_token=<redacted>" in result.err
    assert f"grant_type={GRANT}" in result.err and "audience=dev:fn" in result.err
    assert "< HTTP/1.1 200" in result.err or "< HTTP/1.0 200" in result.err
    assert_no_secret(result, SUBJECT)
    assert "fn-token-1-abcdefghijklmnop" not in result.err


def test_without_verbose_nothing_is_logged(run_cli, gateway: Gateway, subject: str) -> None:
    assert run_cli("exchange", "-g", gateway.url).err == ""


def test_verbose_redacts_authorization_and_secret_fields(
    gateway: Gateway, capsys: pytest.CaptureFixture[str]
) -> None:
    from faasauth.http import SECRET_FIELDS, make_client

    gateway.server.expect_request("/echo").respond_with_data("ok")
    settings = resolve_settings(gateway=gateway.url, verbose=True)
    fields = {name: f"secret-{name}-value" for name in [
        "client_secret", "subject_token", "access_token", "id_token", "refresh_token",
        "device_code", "code_verifier", "password",
    ]}
    assert set(fields) <= SECRET_FIELDS
    with make_client(settings) as client:
        client.post(
            f"{gateway.url}/echo",
            data={**fields, "client_id": "visible-client"},
            headers={"Authorization": "Bearer secret-bearer-value", "Proxy-Authorization": "Basic c2VjcmV0"},
        )
    err = capsys.readouterr().err
    assert "client_id=visible-client" in err
    assert "> authorization: Bearer <redacted>\n" in err
    assert "> proxy-authorization: Basic <redacted>\n" in err
    assert "secret-" not in err and "c2VjcmV0" not in err
    for name in fields:
        assert f"{name}=<redacted>" in err


# ---------------------------------------------------------------------------- subject sources


def write_faas_cli_config(path: Path, entries: list[dict[str, Any]]) -> None:
    import yaml

    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(yaml.safe_dump({"auths": entries}))


def test_subject_sources_in_order(
    run_cli, gateway: Gateway, home: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import os

    token_file = tmp_path / "token.txt"
    from_file = make_jwt({"sub": "from-the-token-file"})
    token_file.write_text(f"  {from_file}  \n")
    monkeypatch.setenv("FAASAUTH_SUBJECT_TOKEN", "from-the-environment")
    store_login(home, gateway.url, "from-the-stored-login")
    write_faas_cli_config(
        Path(os.environ["OPENFAAS_CONFIG"]) / "config.yml",
        [{"gateway": gateway.url, "auth": "oauth2", "token": "from-faas-cli"}],
    )
    base = ["exchange", "-g", gateway.url, "--force"]
    seen = []
    assert run_cli(*base, "--subject-token-file", str(token_file)).code == 0
    seen.append(gateway.forms[-1]["subject_token"])
    assert run_cli(*base).code == 0
    seen.append(gateway.forms[-1]["subject_token"])
    from faasauth.store.cache import login_key
    from faasauth.store.backends import FileStore
    from faasauth.store.home import Home

    monkeypatch.delenv("FAASAUTH_SUBJECT_TOKEN")
    assert run_cli(*base).code == 0
    seen.append(gateway.forms[-1]["subject_token"])
    FileStore(Home(home)).delete(login_key(gateway.url))
    assert run_cli(*base).code == 0
    seen.append(gateway.forms[-1]["subject_token"])
    assert seen == [
        from_file, "from-the-environment", "from-the-stored-login", "from-faas-cli"
    ]


def test_token_file_dash_reads_stdin(run_cli, gateway: Gateway, monkeypatch) -> None:
    monkeypatch.setenv("FAASAUTH_SUBJECT_TOKEN", "from-the-environment")
    token = make_jwt({"sub": "from-stdin"})
    result = run_cli("exchange", "-g", gateway.url, "--subject-token-file", "-", stdin=token + "\n")
    assert result.code == 0, result.err
    assert gateway.forms[0]["subject_token"] == token


@pytest.mark.parametrize("content", [None, "", "   \n", "two tokens\n", b"\xff\xfe"])
def test_bad_token_file_is_exit_2(run_cli, gateway: Gateway, tmp_path: Path, content) -> None:
    path = tmp_path / "token"
    if content is not None:
        path.write_bytes(content if isinstance(content, bytes) else content.encode())
    result = run_cli("exchange", "-g", gateway.url, "--subject-token-file", str(path))
    assert result.code == 2, result.err
    assert "token file" in result.err and len(result.err.splitlines()) == 1
    assert gateway.count == 0


@pytest.mark.parametrize(
    ("content", "said", "hint"),
    [
        ("garbage\n", "does not hold a JWT (three base64url parts separated by dots)", None),
        ('{"count": 1, "value": "x.y.z"}', "holds GitHub's JSON answer, not the token in it",
         "hint: extract the token with `jq -r .value`"),
        ("opaque-access-token-1234567890", "does not hold a JWT (three base64url parts "
         "separated by dots)", None),
    ],
)
def test_a_subject_token_file_that_is_not_a_jwt_is_refused_here(
    run_cli, gateway: Gateway, tmp_path: Path, content: str, said: str, hint: str | None
) -> None:
    """Issue 22 item 9: checked as `auth --token-file` checks its file, not sent."""
    path = tmp_path / "subject"
    path.write_text(content)
    result = run_cli("exchange", "-g", gateway.url, "--subject-token-file", str(path))
    assert (result.code, result.out) == (2, "")
    assert result.err.splitlines() == [f"faasauth: the token file {path} {said}",
                                       *([hint] if hint else [])]
    assert gateway.count == 0


def test_an_expired_subject_token_file_is_refused_here(
    run_cli, gateway: Gateway, tmp_path: Path
) -> None:
    path = tmp_path / "subject"
    path.write_text(make_jwt({"sub": "ci", "exp": int(time.time()) - 600}))
    result = run_cli("exchange", "-g", gateway.url, "--subject-token-file", str(path))
    assert (result.code, result.out) == (4, "")
    assert result.err.splitlines() == [
        f"faasauth: the token file {path} holds a token that expired 10 min ago; not sent to "
        f"{gateway.url}",
        "hint: put a fresh token there; without a token file, the stored login is exchanged",
    ]
    result = run_cli("exchange", "-g", gateway.url, "--subject-token-file", "-",
                     stdin=make_jwt({"exp": int(time.time()) - 30}))
    assert result.code == 4
    assert result.err.startswith("faasauth: stdin holds a token that expired 3")
    assert gateway.count == 0
    path.write_text(make_jwt({"sub": "ci", "exp": int(time.time()) + 600}))  # still valid
    assert run_cli("exchange", "-g", gateway.url, "--subject-token-file", str(path)).code == 0
    assert gateway.count == 1


@pytest.mark.parametrize("as_file", [False, True])
def test_faas_cli_config_matching_gateway(
    run_cli, gateway: Gateway, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, as_file: bool
) -> None:
    path = tmp_path / "of" / ("faas.yaml" if as_file else "config.yml")
    monkeypatch.setenv("OPENFAAS_CONFIG", str(path if as_file else path.parent))
    write_faas_cli_config(path, [
        {"gateway": gateway.url, "auth": "basic", "token": "basic-creds-not-a-subject"},
        {"gateway": "http://other-gateway:8080", "auth": "oauth2", "token": "for-another-gateway"},
        {"gateway": gateway.url.upper() + "/", "auth": "oauth2", "token": "faas-cli-api-token"},
    ])
    result = run_cli("exchange", "-g", gateway.url)
    assert result.code == 0, result.err
    assert gateway.forms[0]["subject_token"] == "faas-cli-api-token"


def test_faas_cli_config_in_the_home_directory(
    run_cli, gateway: Gateway, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("OPENFAAS_CONFIG")
    monkeypatch.setenv("HOME", str(tmp_path))
    write_faas_cli_config(
        tmp_path / ".openfaas" / "config.yml",
        [{"gateway": gateway.url, "auth": "oauth2", "token": "home-faas-cli-token"}],
    )
    assert run_cli("exchange", "-g", gateway.url).code == 0
    assert gateway.forms[0]["subject_token"] == "home-faas-cli-token"


@pytest.mark.parametrize(
    "content", ["auths: [unclosed", "auths:\n  - when: 2001-13-45\n", "auths: 3\n", "- a list\n"]
)
def test_unusable_faas_cli_config_is_no_subject(
    run_cli, gateway: Gateway, monkeypatch: pytest.MonkeyPatch, tmp_path: Path, content: str
) -> None:
    monkeypatch.setenv("OPENFAAS_CONFIG", str(tmp_path))
    (tmp_path / "config.yml").write_text(content)
    result = run_cli("exchange", "-g", gateway.url)
    assert result.code == 4, result.err
    assert "faasauth auth" in result.err and "Traceback" not in result.err


def test_no_subject_is_exit_4_naming_faasauth_auth(run_cli, gateway: Gateway) -> None:
    result = run_cli("exchange", "-g", gateway.url)
    assert result.code == 4
    assert result.err.splitlines()[0] == f"faasauth: not logged in to {gateway.url}"
    assert "faasauth auth" in result.err
    assert result.out == "" and gateway.count == 0


def test_login_for_another_gateway_is_not_used(run_cli, gateway: Gateway, home: Path) -> None:
    store_login(home, "http://other-gateway:8080", "someone-elses-id-token")
    result = run_cli("exchange", "-g", gateway.url)
    assert result.code == 4 and gateway.count == 0


# ---------------------------------------------------------------------------- odd expiries


@pytest.mark.parametrize(
    "expires_in", ["NaN", "Infinity", "-Infinity", "1e999", "9" * 400, '"\u00b2"', '"' + "9" * 400 + '"']
)
def test_unusable_expires_in_is_unknown_not_forever_nor_a_crash(
    run_cli, gateway: Gateway, subject: str, home: Path, expires_in: str
) -> None:
    # Python's json (httpx's) accepts NaN and Infinity; 1e999 is inf; big ints overflow float.
    gateway.answer(
        '{"access_token": "odd-expiry-token-123456", "token_type": "Bearer", '
        f'"expires_in": {expires_in}}}',
        200,
        "application/json",
    )
    result = run_cli("exchange", "-g", gateway.url, "-o", "json")
    assert result.code == 0, result.err
    data = json.loads(result.out)
    assert data["expires_in"] is None and data["expires_at"] is None
    assert not list((home / "tokens").glob("*.json"))  # unknown lifetime: never cached


def test_expires_at_from_unit() -> None:
    from faasauth.tokens.expiry import expires_at_from

    now = 1000.0
    assert expires_at_from({"expires_in": 300}, "x", now) == 1300.0
    assert expires_at_from({"expires_in": 2.5}, "x", now) == 1002.5
    assert expires_at_from({"expires_in": "300"}, "x", now) == 1300.0
    assert expires_at_from({"expires_in": True}, "x", now) is None
    jwt = make_jwt({"exp": 5000})
    assert expires_at_from({}, jwt, now) == 5000.0
    assert expires_at_from({"expires_in": 60}, jwt, now) == 1060.0  # expires_in wins
    assert expires_at_from({}, make_jwt({"exp": "5000"}), now) is None
    assert expires_at_from({}, "not.a.jwt", now) is None
    assert expires_at_from({}, "opaque", now) is None


def test_none_store_exchanges_every_time(run_cli, gateway: Gateway, subject: str, home: Path, monkeypatch) -> None:
    monkeypatch.setenv("FAASAUTH_TOKEN_STORE", "none")
    assert run_cli("exchange", "-g", gateway.url).out.startswith("fn-token-1-")
    assert run_cli("exchange", "-g", gateway.url).out.startswith("fn-token-2-")
    assert not (home / "tokens").exists()


def test_keyring_store_caches_function_tokens(
    run_cli, gateway: Gateway, subject: str, home: Path, monkeypatch, memory_keyring
) -> None:
    monkeypatch.setenv("FAASAUTH_TOKEN_STORE", "keyring")
    assert run_cli("exchange", "-g", gateway.url).out.startswith("fn-token-1-")
    assert run_cli("exchange", "-g", gateway.url).out.startswith("fn-token-1-")
    assert gateway.count == 1
    assert len(memory_keyring.items) == 1 and not (home / "tokens").exists()


def test_corrupt_cached_token_is_replaced(
    run_cli, gateway: Gateway, subject: str, home: Path
) -> None:
    assert run_cli("exchange", "-g", gateway.url).code == 0
    (entry,) = (home / "tokens").glob("*.json")
    entry.write_text('{"version": 1, "key": "trunc')
    result = run_cli("exchange", "-g", gateway.url)
    assert result.code == 0 and result.out.startswith("fn-token-2-")
    assert result.err.count("warning") == 1 and "corrupt token store entry" in result.err
    assert json.loads(entry.read_text())["value"]["access_token"].startswith("fn-token-2-")
    assert run_cli("exchange", "-g", gateway.url).err == ""


def test_none_store_logs_in_afresh_from_the_environment(run_cli, home: Path, monkeypatch) -> None:
    """Issue 22 item 4: `auth` with FAASAUTH_TOKEN_STORE=none says nothing was kept; the next
    command logs in again with the client credentials in the environment."""
    import os

    from faasauth.sandbox import Sandbox

    with Sandbox(log=open(os.devnull, "w")) as sb:
        for name, value in sb.env().items():
            monkeypatch.setenv(name, value)
        monkeypatch.setenv("FAASAUTH_TOKEN_STORE", "none")
        auth = run_cli("auth")
        assert auth.code == 0, auth.err
        assert "Nothing was kept (FAASAUTH_TOKEN_STORE=none)" in auth.err
        for _ in range(2):
            done = run_cli("exchange")
            assert done.code == 0, done.err
            assert done.out.count(".") == 2  # a function token (a JWT), and only it
        assert sb.count("/oauth/token", origin="gateway", status=200) == 2
        monkeypatch.delenv("FAASAUTH_CLIENT_SECRET")
        refused = run_cli("exchange")
        assert refused.code == 4
        assert "FAASAUTH_TOKEN_STORE=none keeps no login" in refused.err
        assert "FAASAUTH_CLIENT_SECRET" in refused.err
    assert not (home / "tokens").exists()
