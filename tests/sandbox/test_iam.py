"""IAM objects: the documented Role/Policy/JwtIssuer examples, and clear errors for bad files."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from faasauth.errors import UsageFailure
from faasauth.sandbox.iam import IamConfig, build_config, parse_duration, read_documents

AUTH0_ISS = "https://alexellis.eu.auth0.com/"

# the Role of docs.openfaas.com/openfaas-pro/iam/example-auth0 (with a Function:Invoke policy)
AUTH0_YAML = f"""\
apiVersion: iam.openfaas.com/v1
kind: JwtIssuer
metadata:
  name: alexellis.eu.auth0.com
  namespace: openfaas
spec:
  iss: {AUTH0_ISS}
  aud:
    - 17F3M3rS8ORQUPDHsgkq0YVHheZVH8dpaGHRTjAx5x0
  tokenExpiry: 12h
---
apiVersion: iam.openfaas.com/v1
kind: Role
metadata:
  name: dev-staff-deployers
  namespace: openfaas
spec:
  policy:
  - dev-rw
  - staging-readonly
  principal:
    jwt:sub:
      - github|1234567
      - github|7654321
  condition:
    StringEqual:
      jwt:iss: ["{AUTH0_ISS}"]
---
apiVersion: iam.openfaas.com/v1
kind: Policy
metadata:
  name: dev-rw
  namespace: openfaas
spec:
  statement:
  - sid: 1-rw-dev
    action:
    - Function:List
    - Function:Invoke
    effect: Allow
    resource: ["dev:*"]
---
apiVersion: v1
kind: Namespace
metadata:
  name: dev
"""


POLICY_HEAD = "apiVersion: iam.openfaas.com/v1\nkind: Policy\nmetadata: {name: p}\n"
ISSUER_HEAD = "apiVersion: iam.openfaas.com/v1\nkind: JwtIssuer\nmetadata: {name: i}\n"


def config_from(tmp_path: Path, text: str, name: str = "iam.yaml") -> IamConfig:
    path = tmp_path / name
    path.write_text(text)
    return build_config(read_documents(path), {})


def role(spec: dict[str, Any], policies: tuple[str, ...] = ("p",)) -> IamConfig:
    docs = [
        {
            "apiVersion": "iam.openfaas.com/v1",
            "kind": "Policy",
            "metadata": {"name": p},
            "spec": {
                "statement": [
                    {
                        "sid": "1",
                        "action": ["Function:Invoke"],
                        "effect": "Allow",
                        "resource": [f"{p}:*"],
                    }
                ]
            },
        }
        for p in policies
    ]
    docs.append(
        {
            "apiVersion": "iam.openfaas.com/v1",
            "kind": "Role",
            "metadata": {"name": "r"},
            "spec": {"policy": list(policies), **spec},
        }
    )
    return build_config([("test", d) for d in docs], {})


def test_auth0_example(tmp_path: Path) -> None:
    config = config_from(tmp_path, AUTH0_YAML)
    issuer = config.issuer_for(AUTH0_ISS)
    assert issuer is not None and issuer.token_expiry == 12 * 3600
    assert config.policies_for({"iss": AUTH0_ISS, "sub": "github|1234567"}) == [
        "dev-rw"
    ]  # staging-readonly: absent
    assert config.policies_for({"iss": AUTH0_ISS, "sub": "github|0"}) == []  # principal fails
    assert (
        config.policies_for({"iss": "https://other/", "sub": "github|1234567"}) == []
    )  # condition fails
    assert config.invoke_permissions(["dev-rw"]) == ["dev:*"]


def test_principal_inside_condition() -> None:
    config = role(
        {
            "condition": {
                "principal": {"jwt:sub": ["alice"]},
                "StringEqual": {"jwt:iss": ["https://i"]},
            }
        }
    )
    assert config.policies_for({"iss": "https://i", "sub": "alice"}) == ["p"]
    assert config.policies_for({"iss": "https://i", "sub": "bob"}) == []
    assert config.policies_for({"iss": "https://j", "sub": "alice"}) == []


def test_string_like() -> None:
    config = role({"condition": {"StringLike": {"jwt:email": ["*@example.com", "ops-?@corp.io"]}}})
    assert config.policies_for({"email": "alice@example.com"}) == ["p"]
    assert config.policies_for({"email": "ops-1@corp.io"}) == ["p"]
    assert config.policies_for({"email": "ops-12@corp.io"}) == []
    assert (
        config.policies_for({"email": "alice@example.com.evil"}) == []
    )  # the whole value must match
    assert config.policies_for({}) == []  # a missing claim fails its condition


def test_string_like_brackets_are_literal() -> None:
    config = role({"condition": {"StringLike": {"jwt:sub": ["team[1]*"]}}})
    assert config.policies_for({"sub": "team[1]-alice"}) == ["p"]
    assert config.policies_for({"sub": "team1-alice"}) == []


def test_string_equals_spelling_and_scalar_values() -> None:
    config = role({"condition": {"StringEquals": {"jwt:email_verified": True, "jwt:sub": "alice"}}})
    assert config.policies_for({"email_verified": True, "sub": "alice"}) == ["p"]
    assert config.policies_for({"email_verified": False, "sub": "alice"}) == []


def test_every_condition_must_hold() -> None:
    config = role(
        {
            "condition": {
                "StringEqual": {"jwt:iss": ["https://i"], "jwt:aud": ["cli"]},
                "StringLike": {"jwt:sub": ["svc-*"]},
            }
        }
    )
    assert config.policies_for({"iss": "https://i", "aud": "cli", "sub": "svc-build"}) == ["p"]
    assert config.policies_for({"iss": "https://i", "aud": "cli", "sub": "alice"}) == []
    assert config.policies_for({"iss": "https://i", "aud": ["web", "cli"], "sub": "svc-x"}) == [
        "p"
    ]  # any element


def test_set_operators_for_list_claims() -> None:
    any_group = role({"condition": {"ForAnyValue:StringEqual": {"jwt:groups": ["openfaas-dev"]}}})
    assert any_group.policies_for({"groups": ["staff", "openfaas-dev"]}) == ["p"]
    assert any_group.policies_for({"groups": ["staff"]}) == []
    all_groups = role({"condition": {"ForAllValues:StringLike": {"jwt:groups": ["openfaas-*"]}}})
    assert all_groups.policies_for({"groups": ["openfaas-dev", "openfaas-ops"]}) == ["p"]
    assert all_groups.policies_for({"groups": ["openfaas-dev", "staff"]}) == []
    assert all_groups.policies_for({"groups": []}) == []


def test_policies_of_several_roles_are_united() -> None:
    docs = role({}, policies=("a", "b"))
    assert docs.policies_for({"sub": "x"}) == ["a", "b"]
    assert docs.invoke_permissions(["a", "b", "missing"]) == ["a:*", "b:*"]


@pytest.mark.parametrize(
    "actions, invoke",
    [
        (["Function:Invoke"], True),
        (["Function:*"], True),
        (["*"], True),
        (["Function:List", "Function:Create"], False),
        (["Secret:*"], False),
    ],
)
def test_actions_granting_invoke(actions: list[str], invoke: bool) -> None:
    config = build_config(
        [
            (
                "t",
                {
                    "apiVersion": "iam.openfaas.com/v1",
                    "kind": "Policy",
                    "metadata": {"name": "p"},
                    "spec": {
                        "statement": [
                            {"sid": "s", "action": actions, "effect": "Allow", "resource": ["*"]}
                        ]
                    },
                },
            )
        ],
        {},
    )
    assert config.invoke_permissions(["p"]) == (["*"] if invoke else [])


def test_placeholders_and_directories(tmp_path: Path) -> None:
    (tmp_path / "a.yaml").write_text(
        "apiVersion: iam.openfaas.com/v1\nkind: JwtIssuer\nmetadata: {name: local}\n"
        "spec: {iss: '${FAASAUTH_AUTHORITY}', tokenExpiry: 90s}\n"
    )
    (tmp_path / "b.yml").write_text(
        "apiVersion: iam.openfaas.com/v1\nkind: Role\nmetadata: {name: r}\n"
        "spec: {policy: [p], condition: {StringEqual: {'jwt:iss': ['${FAASAUTH_AUTHORITY}']}}}\n"
    )
    (tmp_path / "notes.txt").write_text("not yaml: [")
    config = build_config(read_documents(tmp_path), {"FAASAUTH_AUTHORITY": "http://127.0.0.1:9"})
    assert config.issuers[0].iss == "http://127.0.0.1:9" and config.issuers[0].token_expiry == 90
    assert config.roles[0].conditions[0].values == ("http://127.0.0.1:9",)


@pytest.mark.parametrize(
    "text, message",
    [
        ("kind: Role\n  bad: [\n", "invalid YAML at line 2"),
        (
            "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: x}\n",
            "no JwtIssuer, Policy or Role objects found",
        ),
        (
            "apiVersion: iam.openfaas.com/v1\nkind: Role\nmetadata: {}\nspec: {policy: [p]}\n",
            "(document 1): Role without metadata.name",
        ),
        (
            "apiVersion: iam.openfaas.com/v1\nkind: Role\nmetadata: {name: r}\nspec: {}\n",
            "Role 'r': spec.policy must be a string or a list of strings",
        ),
        (
            "apiVersion: iam.openfaas.com/v1\nkind: Role\nmetadata: {name: r}\n"
            "spec: {policy: [p], condition: {NumericEqual: {'jwt:n': ['1']}}}\n",
            "unsupported condition operator 'NumericEqual'",
        ),
        (
            "apiVersion: iam.openfaas.com/v1\nkind: Role\nmetadata: {name: r}\n"
            "spec: {policy: [p], condition: {StringEqual: {sub: [a]}}}\n",
            "keys must look like jwt:<claim>, got 'sub'",
        ),
        (
            "apiVersion: iam.openfaas.com/v1\nkind: Policy\nmetadata: {name: p}\n"
            "spec: {statement: [{sid: s, action: ['*'], effect: Deny, resource: ['*']}]}\n",
            "only effect: Allow is supported, got 'Deny'",
        ),
        (
            POLICY_HEAD + "spec: {statement: []}\n",
            "spec.statement must be a non-empty list",
        ),
        (
            ISSUER_HEAD + "spec: {iss: 'https://i', tokenExpiry: 12}\n",
            "invalid duration '12'",
        ),
        (
            ISSUER_HEAD + "spec: {aud: [x]}\n",
            "spec.iss must be the issuer URL",
        ),
    ],
)
def test_bad_files_are_one_line_usage_failures(tmp_path: Path, text: str, message: str) -> None:
    with pytest.raises(UsageFailure) as raised:
        config_from(tmp_path, text)
    assert message in raised.value.message
    assert str(tmp_path / "iam.yaml") in raised.value.message
    assert "\n" not in raised.value.message


def test_empty_directory(tmp_path: Path) -> None:
    with pytest.raises(UsageFailure, match="no \\*.yaml or \\*.yml files"):
        read_documents(tmp_path)


@pytest.mark.parametrize(
    "text, seconds",
    [("30m", 1800), ("12h", 43200), ("1h30m", 5400), ("90s", 90), ("1.5h", 5400), ("500ms", 0.5)],
)
def test_go_durations(text: str, seconds: float) -> None:
    assert parse_duration(text) == seconds


@pytest.mark.parametrize("text", ["", "10", "abc", "-5m", "5 m", "1d"])
def test_bad_go_durations(text: str) -> None:
    with pytest.raises(ValueError):
        parse_duration(text)
