"""The ambient identity sources themselves (see faasauth.idp.ambient for the overview and
detection): GitHub Actions, GitLab CI, token files, and the Buildkite/CircleCI agents."""

from __future__ import annotations

import hashlib
import os
import re
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, Protocol
from urllib.parse import urlsplit

from faasauth.errors import (
    LoginFailed,
    MalformedResponse,
    TransientFailure,
    UsageFailure,
)

if TYPE_CHECKING:
    import httpx

KUBERNETES_TOKEN_FILE = "/var/secrets/tokens/openfaas-token"
GITLAB_VARIABLE = "OPENFAAS_ID_TOKEN"
GITHUB_URL = "ACTIONS_ID_TOKEN_REQUEST_URL"
GITHUB_TOKEN = "ACTIONS_ID_TOKEN_REQUEST_TOKEN"
GITHUB_PERMISSION_HINT = "give the job `permissions: id-token: write`"
DEFAULT_TIMEOUT = 30.0
_ENV_NAME = re.compile(r"[^A-Z0-9_]|^[^A-Z_]")


class AmbientSource(Protocol):
    kind: str
    audience: str

    @property
    def identity(self) -> str: ...

    def describe(self) -> str: ...

    def settings(self) -> dict[str, str]: ...

    def fetch(self, audience: str | None = None, *, client: httpx.Client | None = None) -> str: ...


def _digest(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:16]


def _checked(token: str, where: str, hint: str | None = None) -> str:
    from faasauth.config.secrets import jwt_problem

    token = token.strip()
    problem = jwt_problem(token)
    if problem is not None:
        what, problem_hint = problem
        raise UsageFailure(f"{where} {what}", hint=problem_hint or hint)
    return token


def _host_port(url: str) -> str:
    try:
        parts = urlsplit(url)
        port = parts.port or (443 if parts.scheme == "https" else 80)
    except ValueError:
        return "an invalid URL"
    return f"{parts.hostname}:{port}"


# -- GitHub Actions -------------------------------------------------------------------


class GitHubActions:
    """GitHub Actions' ID token request endpoint, asked afresh on every fetch."""

    kind = "github"

    def __init__(self, audience: str, env: Mapping[str, str], *, timeout: float = DEFAULT_TIMEOUT):
        self.audience = audience
        self.env = env
        self.timeout = timeout

    @property
    def identity(self) -> str:
        # The request URL names the job (plan and job ids); it is not the secret, the request
        # token is. Hashed all the same: identities end up in cache keys.
        return f"ambient|github|{self.audience}|{_digest(self.env.get(GITHUB_URL, ''))}"

    def describe(self) -> str:
        repository = self.env.get("GITHUB_REPOSITORY")
        job = f" for {repository}" if repository else ""
        return f"GitHub Actions ID token{job} (audience {self.audience})"

    def settings(self) -> dict[str, str]:
        return {"kind": self.kind, "audience": self.audience}

    def fetch(self, audience: str | None = None, *, client: httpx.Client | None = None) -> str:
        """A new ID token from GitHub; `client`: the command's (proxies, --cacert,
        --verbose) when given, else one made the same way (faasauth.http.make_client: the
        proxy variables, loopback always direct, SSL_CERT_FILE)."""
        from faasauth.http import keep_httpx_cli_out

        keep_httpx_cli_out()
        import httpx

        url, request_token = github_request(self.env)
        asking = "requesting a GitHub Actions ID token"
        what = f"{asking} ({_host_port(url)})"
        owned = client is None
        if client is None:
            from faasauth.config.settings import Settings
            from faasauth.http import make_client

            client = make_client(Settings(timeout=self.timeout,
                                          cacert=self.env.get("SSL_CERT_FILE") or None))
        try:
            from faasauth.http import fetch

            response = fetch(
                client, "GET", with_audience(url, audience or self.audience),
                headers={"Authorization": f"bearer {request_token}", "Accept": "application/json"},
                what=what, timeout=self.timeout,
            )
            body: Any = response.json() if response.status_code == 200 else None
        except httpx.HTTPError as exc:
            raise _transport_failure(exc, asking, self.timeout) from None
        except ValueError:
            raise MalformedResponse(f"{what}: the answer is not JSON") from None
        finally:
            if owned:
                client.close()
        if response.status_code in (401, 403):
            raise LoginFailed(
                f"{what}: refused ({response.status_code})",
                hint=f"{GITHUB_PERMISSION_HINT}; the request token is valid only while "
                "the job runs",
            )
        if response.status_code >= 500:
            raise TransientFailure(f"{what}: the server answered {response.status_code}")
        if response.status_code != 200:
            raise MalformedResponse(f"{what}: unexpected answer {response.status_code}")
        value = body.get("value") if isinstance(body, dict) else None
        if not isinstance(value, str):
            raise MalformedResponse(f'{what}: the answer has no token (no "value")')
        try:
            return _checked(value, "the GitHub Actions ID token answer")
        except UsageFailure as exc:
            raise MalformedResponse(exc.message) from None


def with_audience(url: str, audience: str) -> str:
    """The request URL with `audience` added to the query it already has (httpx's `params=`
    would replace that query, and with it GitHub's `api-version`)."""
    from urllib.parse import quote

    base, _, fragment = url.partition("#")
    separator = "&" if "?" in base else "?"
    return f"{base}{separator}audience={quote(audience, safe='')}" + (
        f"#{fragment}" if fragment else ""
    )


def github_request(env: Mapping[str, str]) -> tuple[str, str]:
    """The runner's request URL and token, checked before either is used: the token must be
    one an HTTP header can carry, the URL https:// (or http:// to this machine) with a host.
    Neither value is ever shown: the URL's host and port at most."""
    from faasauth.http import is_loopback

    url, token = (env.get(GITHUB_URL) or "").strip(), (env.get(GITHUB_TOKEN) or "").strip()
    if not url or not token:
        raise LoginFailed(
            f"no GitHub Actions ID token: {GITHUB_URL} and {GITHUB_TOKEN} are not set",
            hint=GITHUB_PERMISSION_HINT,
        )
    hint = ("GitHub's runner sets it for a job with `permissions: id-token: write`: check that "
            "nothing in the job overrides it")
    if not _HEADER_TOKEN.fullmatch(token):
        raise UsageFailure(
            f"{GITHUB_TOKEN} cannot be sent: it holds a line break, a space or another "
            "character an HTTP header cannot carry", hint=hint,
        )
    try:
        parts = urlsplit(url)
        host = parts.hostname or ""
        parts.port  # noqa: B018 - raises ValueError for a bad port
    except ValueError:
        raise UsageFailure(f"{GITHUB_URL} is not a valid URL", hint=hint) from None
    if not url.isprintable() or any(c.isspace() for c in url) or not host or parts.username:
        raise UsageFailure(f"{GITHUB_URL} is not a valid URL (it needs a host, and no "
                           "spaces, control characters or user name)", hint=hint)
    if parts.scheme != "https" and not (parts.scheme == "http" and is_loopback(host)):
        raise UsageFailure(
            f"{GITHUB_URL} must be an https:// URL: {parts.scheme or 'no scheme'} to "
            f"{_host_port(url)} would carry {GITHUB_TOKEN} in clear", hint=hint,
        )
    return url, token


_HEADER_TOKEN = re.compile(r"[\x21-\x7e]+")  # visible ASCII: what a header value may carry


def _transport_failure(exc: Exception, what: str, timeout: float) -> TransientFailure:
    """faasauth's wording for a failed request (faasauth.http.transport_failure), never
    the library's own text, which may quote a header value."""
    from faasauth.config.settings import Settings
    from faasauth.http import transport_failure

    return transport_failure(exc, what, Settings(timeout=timeout))


# -- GitLab CI ------------------------------------------------------------------------


def gitlab_variable_for(audience: str) -> str:
    """The variable name the `id` package (twine) derives from an audience."""
    return _ENV_NAME.sub("_", audience.upper()) + "_ID_TOKEN"


class GitLabCI:
    """The JWT a GitLab job's `id_tokens:` puts in a variable (fixed for the job)."""

    kind = "gitlab"

    def __init__(self, audience: str, env: Mapping[str, str], variable: str = GITLAB_VARIABLE):
        self.audience = audience
        self.env = env
        self.variable = variable

    @property
    def identity(self) -> str:
        job = self.env.get("CI_JOB_ID", "")
        return f"ambient|gitlab|{self.audience}|{self.variable}|{job}"

    def describe(self) -> str:
        project = self.env.get("CI_PROJECT_PATH")
        return f"GitLab CI ID token in ${self.variable}" + (f" for {project}" if project else "")

    def settings(self) -> dict[str, str]:
        return {"kind": self.kind, "audience": self.audience, "variable": self.variable}

    def fetch(self, audience: str | None = None, *, client: httpx.Client | None = None) -> str:
        value = self.env.get(self.variable)
        if not value:
            raise LoginFailed(
                f"no GitLab CI ID token: the variable {self.variable} is not set",
                hint=gitlab_hint(audience or self.audience, self.variable),
            )
        return _checked(value, f"the variable {self.variable}")


def gitlab_hint(audience: str, variable: str = GITLAB_VARIABLE) -> str:
    return f"add to the job: id_tokens: {{{variable}: {{aud: {audience}}}}}"


# -- token files (Kubernetes projected tokens) ----------------------------------------


class TokenFile:
    """A token file read afresh on every fetch (the kubelet rewrites projected tokens)."""

    def __init__(self, audience: str, path: str, *, kind: str = "file") -> None:
        self.audience = audience
        self.path = path
        self.kind = kind

    @property
    def identity(self) -> str:
        return f"ambient|file|{os.path.abspath(self.path)}"

    def describe(self) -> str:
        if self.kind == "kubernetes":
            return f"Kubernetes service-account token {self.path}"
        return f"the token file {self.path} (re-read on each renewal)"

    def settings(self) -> dict[str, str]:
        return {"kind": self.kind, "audience": self.audience, "path": self.path}

    def fetch(self, audience: str | None = None, *, client: httpx.Client | None = None) -> str:
        """The file's token now (its audience is the one the file was issued for)."""
        from faasauth.config.secrets import read_jwt_file

        return read_jwt_file(self.path)


# -- Buildkite and CircleCI (their agents' commands) ----------------------------------


class AgentCommand:
    """A token printed by the CI agent's own command (Buildkite, CircleCI)."""

    def __init__(
        self, kind: str, audience: str, env: Mapping[str, str], *, timeout: float = DEFAULT_TIMEOUT
    ):
        if kind not in AGENT_COMMANDS:
            raise ValueError(kind)
        self.kind = kind
        self.audience = audience
        self.env = env
        self.timeout = timeout

    @property
    def identity(self) -> str:
        job = self.env.get("BUILDKITE_JOB_ID") or self.env.get("CIRCLE_WORKFLOW_JOB_ID") or ""
        return f"ambient|{self.kind}|{self.audience}|{job}"

    def describe(self) -> str:
        return f"{AGENT_COMMANDS[self.kind][0]} OIDC token (audience {self.audience})"

    def settings(self) -> dict[str, str]:
        return {"kind": self.kind, "audience": self.audience}

    def argv(self, audience: str) -> list[str]:
        import json

        if self.kind == "buildkite":
            return ["buildkite-agent", "oidc", "request-token", "--audience", audience]
        return ["circleci", "run", "oidc", "get", "--claims", json.dumps({"aud": audience})]

    def fetch(self, audience: str | None = None, *, client: httpx.Client | None = None) -> str:
        import subprocess

        name, program = AGENT_COMMANDS[self.kind]
        argv = self.argv(audience or self.audience)
        what = f"requesting a {name} OIDC token with `{program}`"
        try:
            done = subprocess.run(
                argv,
                capture_output=True,
                text=True,
                timeout=self.timeout,
                env=dict(self.env),
                stdin=subprocess.DEVNULL,
                check=False,
            )
        except FileNotFoundError:
            raise LoginFailed(f"{what}: {program} is not on PATH") from None
        except subprocess.TimeoutExpired:
            raise TransientFailure(f"{what}: timed out after {self.timeout:g}s") from None
        except OSError as exc:
            raise LoginFailed(f"{what}: {exc.strerror or exc}") from None
        if done.returncode != 0:
            from faasauth.http import first_line

            said = first_line(done.stderr or done.stdout)
            raise LoginFailed(
                f"{what}: exit status {done.returncode}" + (f": {said}" if said else "")
            )
        try:
            return _checked(done.stdout, f"the output of {program}")
        except UsageFailure as exc:
            raise MalformedResponse(exc.message) from None


AGENT_COMMANDS = {
    "buildkite": ("Buildkite", "buildkite-agent"),
    "circleci": ("CircleCI", "circleci"),
}
