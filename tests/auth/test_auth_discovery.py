"""OIDC discovery as a real provider would never answer it, and the endpoint overrides."""

from __future__ import annotations

import datetime
import ipaddress
import ssl
import time
from pathlib import Path
from typing import Callable, Iterator

import pytest
from pytest_httpserver import HTTPServer
from werkzeug import Request, Response

from auth.helpers import CliResult, IdP, closed_port, stored_files

DISCOVERY = "/.well-known/openid-configuration"
SECRET = "cc-secret-value-123"


@pytest.fixture
def secret_in_env(monkeypatch: pytest.MonkeyPatch) -> str:
    monkeypatch.setenv("FAASAUTH_CLIENT_SECRET", SECRET)
    return SECRET


def cc_login(run_cli: Callable[..., CliResult], authority: str, *extra: str) -> CliResult:
    return run_cli("auth", "--authority", authority, "--client-id", "cc", *extra)


def assert_one_line_failure(result: CliResult, code: int, *expected: str) -> None:
    assert result.code == code, result
    assert result.out == ""
    assert "Traceback" not in result.err
    first = result.err.splitlines()[0]
    assert first.startswith("faasauth: ")
    for text in expected:
        assert text in result.err, result.err


def test_discovery_404_html_is_a_transient_failure_with_a_hint(
    run_cli: Callable[..., CliResult], idp: IdP, secret_in_env: str, isolated_environment: Path
) -> None:
    page = "<!DOCTYPE html>\n<html><body><h1>Not Found</h1>" + "<p>filler</p>" * 200
    idp.server.expect_request(DISCOVERY).respond_with_data(page, 404, content_type="text/html")
    result = cc_login(run_cli, idp.issuer)
    assert_one_line_failure(result, 3, "OIDC discovery failed", "answered 404", "text/html",
                            "hint: check --authority")
    assert "filler" not in result.err  # the page is summarised, not dumped
    assert len(result.err.splitlines()) == 2
    assert stored_files(isolated_environment) == {}


def test_discovery_404_at_the_gateways_url_says_the_authority_is_the_gateway(
    run_cli: Callable[..., CliResult], idp: IdP, secret_in_env: str, isolated_environment: Path
) -> None:
    idp.server.expect_request(DISCOVERY).respond_with_data("Not Found", 404)
    result = cc_login(run_cli, idp.issuer, "-g", idp.issuer)
    assert_one_line_failure(result, 3, "OIDC discovery failed", "answered 404",
                            "hint: --authority is the OpenFaaS gateway's URL")
    assert stored_files(isolated_environment) == {}


def test_discovery_500_is_a_transient_failure(
    run_cli: Callable[..., CliResult], idp: IdP, secret_in_env: str
) -> None:
    idp.server.expect_request(DISCOVERY).respond_with_data("upstream broke", 500)
    assert_one_line_failure(cc_login(run_cli, idp.issuer), 3, "answered 500", "upstream broke")


def test_discovery_200_that_is_not_json(
    run_cli: Callable[..., CliResult], idp: IdP, secret_in_env: str
) -> None:
    idp.server.expect_request(DISCOVERY).respond_with_data(
        "<html><head><title>Sign in</title></head></html>", 200, content_type="text/html")
    assert_one_line_failure(cc_login(run_cli, idp.issuer), 3, "OIDC discovery failed",
                            "answered 200", "text/html")


def test_discovery_json_that_is_not_an_object(
    run_cli: Callable[..., CliResult], idp: IdP, secret_in_env: str
) -> None:
    idp.server.expect_request(DISCOVERY).respond_with_json(["token_endpoint"])
    assert_one_line_failure(cc_login(run_cli, idp.issuer), 3, "OIDC discovery failed")


@pytest.mark.parametrize("value", [None, "", 42])
def test_discovery_without_a_usable_token_endpoint(
    run_cli: Callable[..., CliResult], idp: IdP, secret_in_env: str, value: object
) -> None:
    idp.discovery(token_endpoint=value)
    result = cc_login(run_cli, idp.issuer)
    assert_one_line_failure(result, 3, "has no token_endpoint", "hint: pass --token-url")
    assert idp.requests("/token") == []


@pytest.mark.parametrize("value", [None, ""])
def test_device_grant_without_a_device_endpoint_is_a_usage_error(
    run_cli: Callable[..., CliResult], idp: IdP, value: object, fake_device_prompt: list[float]
) -> None:
    idp.discovery(device_authorization_endpoint=value)
    result = run_cli("auth", "--authority", idp.issuer, "--client-id", "public")
    assert_one_line_failure(result, 2, "does not offer the device grant",
                            "hint: use --grant client_credentials", "--device-url")
    assert [r.path for r, _ in idp.server.log] == [DISCOVERY]


def test_token_url_skips_discovery_for_client_credentials(
    run_cli: Callable[..., CliResult], idp: IdP, secret_in_env: str
) -> None:
    idp.discovery()  # there, but must not be asked
    idp.server.expect_request("/elsewhere/token", method="POST").respond_with_json(
        {"access_token": "opaque-access-token", "token_type": "Bearer", "expires_in": 300})
    result = cc_login(run_cli, idp.issuer, "--token-url", idp.server.url_for("/elsewhere/token"))
    assert result.code == 0, result.err
    assert [r.path for r, _ in idp.server.log] == ["/elsewhere/token"]


def test_token_and_device_urls_skip_discovery_for_the_device_grant(
    run_cli: Callable[..., CliResult], idp: IdP, fake_device_prompt: list[float]
) -> None:
    idp.discovery()
    server = idp.server
    server.expect_ordered_request("/d", method="POST").respond_with_json(
        {"device_code": "dc-0123456789", "user_code": "ABCD-EFGH",
         "verification_uri": "https://idp.example/device", "interval": 1, "expires_in": 60})
    server.expect_ordered_request("/t", method="POST").respond_with_json(
        {"access_token": "at-0123456789", "token_type": "Bearer", "expires_in": 60})
    result = run_cli("auth", "--client-id", "public", "--authority", idp.issuer,
                     "--token-url", server.url_for("/t"), "--device-url", server.url_for("/d"))
    assert result.code == 0, result.err
    assert [r.path for r, _ in server.log] == ["/d", "/t"]
    server.check_assertions()


def test_device_url_alone_still_discovers_the_token_endpoint(
    run_cli: Callable[..., CliResult], idp: IdP, fake_device_prompt: list[float]
) -> None:
    idp.discovery(device_authorization_endpoint=None)
    idp.server.expect_request("/d", method="POST").respond_with_json(
        {"device_code": "dc-0123456789", "user_code": "ABCD-EFGH",
         "verification_uri": "https://idp.example/device", "interval": 1, "expires_in": 60})
    idp.server.expect_request("/token", method="POST").respond_with_json(
        {"access_token": "at-0123456789", "token_type": "Bearer", "expires_in": 60})
    result = run_cli("auth", "--client-id", "public", "--authority", idp.issuer,
                     "--device-url", idp.server.url_for("/d"))
    assert result.code == 0, result.err
    assert [r.path for r, _ in idp.server.log] == [DISCOVERY, "/d", "/token"]


def test_no_authority_and_no_token_url_is_a_usage_error(
    run_cli: Callable[..., CliResult], secret_in_env: str
) -> None:
    result = run_cli("auth", "--client-id", "cc")
    assert_one_line_failure(result, 2, "--authority ISSUER_URL")


def test_connection_refused(run_cli: Callable[..., CliResult], secret_in_env: str) -> None:
    port = closed_port()
    result = cc_login(run_cli, f"http://127.0.0.1:{port}")
    # what, where (scheme, host, port), and why in words: no class name, no errno
    assert_one_line_failure(
        result, 3, f"OIDC discovery (http://127.0.0.1:{port}): cannot connect: Connection refused")
    assert "Errno" not in result.err and "ConnectError" not in result.err


def test_timeout(run_cli: Callable[..., CliResult], idp: IdP, secret_in_env: str) -> None:
    def slow(request: Request) -> Response:
        time.sleep(2.5)
        return Response("{}", 200, content_type="application/json")

    idp.server.expect_request(DISCOVERY).respond_with_handler(slow)
    started = time.monotonic()
    result = cc_login(run_cli, idp.issuer, "--timeout", "1")
    elapsed = time.monotonic() - started
    assert_one_line_failure(result, 3, "OIDC discovery (http://localhost:", "): timed out after 1s")
    assert elapsed < 2.0  # gave up at the timeout, did not wait for the answer


# --------------------------------------------------------------------------- TLS


def _self_signed(directory: Path) -> tuple[Path, Path]:
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID  # via pyjwt[crypto]

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = datetime.datetime.now(datetime.timezone.utc)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name).issuer_name(name).public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(days=1))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address(
            "127.0.0.1"))]), critical=False)
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = directory / "cert.pem", directory / "key.pem"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(key.private_bytes(serialization.Encoding.PEM,
                                           serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))
    return cert_path, key_path


@pytest.fixture
def tls_idp(tmp_path: Path) -> Iterator[tuple[HTTPServer, Path]]:
    cert, key = _self_signed(tmp_path)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert, key)
    server = HTTPServer(host="127.0.0.1", port=0, ssl_context=context)
    server.start()
    try:
        yield server, cert
    finally:
        server.clear()
        server.stop()


def test_untrusted_certificate_has_its_own_line_and_hint(
    run_cli: Callable[..., CliResult], tls_idp: tuple[HTTPServer, Path], secret_in_env: str
) -> None:
    server, cert = tls_idp
    issuer = server.url_for("").rstrip("/")
    assert issuer.startswith("https://")
    result = cc_login(run_cli, issuer)
    assert_one_line_failure(result, 3, "OIDC discovery (https://127.0.0.1:", "): TLS certificate "
                            "verification failed", "hint: pass --cacert FILE")
    # The same provider is fine once its CA is trusted: the failure was the certificate.
    server.expect_request(DISCOVERY).respond_with_json(
        {"issuer": issuer, "token_endpoint": server.url_for("/token")})
    server.expect_request("/token", method="POST").respond_with_json(
        {"access_token": "opaque-access-token", "expires_in": 60})
    trusted = cc_login(run_cli, issuer, "--cacert", str(cert))
    assert trusted.code == 0, trusted.err
