"""Settings: flag > environment > stack.yml/stack.yaml > default, and their normalisation."""

from __future__ import annotations

from pathlib import Path

import pytest

from faasauth.errors import UsageFailure
from faasauth.config.settings import (
    DEFAULT_GATEWAY,
    DEFAULT_TIMEOUT,
    StackChoice,
    normalise_gateway,
    parse_timeout,
    resolve_settings,
)

STACK = """\
version: 1.0
provider:
  name: openfaas
  gateway: http://stack-gw:8080
functions:
  figlet:
    lang: dockerfile
    namespace: stack-ns
  plain:
    lang: go
"""


def resolve(tmp_path: Path, env: dict[str, str] | None = None, **kwargs: object):
    return resolve_settings(env=env or {}, cwd=tmp_path, **kwargs)  # type: ignore[arg-type]


class TestGatewayPrecedence:
    def test_default(self, tmp_path: Path) -> None:
        assert resolve(tmp_path).gateway == DEFAULT_GATEWAY == "http://127.0.0.1:8080"

    def test_stack_beats_default(self, tmp_path: Path) -> None:
        (tmp_path / "stack.yml").write_text(STACK)
        assert resolve(tmp_path).gateway == "http://stack-gw:8080"

    def test_stack_yaml_is_read_too(self, tmp_path: Path) -> None:
        (tmp_path / "stack.yaml").write_text(STACK.replace("stack-gw", "yaml-gw"))
        assert resolve(tmp_path).gateway == "http://yaml-gw:8080"

    def test_stack_yaml_preferred_over_stack_yml_as_faas_cli_does(self, tmp_path: Path) -> None:
        # faas-cli's checkAndSetDefaultYaml looks for stack.yaml first.
        (tmp_path / "stack.yml").write_text(STACK)
        (tmp_path / "stack.yaml").write_text(STACK.replace("stack-gw", "yaml-gw"))
        assert resolve(tmp_path).gateway == "http://yaml-gw:8080"

    def test_env_beats_stack(self, tmp_path: Path) -> None:
        (tmp_path / "stack.yml").write_text(STACK)
        assert resolve(tmp_path, {"OPENFAAS_URL": "http://env-gw"}).gateway == "http://env-gw"

    def test_flag_beats_env_and_stack(self, tmp_path: Path) -> None:
        (tmp_path / "stack.yml").write_text(STACK)
        settings = resolve(tmp_path, {"OPENFAAS_URL": "http://env-gw"}, gateway="flag-gw:1")
        assert settings.gateway == "http://flag-gw:1"

    def test_empty_env_value_is_unset(self, tmp_path: Path) -> None:
        (tmp_path / "stack.yml").write_text(STACK)
        assert resolve(tmp_path, {"OPENFAAS_URL": ""}).gateway == "http://stack-gw:8080"

    def test_stack_without_provider_gateway_gives_default(self, tmp_path: Path) -> None:
        (tmp_path / "stack.yml").write_text("provider: openfaas\nfunctions: []\n")
        assert resolve(tmp_path).gateway == DEFAULT_GATEWAY

    def test_stack_file_that_is_not_a_mapping_gives_default(self, tmp_path: Path) -> None:
        (tmp_path / "stack.yml").write_text("- just\n- a list\n")
        assert resolve(tmp_path).gateway == DEFAULT_GATEWAY

    def test_stack_gateway_is_normalised(self, tmp_path: Path) -> None:
        (tmp_path / "stack.yml").write_text("provider:\n  gateway: GW.Example.COM:31112/\n")
        assert resolve(tmp_path).gateway == "http://gw.example.com:31112"


class TestStackSubstitution:
    def test_variable_with_default_unset(self, tmp_path: Path) -> None:
        (tmp_path / "stack.yml").write_text(
            "provider:\n  gateway: ${GW_FROM_ENV:-http://fallback:8080}\n"
        )
        assert resolve(tmp_path).gateway == "http://fallback:8080"

    def test_variable_with_default_set(self, tmp_path: Path) -> None:
        (tmp_path / "stack.yml").write_text(
            "provider:\n  gateway: ${GW_FROM_ENV:-http://fallback:8080}\n"
        )
        settings = resolve(tmp_path, {"GW_FROM_ENV": "https://from-env"})
        assert settings.gateway == "https://from-env"

    def test_plain_variable_and_namespace(self, tmp_path: Path) -> None:
        (tmp_path / "stack.yml").write_text(
            "provider:\n  gateway: http://${HOST}:8080\n"
            "functions:\n  figlet:\n    namespace: ${NS:-dev}\n"
        )
        settings = resolve(tmp_path, {"HOST": "gw.local"}, function="figlet")
        assert (settings.gateway, settings.namespace) == ("http://gw.local:8080", "dev")


class TestNamespacePrecedence:
    def test_default_is_none_and_openfaas_fn_for_functions(self, tmp_path: Path) -> None:
        settings = resolve(tmp_path, function="figlet")
        assert settings.namespace is None
        assert settings.function_namespace == "openfaas-fn"

    def test_stack_function_namespace(self, tmp_path: Path) -> None:
        (tmp_path / "stack.yml").write_text(STACK)
        assert resolve(tmp_path, function="figlet").namespace == "stack-ns"
        assert resolve(tmp_path, function="plain").namespace is None
        assert resolve(tmp_path, function="absent").namespace is None
        assert resolve(tmp_path).namespace is None

    def test_env_beats_stack(self, tmp_path: Path) -> None:
        (tmp_path / "stack.yml").write_text(STACK)
        settings = resolve(tmp_path, {"OPENFAAS_NS": "env-ns"}, function="figlet")
        assert settings.namespace == "env-ns"

    def test_flag_beats_env(self, tmp_path: Path) -> None:
        (tmp_path / "stack.yml").write_text(STACK)
        settings = resolve(tmp_path, {"OPENFAAS_NS": "env-ns"}, function="figlet", namespace="flag")
        assert settings.function_namespace == "flag"


@pytest.mark.parametrize(
    ("given", "expected"),
    [
        ("http://127.0.0.1:8080", "http://127.0.0.1:8080"),
        ("HTTP://GW.Example.COM:8080/", "http://gw.example.com:8080"),
        ("gw.example.com", "http://gw.example.com"),
        ("gw:31112//", "http://gw:31112"),
        ("https://gw.example.com/", "https://gw.example.com"),
        ("  https://gw.example.com  ", "https://gw.example.com"),
        ("http://[::1]:8080", "http://[::1]:8080"),
    ],
)
def test_normalise_gateway(given: str, expected: str) -> None:
    assert normalise_gateway(given) == expected


@pytest.mark.parametrize(
    "given", ["", "   ", "ftp://gw", "http://gw:notaport", "http://[::1", "http://gw:99999", "http:///path"]
)
def test_bad_gateway_is_a_usage_failure(given: str) -> None:
    with pytest.raises(UsageFailure):
        normalise_gateway(given)


class TestOtherSettings:
    def test_home_and_backend_from_env(self, tmp_path: Path) -> None:
        settings = resolve(
            tmp_path, {"FAASAUTH_HOME": str(tmp_path / "h"), "FAASAUTH_TOKEN_STORE": " Keyring "}
        )
        assert settings.home == tmp_path / "h"
        assert settings.store_backend == "keyring"

    def test_backend_defaults_to_auto(self, tmp_path: Path) -> None:
        assert resolve(tmp_path, {"FAASAUTH_HOME": str(tmp_path)}).store_backend == "auto"

    @pytest.mark.parametrize("value", ["files", "memory", "1"])
    def test_invalid_backend(self, tmp_path: Path, value: str) -> None:
        with pytest.raises(UsageFailure, match="FAASAUTH_TOKEN_STORE"):
            resolve(tmp_path, {"FAASAUTH_HOME": str(tmp_path), "FAASAUTH_TOKEN_STORE": value})

    def test_cacert_flag_beats_ssl_cert_file(self, tmp_path: Path) -> None:
        flag, env = tmp_path / "flag.pem", tmp_path / "env.pem"
        flag.write_text("x")
        env.write_text("x")
        assert resolve(tmp_path, {"SSL_CERT_FILE": str(env)}).cacert == str(env)
        assert resolve(tmp_path, {"SSL_CERT_FILE": str(env)}, cacert=str(flag)).cacert == str(flag)

    def test_missing_cacert(self, tmp_path: Path) -> None:
        with pytest.raises(UsageFailure, match="not found"):
            resolve(tmp_path, cacert=str(tmp_path / "absent.pem"))

    def test_tls_no_verify(self, tmp_path: Path) -> None:
        assert resolve(tmp_path).tls_verify is True
        assert resolve(tmp_path, tls_no_verify=True).tls_verify is False


@pytest.mark.parametrize(
    ("given", "seconds"),
    [(None, DEFAULT_TIMEOUT), ("30", 30.0), ("30s", 30.0), ("1.5", 1.5), ("500ms", 0.5), ("2m", 120.0)],
)
def test_parse_timeout(given: str | None, seconds: float) -> None:
    assert parse_timeout(given) == seconds


@pytest.mark.parametrize("given", ["0", "-1", "abc", "", "nan", "10h"])
def test_bad_timeout(given: str) -> None:
    with pytest.raises(UsageFailure, match="invalid timeout"):
        parse_timeout(given)


class TestThroughTheCli:
    """The same precedence, seen from `faasauth exchange` against a real local gateway."""

    def test_stack_file_gateway_is_used(self, run_cli, gateway, monkeypatch) -> None:
        monkeypatch.setenv("FAASAUTH_SUBJECT_TOKEN", "subject-token-1234")
        Path("stack.yml").write_text(f"provider:\n  gateway: {gateway.url}\n")
        result = run_cli("exchange")
        assert result.code == 0, result.err
        assert len(gateway.requests) == 1

    def test_env_beats_stack_file(self, run_cli, gateway, monkeypatch, unused_port) -> None:
        monkeypatch.setenv("FAASAUTH_SUBJECT_TOKEN", "subject-token-1234")
        Path("stack.yaml").write_text(f"provider:\n  gateway: http://127.0.0.1:{unused_port}\n")
        monkeypatch.setenv("OPENFAAS_URL", gateway.url)
        result = run_cli("exchange")
        assert result.code == 0, result.err
        assert len(gateway.requests) == 1

    def test_flag_beats_env(self, run_cli, gateway, monkeypatch, unused_port) -> None:
        monkeypatch.setenv("FAASAUTH_SUBJECT_TOKEN", "subject-token-1234")
        monkeypatch.setenv("OPENFAAS_URL", f"http://127.0.0.1:{unused_port}")
        result = run_cli("exchange", "-g", gateway.url + "/")
        assert result.code == 0, result.err
        assert len(gateway.requests) == 1

    @pytest.mark.parametrize(
        "content",
        [
            "provider: [unclosed\n",
            "provider:\n  gateway: http://x\n\tbad: tab\n",
            "functions:\n  f:\n    date: 2001-13-45\n",  # PyYAML raises ValueError here
            b"\xff\xfe not utf-8",
        ],
    )
    def test_malformed_stack_file_is_one_line_exit_2(self, run_cli, monkeypatch, content) -> None:
        monkeypatch.setenv("FAASAUTH_SUBJECT_TOKEN", "subject-token-1234")
        path = Path("stack.yml")
        path.write_bytes(content if isinstance(content, bytes) else content.encode())
        result = run_cli("exchange")
        assert result.code == 2
        assert result.err.startswith("faasauth: cannot read stack.yml")
        assert len(result.err.strip().splitlines()) == 1
        assert "Traceback" not in result.err
        assert result.out == ""

    @pytest.mark.parametrize("gw", ["http://gw:notaport", "http://[::1", "ftp://gw"])
    def test_bad_gateway_flag_is_exit_2(self, run_cli, monkeypatch, gw) -> None:
        monkeypatch.setenv("FAASAUTH_SUBJECT_TOKEN", "subject-token-1234")
        result = run_cli("exchange", "-g", gw)
        assert result.code == 2, result.err
        assert len(result.err.strip().splitlines()) == 1

    def test_bad_timeout_is_exit_2(self, run_cli, monkeypatch) -> None:
        monkeypatch.setenv("FAASAUTH_SUBJECT_TOKEN", "subject-token-1234")
        result = run_cli("exchange", "--timeout", "soon")
        assert (result.code, result.err.strip()) == (
            2,
            "faasauth: invalid timeout: 'soon' (use seconds, e.g. 30 or 30s)",
        )

    def test_bad_store_backend_is_exit_2(self, run_cli, monkeypatch) -> None:
        monkeypatch.setenv("FAASAUTH_TOKEN_STORE", "vault")
        result = run_cli("status")
        assert result.code == 2
        assert "FAASAUTH_TOKEN_STORE" in result.err


class TestStackFlags:
    """faas-cli's -f/--yaml, --envsubst, --regex and --filter (go-sdk stack.ParseYAMLFile)."""

    def test_yaml_flag_names_another_stack_file(self, tmp_path: Path) -> None:
        (tmp_path / "stack.yml").write_text(STACK)
        (tmp_path / "other.yml").write_text(STACK.replace("stack-gw", "other-gw"))
        chosen = resolve(tmp_path, stack_file=StackChoice(path="other.yml"), function="figlet")
        assert chosen.gateway == "http://other-gw:8080" and chosen.namespace == "stack-ns"

    def test_a_missing_yaml_file_is_a_usage_error_naming_it(self, tmp_path: Path) -> None:
        with pytest.raises(UsageFailure, match="cannot read the stack file nope.yml: No such"):
            resolve(tmp_path, stack_file=StackChoice(path="nope.yml"))

    def test_a_url_is_refused_with_what_to_do(self, tmp_path: Path) -> None:
        with pytest.raises(UsageFailure, match="reads a local stack file, not a URL"):
            resolve(tmp_path, stack_file=StackChoice(path="https://example.com/stack.yml"))

    def test_no_envsubst_keeps_variables_as_written(self, tmp_path: Path) -> None:
        (tmp_path / "stack.yml").write_text(
            "provider:\n  gateway: http://gw:8080\nfunctions:\n  f:\n    namespace: ${NS}\n")
        env = {"NS": "dev"}
        assert resolve(tmp_path, env, function="f").namespace == "dev"
        kept = resolve(tmp_path, env, function="f", stack_file=StackChoice(envsubst=False))
        assert kept.namespace == "${NS}"

    def test_dollar_name_without_braces_is_substituted_as_envsubst_does(
        self, tmp_path: Path
    ) -> None:
        (tmp_path / "stack.yml").write_text("provider:\n  gateway: http://$HOST:8080\n")
        assert resolve(tmp_path, {"HOST": "gw"}).gateway == "http://gw:8080"

    @pytest.mark.parametrize(("choice", "namespace"), [
        (StackChoice(regex="^fig"), "stack-ns"),
        (StackChoice(regex="let"), "stack-ns"),  # Go's MatchString: anywhere in the name
        (StackChoice(filter="f*t"), "stack-ns"),
        (StackChoice(filter="pl*"), None),  # figlet is filtered out: no stack namespace
    ])
    def test_regex_and_filter_choose_the_functions_that_count(
        self, tmp_path: Path, choice: StackChoice, namespace: str | None
    ) -> None:
        (tmp_path / "stack.yml").write_text(STACK)
        assert resolve(tmp_path, function="figlet", stack_file=choice).namespace == namespace

    @pytest.mark.parametrize(("choice", "message"), [
        (StackChoice(regex="a", filter="b"), "pass in a regex or a filter, not both"),
        (StackChoice(regex="zzz"), "no functions matching --filter/--regex were found"),
        (StackChoice(filter="fig"), "no functions matching --filter/--regex were found"),
        (StackChoice(regex="("), "invalid --regex '\\('"),
    ])
    def test_regex_and_filter_errors_as_faas_cli_gives_them(
        self, tmp_path: Path, choice: StackChoice, message: str
    ) -> None:
        (tmp_path / "stack.yml").write_text(STACK)
        with pytest.raises(UsageFailure, match=message):
            resolve(tmp_path, stack_file=choice)

    def test_faas_debug_1_is_verbose(self, tmp_path: Path) -> None:
        assert resolve(tmp_path, {"FAAS_DEBUG": "1"}).verbose is True
        assert resolve(tmp_path, {"FAAS_DEBUG": "true"}).verbose is False  # faas-cli: "1" only


class TestStackFlagsThroughTheCli:
    def test_yaml_flag_and_no_envsubst(self, run_cli, gateway, monkeypatch) -> None:
        monkeypatch.setenv("FAASAUTH_SUBJECT_TOKEN", "subject-token-1234")
        monkeypatch.setenv("GW", gateway.url)
        Path("ci.yml").write_text("provider:\n  gateway: ${GW}\n")
        result = run_cli("exchange", "-f", "ci.yml")
        assert result.code == 0, result.err
        assert len(gateway.requests) == 1
        result = run_cli("exchange", "--yaml", "ci.yml", "--no-envsubst")
        assert result.code == 3 and "(http://${gw}:80): cannot connect" in result.err

    def test_missing_yaml_flag_file_is_one_line_exit_2(self, run_cli) -> None:
        result = run_cli("invoke", "figlet", "-f", "nope.yml")
        assert (result.code, result.err) == (
            2, "faasauth: cannot read the stack file nope.yml: No such file or directory\n")

    def test_faas_debug_logs_redacted_requests(self, run_cli, gateway, monkeypatch) -> None:
        monkeypatch.setenv("FAASAUTH_SUBJECT_TOKEN", "subject-token-1234")
        monkeypatch.setenv("FAAS_DEBUG", "1")
        result = run_cli("exchange", "-g", gateway.url)
        assert result.code == 0, result.err
        assert "POST " + gateway.url + "/oauth/token" in result.err
        assert "subject-token-1234" not in result.err


class TestWhereTheGatewayCameFrom:
    """Issue 22 item 11: `cannot connect` said nothing of where the gateway URL came from."""

    def test_each_source_is_named(self, tmp_path: Path) -> None:
        assert resolve(tmp_path).gateway_source == "the default"
        (tmp_path / "stack.yml").write_text(STACK)
        assert resolve(tmp_path).gateway_source == "stack.yml's provider.gateway"
        assert resolve(tmp_path, {"OPENFAAS_URL": "http://env-gw:8080"}).gateway_source == (
            "OPENFAAS_URL")
        assert resolve(tmp_path, {"OPENFAAS_URL": "http://e:1"}, gateway="http://flag:1"
                       ).gateway_source == "-g"
        figlet = resolve(tmp_path, function="figlet")
        assert (figlet.namespace, figlet.namespace_source) == (
            "stack-ns", "stack.yml's functions.figlet.namespace")
        assert resolve(tmp_path, {"OPENFAAS_NS": "dev"}, function="figlet").namespace_source == (
            "OPENFAAS_NS")
        assert resolve(tmp_path, namespace="x", function="figlet").namespace_source == "-n"
        assert resolve(tmp_path, function="plain").namespace_source is None

    def test_a_default_gateway_that_refuses_says_it_is_the_default(self, tmp_path: Path) -> None:
        import httpx

        from faasauth.http import transport_failure

        settings = resolve(tmp_path)
        refused = httpx.ConnectError("[Errno 111] Connection refused",
                                     request=httpx.Request("POST", settings.gateway + "/x"))
        failure = transport_failure(refused, "invoke openfaas-fn:env", settings)
        assert failure.message == ("invoke openfaas-fn:env (http://127.0.0.1:8080): cannot "
                                   "connect: Connection refused")
        assert failure.hint == (
            "no gateway was given (-g, OPENFAAS_URL or a stack file's provider.gateway), so "
            "the default http://127.0.0.1:8080 was used; is a gateway running there? pass -g URL")
        elsewhere = httpx.ConnectError("[Errno 111] Connection refused",
                                       request=httpx.Request("POST", "http://127.0.0.1:9/t"))
        assert transport_failure(elsewhere, "OIDC discovery", settings).hint is None  # an IdP

    @pytest.mark.parametrize("source", ["-g", "OPENFAAS_URL", "stack.yml"])
    def test_cannot_connect_names_the_source(
        self, run_cli, unused_port: int, monkeypatch: pytest.MonkeyPatch, source: str
    ) -> None:
        url = f"http://127.0.0.1:{unused_port}"
        monkeypatch.setenv("FAASAUTH_SUBJECT_TOKEN", "subject-token-1234")
        args = ["exchange"]
        if source == "-g":
            args += ["-g", url]
        elif source == "OPENFAAS_URL":
            monkeypatch.setenv("OPENFAAS_URL", url)
        else:
            Path("stack.yml").write_text(f"provider:\n  gateway: {url}\n")
        result = run_cli(*args)
        assert result.code == 3
        shown = {"stack.yml": "stack.yml's provider.gateway"}.get(source, source)
        other = "" if source == "-g" else " pass -g URL for another"
        assert result.err.splitlines() == [
            f"faasauth: token exchange ({url}): cannot connect: Connection refused",
            f"hint: the gateway URL came from {shown}; is the gateway running there?{other}",
        ]
