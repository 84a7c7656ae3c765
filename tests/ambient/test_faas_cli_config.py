"""faasauth.config.faas_cli: faas-cli's config.yml edited for one gateway, every other byte
kept; and the OpenFaaS API token faas-cli keeps there, from the sandbox gateway."""

from __future__ import annotations

import os
import socket
import stat
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest
import yaml

from faasauth.config import faas_cli as fcc
from faasauth.config import faas_cli_edit
from faasauth.gateway.exchange import request_api_token
from faasauth.runtime import Runtime
from faasauth.errors import ExchangeRefused, ExitCode, TransientFailure, UsageFailure
from faasauth.gateway.exchange import request_function_token
from faasauth.sandbox import Sandbox
from faasauth.config.settings import resolve_settings
from faasauth.config.faas_cli import faas_cli_token

GATEWAY = "http://127.0.0.1:8080"
TOKEN = "eyJhbGciOiJFUzI1NiJ9.eyJzdWIiOiJmZWQ6eCJ9.c2ln"

# What a user's file may look like: comments, odd indentation, quoting, a basic entry, an
# entry for another gateway with options, other keys faas-cli does not know.
ODD = """\
# faas-cli config, edited by hand
auths:
    -   gateway: https://prod.example.com   # production
        auth: basic
        token: 'YWRtaW46c2VjcmV0'
    - {gateway: "http://staging:8080", auth: oauth2, token: abc}
    - gateway: http://other:31112
      auth: oauth2
      token: |
        multi
        line

      options:
      - name: client_id
        value: "faas-cli"
# kept too
x-team: [a, b]   # unknown to faas-cli
"""


def write(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w", encoding="utf-8", newline="") as handle:
        handle.write(text)


def read(path: Path) -> str:
    with open(path, encoding="utf-8", newline="") as handle:
        return handle.read()


def ours(gateway: str = GATEWAY, token: str = TOKEN) -> dict[str, object]:
    return {"gateway": gateway, "auth": "oauth2", "token": token, "options": [fcc.MARK]}


# -- where ----------------------------------------------------------------------------


def test_config_path(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    home = Path.home() / ".openfaas" / "config.yml"
    assert fcc.config_path({}) == home
    assert fcc.config_path({"CI": "false"}) == home
    for ci in ("true", "1"):  # faas-cli's rule: ./.openfaas in the working directory
        assert fcc.config_path({"CI": ci}, cwd=tmp_path) == tmp_path / ".openfaas/config.yml"
    assert fcc.config_path({"CI": "true"}) == Path.cwd() / ".openfaas/config.yml"
    assert fcc.config_path({"OPENFAAS_CONFIG": "/etc/of"}) == Path("/etc/of/config.yml")
    assert fcc.config_path({"OPENFAAS_CONFIG": "/etc/of", "CI": "true"}) == Path(
        "/etc/of/config.yml"
    )
    assert fcc.config_path({"OPENFAAS_CONFIG": "~/x.yaml"}) == Path.home() / "x.yaml"


# -- writing --------------------------------------------------------------------------


def test_new_file_in_faas_clis_layout(tmp_path: Path) -> None:
    path = tmp_path / "new" / "config.yml"
    assert faas_cli_edit.write_entry(path, GATEWAY + "/", TOKEN) == "added"
    assert read(path) == (
        "auths:\n"
        "  - gateway: http://127.0.0.1:8080\n"
        "    auth: oauth2\n"
        f"    token: {TOKEN}\n"
        "    options:\n"
        "      - name: written_by\n"
        "        value: faasauth\n"
    )
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700


def test_added_entry_keeps_every_other_byte(tmp_path: Path) -> None:
    path = tmp_path / "config.yml"
    write(path, ODD)
    assert faas_cli_edit.write_entry(path, GATEWAY, TOKEN) == "added"
    text = read(path)
    cut = ODD.index("# kept too")
    assert text.startswith(ODD[:cut].rstrip("\n"))  # up to the last entry's last line
    assert text.endswith(ODD[cut - 1 :])  # from there on
    data = yaml.safe_load(text)
    assert data["auths"][:3] == yaml.safe_load(ODD)["auths"] and data["auths"][3] == ours()
    assert data["x-team"] == ["a", "b"]
    assert faas_cli_edit.remove_entry(path, GATEWAY) is True
    assert read(path) == ODD  # byte for byte


def test_replaced_entry_changes_only_its_own_span(tmp_path: Path) -> None:
    path = tmp_path / "config.yml"
    write(path, ODD)
    assert faas_cli_edit.write_entry(path, "HTTP://OTHER:31112/", TOKEN) == "replaced"
    text = read(path)
    start = ODD.index("gateway: http://other:31112")
    end = ODD.index('value: "faas-cli"') + len('value: "faas-cli"')
    assert text[:start] == ODD[:start] and text.endswith(ODD[end:])
    entry = yaml.safe_load(text)["auths"][2]
    # the options of the replaced entry are kept, the mark added
    assert entry == {
        "gateway": "http://other:31112",
        "auth": "oauth2",
        "token": TOKEN,
        "options": [{"name": "client_id", "value": "faas-cli"}, fcc.MARK],
    }
    assert faas_cli_edit.write_entry(path, "http://other:31112", "eyJ0.eyJ1.c2") == "updated"
    assert yaml.safe_load(read(path))["auths"][2]["options"].count(fcc.MARK) == 1


def test_flow_style_entry_is_replaced(tmp_path: Path) -> None:
    path = tmp_path / "config.yml"
    write(path, ODD)
    faas_cli_edit.write_entry(path, "http://staging:8080", TOKEN)
    text = read(path)
    start = ODD.index('{gateway: "http://staging:8080"')
    end = ODD.index("token: abc}") + len("token: abc}")
    assert text[:start] == ODD[:start] and text.endswith(ODD[end:])
    assert yaml.safe_load(text)["auths"][1] == ours("http://staging:8080")


@pytest.mark.parametrize(
    "text",
    [
        "auths:\n",
        "# nothing yet\nauths: []\nother: 1\n",
        "auths: null\n",
        "auths:\n- gateway: http://a\n  auth: basic\n  token: x\n",
        "auths:\r\n  - gateway: http://a\r\n    auth: basic\r\n    token: x\r\n",
        "other: 1",
        "",
    ],
)
def test_layouts(tmp_path: Path, text: str) -> None:
    path = tmp_path / "config.yml"
    if text:
        write(path, text)
    before = yaml.safe_load(text) or {}
    faas_cli_edit.write_entry(path, GATEWAY, TOKEN)
    after = yaml.safe_load(read(path))
    assert after["auths"] == list(before.get("auths") or []) + [ours()]
    assert {k: v for k, v in after.items() if k != "auths"} == {
        k: v for k, v in before.items() if k != "auths"
    }
    if "\r\n" in text:
        assert "\n" not in read(path).replace("\r\n", "")  # line endings kept
    assert faas_cli_edit.remove_entry(path, GATEWAY) is True
    assert ((yaml.safe_load(read(path)) or {}).get("auths") or []) == (before.get("auths") or [])
    if before.get("auths"):
        assert read(path) == text


@pytest.mark.parametrize("token", ["yes", "123", "a: b", "#x", "with space", "'quoted'"])
def test_odd_values_are_quoted(tmp_path: Path, token: str) -> None:
    path = tmp_path / "config.yml"
    faas_cli_edit.write_entry(path, GATEWAY, token)
    assert fcc.find_entry(path, GATEWAY) == fcc.AuthEntry(GATEWAY, "oauth2", token, [fcc.MARK])


def test_mode_is_0600_and_no_temporary_file_is_left(tmp_path: Path) -> None:
    path = tmp_path / "config.yml"
    write(path, ODD)
    path.chmod(0o644)
    faas_cli_edit.write_entry(path, GATEWAY, TOKEN)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert [p.name for p in tmp_path.iterdir()] == ["config.yml"]


def test_a_symlinked_config_stays_a_symlink(tmp_path: Path) -> None:
    real = tmp_path / "dotfiles" / "config.yml"
    write(real, ODD)
    link = tmp_path / "config.yml"
    link.symlink_to(real)
    faas_cli_edit.write_entry(link, GATEWAY, TOKEN)
    assert link.is_symlink() and fcc.find_entry(real, GATEWAY) is not None


@pytest.mark.parametrize(
    ("text", "why"),
    [
        ("auths: [\n", "invalid YAML at line 2, column 1"),
        ("- just\n- a list\n", "it is not a YAML mapping"),
        ("auths: {gateway: x}\n", "its auths: is not a list"),
        ("auths: [{gateway: 'http://a'}]\n", "its auths: is a flow-style list"),
        ("{auths: null}\n", "it is a flow-style mapping"),
    ],
)
def test_files_it_will_not_edit_are_left_alone(tmp_path: Path, text: str, why: str) -> None:
    path = tmp_path / "config.yml"
    write(path, text)
    with pytest.raises(UsageFailure) as caught:
        faas_cli_edit.write_entry(path, GATEWAY, TOKEN)
    assert why in caught.value.message and str(path) in caught.value.message
    assert caught.value.exit_code == ExitCode.USAGE
    assert TOKEN not in caught.value.message
    assert read(path) == text


def test_unreadable_file(tmp_path: Path) -> None:
    path = tmp_path / "config.yml"
    path.mkdir()
    with pytest.raises(UsageFailure, match="cannot read faas-cli's config .*: Is a directory"):
        faas_cli_edit.write_entry(path, GATEWAY, TOKEN)


# -- removing -------------------------------------------------------------------------


def test_remove_only_what_faasauth_wrote(tmp_path: Path) -> None:
    path = tmp_path / "config.yml"
    write(path, ODD)
    assert faas_cli_edit.remove_entry(path, "https://prod.example.com") is False  # faas-cli's own
    assert faas_cli_edit.remove_entry(path, GATEWAY) is False  # none at all
    assert faas_cli_edit.remove_entry(tmp_path / "absent.yml", GATEWAY) is False
    assert read(path) == ODD
    # `faas-cli login` or `pro auth` replaced the entry faasauth wrote: no mark, no claim
    replaced = (
        "auths:\n- gateway: http://127.0.0.1:8080\n  auth: oauth2\n  token: theirs\n"
        "  options:\n  - name: other\n    value: faasauth\n"
    )
    write(path, replaced)
    assert fcc.find_entry(path, GATEWAY) is not None
    assert faas_cli_edit.remove_entry(path, GATEWAY) is False
    assert read(path) == replaced


def test_faasauth_reads_back_the_token_as_a_subject(tmp_path: Path) -> None:
    path = tmp_path / "config.yml"
    write(path, ODD)
    faas_cli_edit.write_entry(path, GATEWAY, TOKEN)
    ctx = Runtime(resolve_settings(gateway=GATEWAY), env={"OPENFAAS_CONFIG": str(tmp_path)})
    assert faas_cli_token(ctx.env, ctx.settings.gateway) == TOKEN


# -- the API token from the gateway ---------------------------------------------------


@pytest.fixture
def context_for() -> Iterator[Callable[[str], Runtime]]:
    made: list[Runtime] = []

    def make(gateway: str) -> Runtime:
        ctx = Runtime(resolve_settings(gateway=gateway), env={})
        made.append(ctx)
        return ctx

    yield make
    for ctx in made:
        ctx.close()


def test_api_token_from_a_ci_token_then_a_function_call(
    make_sandbox: Callable[..., Sandbox], context_for: Callable[[str], Runtime], tmp_path: Path
) -> None:
    sb = make_sandbox(ci="github")
    ctx = context_for(sb.gateway_url)
    api = request_api_token(ctx, sb.ci.mint(sb.gateway_url))
    assert api.issued_token_type == "urn:ietf:params:oauth:token-type:id_token"
    assert api.expires_at is not None and api.expires_at - ctx.now() == pytest.approx(300, abs=2)
    assert sb.count("/oauth/token", token="idp", status=200) == 1
    # kept for faas-cli, then read back and used as a subject token for a function token
    path = tmp_path / "config.yml"
    faas_cli_edit.write_entry(path, sb.gateway_url, api.access_token)
    entry = fcc.find_entry(path, sb.gateway_url)
    assert entry is not None and entry.token == api.access_token
    function = request_function_token(ctx, entry.token, "id_token", ["openfaas-fn:echo-auth"])
    answer = httpx.post(
        f"{sb.gateway_url}/function/echo-auth",
        content=b"hello",
        headers={"Authorization": f"Bearer {function.access_token}"},
    )
    assert answer.status_code == 200 and answer.text == "hello"
    assert sb.count("/oauth/token", token="api", status=200) == 1


def test_api_token_refused(
    make_sandbox: Callable[..., Sandbox], context_for: Callable[[str], Runtime]
) -> None:
    sb = make_sandbox(ci="github")
    subject = sb.ci.mint(sb.gateway_url, repository="someone/else")
    with pytest.raises(ExchangeRefused) as caught:
        request_api_token(context_for(sb.gateway_url), subject)
    assert caught.value.message == (
        "API token exchange refused: invalid_request: "
        "No policies found for subject: repo:someone/else:ref:refs/heads/main"
    )
    assert caught.value.exit_code == ExitCode.REFUSED


def test_api_token_gateway_unreachable(context_for: Callable[[str], Runtime]) -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    with pytest.raises(TransientFailure) as caught:
        request_api_token(context_for(f"http://127.0.0.1:{port}"), TOKEN)
    assert caught.value.message.startswith(
        f"API token exchange (http://127.0.0.1:{port}): cannot connect")
    assert TOKEN not in caught.value.message and os.linesep not in caught.value.message


def test_ci_rule_is_where_faasauth_reads_faas_clis_token(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    faas_cli_edit.write_entry(fcc.config_path({"CI": "true"}), GATEWAY, TOKEN)
    assert (tmp_path / ".openfaas" / "config.yml").is_file()
    ctx = Runtime(resolve_settings(gateway=GATEWAY), env={"CI": "true"})
    assert faas_cli_token(ctx.env, ctx.settings.gateway) == TOKEN
    assert faas_cli_token({"CI": "no"}, GATEWAY) is None
