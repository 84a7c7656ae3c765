"""The gateway's token exchange at /oauth/token: parameters, tokens, errors."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import httpx
import jwt
import pytest

from faasauth.sandbox import Sandbox
from faasauth.sandbox.keys import SigningKey
from sandbox.helpers import TOKEN_EXCHANGE, client_credentials, exchange


def claims_of(token: str) -> dict[str, Any]:
    return jwt.decode(token, options={"verify_signature": False})


def assert_invalid_request(answer: httpx.Response, description: str) -> None:
    assert answer.status_code == 400, answer.text
    assert answer.headers["Content-Type"] == "application/json"
    assert answer.json() == {"error": "invalid_request", "error_description": description}


def test_gateway_discovery(sb: Sandbox, client: httpx.Client) -> None:
    config = client.get(f"{sb.gateway_url}/.well-known/openid-configuration").json()
    assert config["issuer"] == sb.gateway_url
    assert config["token_endpoint"] == f"{sb.gateway_url}/oauth/token"
    keys = client.get(config["jwks_uri"]).json()["keys"]
    assert len(keys) == 1 and keys[0]["kty"] == "EC" and keys[0]["kid"]


def test_function_token(sb: Sandbox, client: httpx.Client) -> None:
    answer = exchange(client, sb, client_credentials(client, sb), scope="function")
    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert set(body) == {"access_token", "token_type", "expires_in", "scope"}
    assert (body["token_type"], body["expires_in"], body["scope"]) == ("Bearer", 300, "function")
    claims = claims_of(body["access_token"])
    assert claims["iss"] == sb.gateway_url and claims["aud"] == [sb.gateway_url]
    assert claims["sub"] == f"fed:{sb.client_id}"
    assert claims["exp"] - claims["iat"] == 300
    assert claims["function"] == {"permissions": ["openfaas-fn:*"]}  # no audience unless asked


def test_repeated_audience_narrows_the_token(sb: Sandbox, client: httpx.Client) -> None:
    answer = exchange(
        client,
        sb,
        client_credentials(client, sb),
        scope="function",
        audience=["openfaas-fn:echo-auth", "openfaas-fn:env-auth"],
    )
    function = claims_of(answer.json()["access_token"])["function"]
    assert function["audience"] == ["openfaas-fn:echo-auth", "openfaas-fn:env-auth"]


@pytest.mark.parametrize(
    "token_type",
    [
        "urn:ietf:params:oauth:token-type:id_token",
        "urn:ietf:params:oauth:token-type:access_token",
        "urn:ietf:params:oauth:token-type:jwt",
    ],
)
def test_subject_token_types(sb: Sandbox, client: httpx.Client, token_type: str) -> None:
    answer = exchange(
        client, sb, sb.issue_idp_token("alice"), scope="function", subject_token_type=token_type
    )
    assert answer.status_code == 200
    assert claims_of(answer.json()["access_token"])["sub"] == "fed:alice"


def test_api_token_then_function_token(sb: Sandbox, client: httpx.Client) -> None:
    answer = exchange(client, sb, sb.issue_idp_token("alice", email="alice@example.com"))
    assert answer.status_code == 200
    body = answer.json()
    assert (
        body["issued_token_type"] == "urn:ietf:params:oauth:token-type:id_token"
        and "scope" not in body
    )
    api = claims_of(body["access_token"])
    assert api["iss"] == sb.gateway_url and api["sub"] == "fed:alice"
    assert api["policy"] == ["sandbox-invoke"] and api["fed:iss"] == sb.authority
    assert api["email"] == "alice@example.com"
    answer = exchange(
        client, sb, body["access_token"], scope="function", audience="openfaas-fn:env-auth"
    )
    assert answer.status_code == 200
    function_claims = claims_of(answer.json()["access_token"])
    assert function_claims["sub"] == "fed:alice"
    assert function_claims["function"] == {
        "permissions": ["openfaas-fn:*"],
        "audience": ["openfaas-fn:env-auth"],
    }
    assert sb.count("/oauth/token", token="api") == 1 and sb.count("/oauth/token", token="idp") == 1


def test_function_token_cannot_be_exchanged(sb: Sandbox, client: httpx.Client) -> None:
    answer = exchange(client, sb, sb.issue_function_token(["*"]), scope="function")
    assert_invalid_request(answer, "invalid subject_token: a function token cannot be exchanged")


@pytest.mark.parametrize(
    "form, error, description",
    [
        ({"subject_token": None}, "invalid_request", "subject_token is required"),
        ({"subject_token_type": None}, "invalid_request", "subject_token_type is required"),
        (
            {"subject_token_type": "urn:x"},
            "invalid_request",
            "unsupported subject_token_type: urn:x",
        ),
        ({"grant_type": None}, "invalid_request", "grant_type is required"),
        (
            {"grant_type": "client_credentials"},
            "unsupported_grant_type",
            "unsupported grant_type: client_credentials",
        ),
        (
            {"subject_token": "garbage"},
            "invalid_request",
            "invalid subject_token: token is malformed",
        ),
    ],
)
def test_bad_parameters(
    sb: Sandbox, client: httpx.Client, form: dict[str, Any], error: str, description: str
) -> None:
    form = {"subject_token": sb.issue_idp_token("alice"), **form}
    token = form.pop("subject_token")
    answer = (
        exchange(client, sb, token, **form)
        if token
        else client.post(
            f"{sb.gateway_url}/oauth/token",
            data={
                k: v
                for k, v in {
                    "grant_type": TOKEN_EXCHANGE,
                    "subject_token_type": "urn:ietf:params:oauth:token-type:id_token",
                    **form,
                }.items()
                if v is not None
            },
        )
    )
    assert answer.status_code == 400
    assert answer.json() == {"error": error, "error_description": description}


def test_repeated_single_parameter(sb: Sandbox, client: httpx.Client) -> None:
    answer = exchange(client, sb, sb.issue_idp_token("alice"), scope=["function", "function"])
    assert_invalid_request(answer, "parameter scope is repeated")


def test_get_is_not_allowed(sb: Sandbox, client: httpx.Client) -> None:
    answer = client.get(f"{sb.gateway_url}/oauth/token")
    assert answer.status_code == 405 and answer.headers["Allow"] == "POST"


def test_bad_signature(sb: Sandbox, client: httpx.Client) -> None:
    good = sb.issue_idp_token("alice")
    kid = jwt.get_unverified_header(good)["kid"]
    forged = SigningKey.generate().sign(claims_of(good), headers={"kid": kid})
    assert_invalid_request(
        exchange(client, sb, forged), "invalid subject_token: signature verification failed"
    )


def test_untrusted_issuer(sb: Sandbox, client: httpx.Client) -> None:
    foreign = SigningKey.generate().sign(
        {
            "iss": "https://idp.example.com",
            "sub": "mallory",
            "aud": "x",
            "exp": int(sb.clock()) + 60,
        }
    )
    assert_invalid_request(
        exchange(client, sb, foreign), "issuer not registered: https://idp.example.com"
    )


def test_expired_subject(sb: Sandbox, client: httpx.Client) -> None:
    expired = sb.issue_idp_token("alice", expires_in=-60)
    assert_invalid_request(exchange(client, sb, expired), "invalid subject_token: token is expired")


def test_audience_not_accepted_by_the_issuer(sb: Sandbox, client: httpx.Client) -> None:
    token = sb.issue_idp_token("alice", aud="some-other-client")
    assert_invalid_request(
        exchange(client, sb, token),
        "invalid subject_token: aud not accepted by JwtIssuer sandbox-idp",
    )


def iam_objects(role_spec: dict[str, Any], expiry: str = "30m") -> list[dict[str, Any]]:
    return [
        {
            "apiVersion": "iam.openfaas.com/v1",
            "kind": "JwtIssuer",
            "metadata": {"name": "mine"},
            "spec": {
                "iss": "${FAASAUTH_AUTHORITY}",
                "aud": ["faasauth-sandbox"],
                "tokenExpiry": expiry,
            },
        },
        {
            "apiVersion": "iam.openfaas.com/v1",
            "kind": "Policy",
            "metadata": {"name": "invoke-env"},
            "spec": {
                "statement": [
                    {
                        "sid": "1",
                        "action": ["Function:Invoke"],
                        "effect": "Allow",
                        "resource": ["openfaas-fn:env*", "dev:*"],
                    }
                ]
            },
        },
        {
            "apiVersion": "iam.openfaas.com/v1",
            "kind": "Role",
            "metadata": {"name": "r"},
            "spec": {"policy": ["invoke-env"], **role_spec},
        },
    ]


def test_no_policies_for_subject(
    make_sandbox: Callable[..., Sandbox], client: httpx.Client
) -> None:
    sb = make_sandbox(iam=iam_objects({"principal": {"jwt:sub": ["someone-else"]}}))
    answer = exchange(client, sb, client_credentials(client, sb), scope="function")
    assert_invalid_request(answer, "No policies found for subject: faasauth-sandbox")


def test_lifetime_and_permissions_come_from_iam(
    make_sandbox: Callable[..., Sandbox], client: httpx.Client
) -> None:
    sb = make_sandbox(
        iam=iam_objects({"principal": {"jwt:sub": ["faasauth-sandbox"]}}, expiry="1h30m")
    )
    answer = exchange(client, sb, client_credentials(client, sb), scope="function")
    assert answer.status_code == 200
    assert answer.json()["expires_in"] == 5400
    assert claims_of(answer.json()["access_token"])["function"]["permissions"] == [
        "openfaas-fn:env*",
        "dev:*",
    ]


def test_an_external_issuer_is_found_by_discovery(
    make_sandbox: Callable[..., Sandbox], client: httpx.Client
) -> None:
    other = make_sandbox()
    sb = make_sandbox(
        iam=[
            {
                "apiVersion": "iam.openfaas.com/v1",
                "kind": "JwtIssuer",
                "metadata": {"name": "other"},
                "spec": {"iss": other.authority, "aud": [other.client_id], "tokenExpiry": "10m"},
            },
            {
                "apiVersion": "iam.openfaas.com/v1",
                "kind": "Policy",
                "metadata": {"name": "all"},
                "spec": {
                    "statement": [
                        {"sid": "1", "action": "Function:*", "effect": "Allow", "resource": "*"}
                    ]
                },
            },
            {
                "apiVersion": "iam.openfaas.com/v1",
                "kind": "Role",
                "metadata": {"name": "other-clients"},
                "spec": {
                    "policy": ["all"],
                    "condition": {"StringEqual": {"jwt:iss": [other.authority]}},
                },
            },
        ]
    )
    answer = exchange(client, sb, client_credentials(client, other), scope="function")
    assert answer.status_code == 200, answer.text
    assert answer.json()["expires_in"] == 600
    assert other.count("/.well-known/openid-configuration", origin="idp") == 1
    assert other.count("/jwks") == 1
    exchange(client, sb, client_credentials(client, other), scope="function")
    assert other.count("/jwks") == 1  # cached
    # the sandbox's own IdP stays trusted, but no Role gives its clients a policy
    answer = exchange(client, sb, client_credentials(client, sb), scope="function")
    assert_invalid_request(answer, "No policies found for subject: faasauth-sandbox")
