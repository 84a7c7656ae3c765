"""The sandbox playing a CI platform or Kubernetes: the ambient identity a job or pod gets.

`Sandbox(ci="github"|"gitlab"|"kubernetes")` adds a third origin, "ci", on its own port: an
OpenID issuer (discovery and JWKS, ES256) that the sandbox gateway trusts through a
JwtIssuer whose `aud` is the gateway URL, the audience OpenFaaS CI setups use.

github      The job's variables (`env()`): `GITHUB_ACTIONS=true`,
            `ACTIONS_ID_TOKEN_REQUEST_URL` (with a query string already, as GitHub's) and
            `ACTIONS_ID_TOKEN_REQUEST_TOKEN`. `GET $URL&audience=AUD` with
            `Authorization: bearer $TOKEN` answers `{"count": N, "value": "<JWT>"}`; a missing
            or wrong bearer is 401, as is any request once `revoke_requests()` was called.
            Without `audience`, `aud` is `https://github.com/OWNER`, as GitHub's.
gitlab      `GITLAB_CI=true` and the job's `id_tokens:` variable `OPENFAAS_ID_TOKEN` (the
            name a job chooses; this is the one faasauth's docs use), minted at start with
            `aud` = the gateway URL.
kubernetes  A projected service-account token file (`token_file`), rewritten in place at
            80% of its lifetime as the kubelet does, `aud` = the gateway URL.

Claims follow each platform's documented shape (GitHub: `sub`
`repo:OWNER/REPO:ref:refs/heads/main`, `repository`, `repository_owner`, `ref`, `actor`,
`workflow`, ...; GitLab: `project_path`, `namespace_path`, `ref`, `ref_type`, `user_login`,
...; Kubernetes: `sub` `system:serviceaccount:NS:NAME` and `kubernetes.io`). The default IAM
(no --iam) adds a Role that lets the repository `openfaas/demo` (GitHub `jwt:repository`,
GitLab `jwt:project_path`) or the service account `openfaas-fn:caller` invoke every function:
a job of another repository is refused ("No policies found for subject"), which shows what
a repository-scoped Role does before it is applied to a cluster.
"""

from __future__ import annotations

import os
import secrets
import tempfile
import threading
import uuid
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs

from faasauth.sandbox.iam import JwtIssuer
from faasauth.sandbox.keys import SigningKey, jwks
from faasauth.sandbox.oauth import json_response
from faasauth.sandbox.server import Request, Response, text_response

PLATFORMS = ("github", "gitlab", "kubernetes")
DEFAULT_REPOSITORY = "openfaas/demo"
DEFAULT_SERVICE_ACCOUNT = "openfaas-fn:caller"
GITLAB_VARIABLE = "OPENFAAS_ID_TOKEN"
GITHUB_TOKEN_PATH = "/_apis/distributedtask/hub/build/plans/{plan}/jobs/{job}/idtoken"
DEFAULT_CI_TOKEN_TTL = 300.0


class CiPlatform:
    """The issuer, the token endpoint (GitHub) or variable (GitLab) or file (Kubernetes)."""

    def __init__(
        self,
        platform: str,
        *,
        issuer: str,
        audience: str,
        clock: Callable[[], float],
        token_ttl: float = DEFAULT_CI_TOKEN_TTL,
        repository: str = DEFAULT_REPOSITORY,
        service_account: str = DEFAULT_SERVICE_ACCOUNT,
        token_file: str | Path | None = None,
    ) -> None:
        if platform not in PLATFORMS:
            raise ValueError(f"unknown CI platform {platform!r} (one of {', '.join(PLATFORMS)})")
        self.platform = platform
        self.issuer = issuer
        self.audience = audience
        self.clock = clock
        self.token_ttl = token_ttl
        self.repository = repository
        self.service_account = service_account
        self.key = SigningKey.generate()
        self.request_token = secrets.token_urlsafe(32)
        self.request_path = GITHUB_TOKEN_PATH.format(plan=uuid.uuid4(), job=uuid.uuid4())
        self.minted = 0  # CI tokens issued (GitHub requests answered, GitLab variable, files)
        self.rotations = 0  # Kubernetes file rewrites after the first
        self.refused = 0  # GitHub token requests refused
        self._revoked = False
        self._lock = threading.Lock()
        self._owned_dir: str | None = None
        self._stop = threading.Event()
        self._rotator: threading.Thread | None = None
        self._variable: str | None = None
        self.token_file: Path | None = None
        if platform == "kubernetes":
            if token_file is None:
                self._owned_dir = tempfile.mkdtemp(prefix="faasauth-sandbox-k8s-")
                token_file = Path(self._owned_dir, "var/secrets/tokens/openfaas-token")
            self.token_file = Path(token_file)

    # -- life cycle -----------------------------------------------------------------

    def start(self) -> None:
        if self.platform == "gitlab":
            self._variable = self.mint()
        elif self.platform == "kubernetes":
            self.rotate(first=True)
            self._rotator = threading.Thread(
                target=self._rotate_forever, name="faasauth-sandbox-kubelet", daemon=True
            )
            self._rotator.start()

    def stop(self) -> None:
        self._stop.set()
        if self._rotator is not None:
            self._rotator.join(timeout=5)
        if self._owned_dir is not None:
            import shutil

            shutil.rmtree(self._owned_dir, ignore_errors=True)

    def _rotate_forever(self) -> None:
        while not self._stop.wait(max(self.token_ttl * 0.8, 0.05)):
            self.rotate()

    # -- what the job or pod sees ---------------------------------------------------

    def env(self) -> dict[str, str]:
        if self.platform == "github":
            return {
                "GITHUB_ACTIONS": "true",
                "GITHUB_REPOSITORY": self.repository,
                "ACTIONS_ID_TOKEN_REQUEST_URL": f"{self.issuer}{self.request_path}?api-version=2.0",
                "ACTIONS_ID_TOKEN_REQUEST_TOKEN": self.request_token,
            }
        if self.platform == "gitlab":
            assert self._variable is not None, "the sandbox is not started"
            return {
                "GITLAB_CI": "true",
                "CI_PROJECT_PATH": self.repository,
                GITLAB_VARIABLE: self._variable,
            }
        assert self.token_file is not None
        return {"FAASAUTH_SANDBOX_TOKEN_FILE": str(self.token_file)}

    def claims(
        self, audience: str | None = None, *, repository: str | None = None, **overrides: Any
    ) -> dict[str, Any]:
        """The claims of a token this platform would issue now (before signing);
        `repository` another job's, `overrides` any claim."""
        repository = repository or self.repository
        now = int(self.clock())
        base: dict[str, Any] = {
            "iss": self.issuer,
            "iat": now,
            "nbf": now,
            "exp": now + int(self.token_ttl),
            "jti": str(uuid.uuid4()),
        }
        owner = repository.split("/", 1)[0]
        if self.platform == "github":
            base.update(
                {
                    "aud": audience or f"https://github.com/{owner}",
                    "sub": f"repo:{repository}:ref:refs/heads/main",
                    "repository": repository,
                    "repository_owner": owner,
                    "repository_visibility": "private",
                    "ref": "refs/heads/main",
                    "ref_type": "branch",
                    "sha": secrets.token_hex(20),
                    "actor": "octocat",
                    "workflow": "deploy",
                    "job_workflow_ref": f"{repository}/.github/workflows/deploy.yml"
                    "@refs/heads/main",
                    "event_name": "push",
                    "run_id": "1",
                    "run_attempt": "1",
                    "runner_environment": "github-hosted",
                }
            )
        elif self.platform == "gitlab":
            base.update(
                {
                    "aud": audience or self.audience,
                    "sub": f"project_path:{repository}:ref_type:branch:ref:main",
                    "project_path": repository,
                    "namespace_path": owner,
                    "ref": "main",
                    "ref_type": "branch",
                    "ref_protected": "true",
                    "user_login": "gitlab-user",
                    "pipeline_source": "push",
                    "job_id": "1",
                }
            )
        else:
            namespace, _, name = self.service_account.partition(":")
            base.update(
                {
                    "aud": [audience or self.audience],
                    "sub": f"system:serviceaccount:{namespace}:{name}",
                    "kubernetes.io": {
                        "namespace": namespace,
                        "serviceaccount": {"name": name, "uid": str(uuid.uuid4())},
                    },
                }
            )
        base.update(overrides)
        return base

    def mint(
        self, audience: str | None = None, *, repository: str | None = None, **overrides: Any
    ) -> str:
        """A signed token of this platform's shape (counted in `minted`)."""
        token = self.key.sign(self.claims(audience, repository=repository, **overrides))
        with self._lock:
            self.minted += 1
        return token

    def rotate(self, *, first: bool = False) -> str:
        """Kubernetes: write a new token to the file, replacing the old one atomically."""
        assert self.token_file is not None, "only the kubernetes platform has a token file"
        token = self.mint()
        self.token_file.parent.mkdir(parents=True, exist_ok=True)
        temporary = self.token_file.with_name(f"..{self.token_file.name}.{uuid.uuid4().hex}")
        descriptor = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(descriptor, "w", encoding="ascii") as handle:
            handle.write(token)  # the kubelet writes the bare token, no newline
        os.replace(temporary, self.token_file)
        if not first:
            with self._lock:
                self.rotations += 1
        return token

    def revoke_requests(self) -> None:
        """GitHub: from now on the token endpoint answers 401 (as after the job ended)."""
        self._revoked = True

    # -- the JwtIssuer and default IAM ----------------------------------------------

    def jwt_issuer(self) -> JwtIssuer:
        return JwtIssuer(f"sandbox-ci-{self.platform}", self.issuer, (self.audience,), 300.0)

    def default_documents(self, namespaces: Sequence[str]) -> list[tuple[str, Any]]:
        """A Policy and a Role binding it to the allowed repository or service account."""
        meta = {"namespace": "openfaas"}
        if self.platform == "github":
            condition = {"jwt:iss": [self.issuer], "jwt:repository": [DEFAULT_REPOSITORY]}
        elif self.platform == "gitlab":
            condition = {"jwt:iss": [self.issuer], "jwt:project_path": [DEFAULT_REPOSITORY]}
        else:
            namespace, _, name = DEFAULT_SERVICE_ACCOUNT.partition(":")
            condition = {
                "jwt:iss": [self.issuer],
                "jwt:sub": [f"system:serviceaccount:{namespace}:{name}"],
            }
        policy = {
            "apiVersion": "iam.openfaas.com/v1",
            "kind": "Policy",
            "metadata": {"name": f"ci-{self.platform}-invoke", **meta},
            "spec": {
                "statement": [
                    {
                        "sid": "invoke-from-ci",
                        "action": ["Function:Invoke"],
                        "effect": "Allow",
                        "resource": [f"{ns}:*" for ns in namespaces],
                    }
                ]
            },
        }
        role = {
            "apiVersion": "iam.openfaas.com/v1",
            "kind": "Role",
            "metadata": {"name": f"ci-{self.platform}-deployers", **meta},
            "spec": {
                "policy": [f"ci-{self.platform}-invoke"],
                "condition": {"StringEqual": condition},
            },
        }
        origin = f"default IAM for --ci {self.platform}"
        return [(origin, policy), (origin, role)]

    # -- HTTP -----------------------------------------------------------------------

    def configuration(self) -> dict[str, Any]:
        return {
            "issuer": self.issuer,
            "jwks_uri": f"{self.issuer}/.well-known/jwks",
            "subject_types_supported": ["public", "pairwise"],
            "response_types_supported": ["id_token"],
            "id_token_signing_alg_values_supported": ["ES256"],
            "claims_supported": sorted(self.claims()),
        }

    def handle(self, request: Request) -> Response:
        if request.path == "/.well-known/openid-configuration":
            return json_response(200, self.configuration(), no_store=False)
        if request.path == "/.well-known/jwks":
            return json_response(200, jwks([self.key]), no_store=False)
        if self.platform == "github" and request.path == self.request_path:
            return self._github_token(request)
        return text_response(404, "Not Found\n")

    def _github_token(self, request: Request) -> Response:
        if request.method != "GET":
            return text_response(405, "Method Not Allowed\n")
        authorization = request.header("Authorization") or ""
        scheme, _, presented = authorization.partition(" ")
        if (
            self._revoked
            or scheme.lower() != "bearer"
            or not secrets.compare_digest(presented.strip(), self.request_token)
        ):
            with self._lock:
                self.refused += 1
            return json_response(
                401, {"message": "Unauthorized: the request token is not valid for this job"}
            )
        query = parse_qs(request.query, keep_blank_values=True)
        if not query.get("api-version"):  # GitHub's endpoint wants the query it was given
            return json_response(400, {"message": "api-version is required"})
        audience = (query.get("audience") or [""])[-1] or None
        token = self.mint(audience)
        return json_response(200, {"count": len(token), "value": token})


def describe(platform: CiPlatform) -> str:
    where = {
        "github": "ACTIONS_ID_TOKEN_REQUEST_URL/_TOKEN",
        "gitlab": f"the variable {GITLAB_VARIABLE}",
        "kubernetes": f"the file {platform.token_file} (FAASAUTH_SANDBOX_TOKEN_FILE)",
    }[platform.platform]
    subject = (
        f"service account {platform.service_account}"
        if platform.platform == "kubernetes"
        else f"repository {platform.repository}"
    )
    allowed = DEFAULT_SERVICE_ACCOUNT if platform.platform == "kubernetes" else DEFAULT_REPOSITORY
    return (
        f"ci        {platform.platform} issuer {platform.issuer}, {subject}, tokens via {where}, "
        f"{platform.token_ttl:g} s; default IAM allows {allowed}"
    )
