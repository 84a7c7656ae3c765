"""Ambient identities: the ID token a CI job or a pod is given without a secret.

Each source is a small object with a stable `kind` and `identity`, a secret-free
`describe()`, `settings()` to store in a login record (no secret: GitHub's request token is
read from the environment on every fetch) and `fetch()`, which returns a fresh JWT:

    github      GET $ACTIONS_ID_TOKEN_REQUEST_URL&audience=AUD with
                `Authorization: bearer $ACTIONS_ID_TOKEN_REQUEST_TOKEN` -> {"value": JWT}
                (the job needs `permissions: id-token: write`)
    gitlab      the job's `id_tokens:` variable, OPENFAAS_ID_TOKEN unless named otherwise
                (also found: `<AUD>_ID_TOKEN`, the name the `id` package derives)
    buildkite   `buildkite-agent oidc request-token --audience AUD`
    circleci    `circleci run oidc get --claims '{"aud": AUD}'`
    file        a token file re-read on every fetch: a Kubernetes projected service-account
                token (default /var/secrets/tokens/openfaas-token, the OpenFaaS SDK's
                path; kind "kubernetes") or any file the user names (kind "file")

`detect(env, audience)` returns the first source present, or raises LoginFailed (exit 4)
saying what it looked for. `from_settings(settings, env)` rebuilds a stored source.
`check_audience(token, gateway, source)` refuses a token whose `aud` names neither the
gateway it is about to be exchanged at nor the audience asked for (exit 2).

Hand-written rather than PyPI's `id` (`id.detect_credential`): `id` returns a token, not
the source it came from, so a stored login could not say where to renew from without its
private `id._internal` detectors; it reads `os.environ` itself, makes its requests with
urllib3 (proxy variables and --cacert ignored, a 30 s timeout of its own, messages with
server bodies and no port), derives GitLab's variable name from the audience (for a gateway
URL: `HTTPS___GATEWAY_EXAMPLE_COM_ID_TOKEN`) and does not read Kubernetes token files. Its
import costs about 75-120 ms (urllib3), while httpx is loaded by faasauth anyway.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from faasauth.errors import LoginFailed, UsageFailure
from faasauth.idp.ambient_sources import (
    AGENT_COMMANDS,
    DEFAULT_TIMEOUT,
    GITHUB_PERMISSION_HINT,
    GITHUB_TOKEN,
    GITHUB_URL,
    GITLAB_VARIABLE,
    KUBERNETES_TOKEN_FILE,
    AgentCommand,
    AmbientSource,
    GitHubActions,
    GitLabCI,
    TokenFile,
    gitlab_hint,
    gitlab_variable_for,
    with_audience,
)

__all__ = [
    "KUBERNETES_TOKEN_FILE", "AmbientSource", "GitHubActions", "GitLabCI", "TokenFile",
    "AgentCommand", "detect", "from_settings", "gitlab_variable_for", "with_audience",
]


# -- detection and stored sources -----------------------------------------------------


def detect(
    env: Mapping[str, str],
    audience: str,
    *,
    token_file: str | None = None,
    kubernetes_token_file: str = KUBERNETES_TOKEN_FILE,
    timeout: float = DEFAULT_TIMEOUT,
) -> AmbientSource:
    """The first ambient identity present, without fetching it; LoginFailed when none is.
    `timeout` bounds its requests (GitHub's endpoint, the agents' commands): --timeout.

    Order: an explicit `token_file`; GitHub Actions; GitLab CI; Buildkite; CircleCI; the
    Kubernetes projected token file. A platform that is recognised (GITHUB_ACTIONS,
    GITLAB_CI) but gives no token is an error naming what the job lacks, not a fall-through.
    """
    if token_file:
        return TokenFile(audience, token_file)
    if env.get(GITHUB_URL) and env.get(GITHUB_TOKEN):
        return GitHubActions(audience, env, timeout=timeout)
    if env.get("GITHUB_ACTIONS") == "true":
        raise LoginFailed(
            f"this GitHub Actions job has no ID token ({GITHUB_URL} and {GITHUB_TOKEN} are "
            "not set)",
            hint=GITHUB_PERMISSION_HINT,
        )
    if env.get("GITLAB_CI"):
        for variable in (GITLAB_VARIABLE, gitlab_variable_for(audience)):
            if env.get(variable):
                return GitLabCI(audience, env, variable)
        raise LoginFailed(
            f"this GitLab CI job has no ID token (the variable {GITLAB_VARIABLE} is not set)",
            hint=gitlab_hint(audience),
        )
    if env.get("BUILDKITE") == "true":
        return AgentCommand("buildkite", audience, env, timeout=timeout)
    if env.get("CIRCLECI") == "true":
        return AgentCommand("circleci", audience, env, timeout=timeout)
    if Path(kubernetes_token_file).exists():
        return TokenFile(audience, kubernetes_token_file, kind="kubernetes")
    raise LoginFailed(
        "no ambient identity found: looked for GitHub Actions "
        f"({GITHUB_URL}), GitLab CI ({GITLAB_VARIABLE}), Buildkite, CircleCI and a Kubernetes "
        f"token file ({kubernetes_token_file})",
        hint=f"in GitHub Actions, {GITHUB_PERMISSION_HINT}; in GitLab CI, "
        f"{gitlab_hint(audience)}; elsewhere pass --token-file PATH",
    )


def from_settings(
    settings: Mapping[str, Any], env: Mapping[str, str], *, timeout: float = DEFAULT_TIMEOUT
) -> AmbientSource:
    """The source `settings()` described (from a stored login); UsageFailure if unreadable."""
    kind, audience = settings.get("kind"), settings.get("audience")
    if not isinstance(audience, str) or not audience:
        raise UsageFailure("the stored ambient login has no audience; log in again")
    if kind == "github":
        return GitHubActions(audience, env, timeout=timeout)
    if kind == "gitlab":
        return GitLabCI(audience, env, str(settings.get("variable") or GITLAB_VARIABLE))
    if kind in ("file", "kubernetes") and isinstance(settings.get("path"), str):
        return TokenFile(audience, settings["path"], kind=kind)
    if kind in AGENT_COMMANDS:
        return AgentCommand(str(kind), audience, env, timeout=timeout)
    raise UsageFailure(f"the stored ambient login has an unknown source {kind!r}; log in again")


# -- where an ambient token may go ----------------------------------------------------


def check_audience(token: str, gateway: str, source: AmbientSource) -> None:
    """Refuse (UsageFailure, exit 2) a token whose `aud` names neither the gateway it is
    about to be exchanged at nor the audience asked for with --ambient-audience.

    A CI token with a fixed audience (GitLab's `id_tokens:`, a Kubernetes projected token)
    is a credential for that audience's gateway: sent to another gateway (one a stack file
    in the repository named), that gateway could replay it at the real one."""
    from faasauth.tokens.jwt import unverified_claims

    aud = unverified_claims(token).get("aud")
    audiences = [aud] if isinstance(aud, str) else aud if isinstance(aud, list) else []
    named = [a for a in audiences if isinstance(a, str)]
    if source.audience in named or any(names_gateway(a, gateway) for a in named):
        return
    shown = ", ".join(a[:100] for a in named[:3]) or "none"
    raise UsageFailure(
        f"the token from {source.describe()} is for the audience {shown}, not for the "
        f"gateway {gateway} it would be sent to; not sent",
        hint="name the gateway with -g or OPENFAAS_URL (a stack file may name another); if "
        "the token's audience is this gateway's, say so with --ambient-audience AUD",
    )


def names_gateway(audience: str, gateway: str) -> bool:
    """Whether an `aud` value names the gateway at `gateway` (normalised as faasauth keeps
    it: lower case, no trailing slash): its URL, or its origin, with a default port written
    or not and a trailing slash or not; or its host name alone, with its port or none."""
    from urllib.parse import urlsplit

    value = audience.strip().lower()
    want = urlsplit(gateway)
    try:
        got = urlsplit(value if "://" in value else f"{want.scheme}://{value}")
        if got.scheme != want.scheme or not got.hostname or got.username is not None:
            return False
        default = 443 if want.scheme == "https" else 80
        port = got.port or (None if "://" not in value else default)
        same_port = port in (None, want.port or default)
    except ValueError:
        return False
    path = got.path.rstrip("/")
    return (
        got.hostname.rstrip(".") == (want.hostname or "").rstrip(".")
        and same_port
        and path in ("", want.path.rstrip("/"))
        and not got.query
        and not got.fragment
    )
