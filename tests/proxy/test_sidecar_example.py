"""examples/kubernetes: `faasauth proxy` as a pod's sidecar (issue 23, item 1).

The manifest is valid Kubernetes (kubernetes-validate's bundled schemas, strict: an unknown
or misspelt field fails; no network), keeps its promises (no secret, non-root, read-only
root with an emptyDir home, the token mounted in the sidecar only, resources, a probe the
kubelet can run), and its sidecar command, run with the manifest's environment against
`faasauth sandbox --ci kubernetes`, serves the app's URL: 200 through the proxy, and still
200 after the kubelet has rewritten the token file, which is read again."""

from __future__ import annotations

import json
import os
import re
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml

from faasauth.sandbox import Sandbox

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "kubernetes"
MANIFEST = EXAMPLE / "deployment.yaml"
PORT = 8181
OLDEST = "1.29.0"  # native sidecars (an init container with restartPolicy: Always)


def documents() -> list[dict[str, Any]]:
    return list(yaml.safe_load_all(MANIFEST.read_text()))


def pod() -> dict[str, Any]:
    (deployment,) = [d for d in documents() if d["kind"] == "Deployment"]
    spec: dict[str, Any] = deployment["spec"]["template"]["spec"]
    return spec


def sidecar() -> dict[str, Any]:
    (found,) = [c for c in pod()["initContainers"] if c["name"] == "faasauth-proxy"]
    return found


def env_of(container: dict[str, Any]) -> dict[str, str]:
    return {e["name"]: e["value"] for e in container["env"]}


# -- the manifest ---------------------------------------------------------------------


@pytest.mark.parametrize("version", [OLDEST, "latest"])
def test_the_manifest_is_valid_kubernetes_without_the_network(
    version: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    import kubernetes_validate

    def no_network(*args: object) -> None:
        raise AssertionError("the validator tried the network")

    monkeypatch.setattr(socket.socket, "connect", no_network)
    wanted = kubernetes_validate.latest_version() if version == "latest" else version
    kinds = []
    for document in documents():
        kubernetes_validate.validate(document, wanted, strict=True)
        kinds.append(document["kind"])
    assert kinds == ["ServiceAccount", "Deployment"]


def test_the_validator_catches_a_misspelt_field() -> None:
    import kubernetes_validate

    deployment = documents()[1]
    deployment["spec"]["template"]["spec"]["initContainers"][0]["securitycontext"] = {}
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(deployment, OLDEST, strict=True)


def test_the_manifest_needs_no_secret_and_runs_locked_down() -> None:
    text = MANIFEST.read_text()
    assert "secretKeyRef" not in text and "secret:" not in text and "envFrom" not in text
    spec = pod()
    assert spec["automountServiceAccountToken"] is False
    assert spec["securityContext"]["runAsNonRoot"] is True
    assert spec["securityContext"]["runAsUser"] != 0
    volumes = {v["name"]: v for v in spec["volumes"]}
    proxy = sidecar()
    assert proxy["restartPolicy"] == "Always"
    for container in [proxy, *spec["containers"]]:
        context = container["securityContext"]
        assert context["readOnlyRootFilesystem"] is True
        assert context["allowPrivilegeEscalation"] is False
        assert context["capabilities"]["drop"] == ["ALL"]
        assert container["resources"]["requests"] and container["resources"]["limits"]["memory"]
    # the token: projected for the gateway, mounted read-only in the sidecar alone
    env = env_of(proxy)
    mounts = {m["name"]: m for m in proxy["volumeMounts"]}
    (source,) = volumes["openfaas-token"]["projected"]["sources"]
    token = source["serviceAccountToken"]
    assert token["audience"] == env["OPENFAAS_URL"]
    assert mounts["openfaas-token"]["readOnly"] is True
    assert f"{mounts['openfaas-token']['mountPath']}/{token['path']}" == env["TOKEN_FILE"]
    assert all("volumeMounts" not in c for c in spec["containers"])
    # FAASAUTH_HOME: a writable emptyDir under the read-only root, kept in memory
    assert mounts["faasauth-home"]["mountPath"] == env["FAASAUTH_HOME"]
    assert volumes["faasauth-home"]["emptyDir"]["medium"] == "Memory"
    assert env["FAASAUTH_TOKEN_STORE"] == "file"


def test_the_ports_and_probes_agree() -> None:
    proxy = sidecar()
    assert f"faasauth proxy --port {PORT}" in proxy["args"][0]
    assert PORT != 8080  # the proxy refuses the usual gateway port-forward
    for probe in ("startupProbe", "readinessProbe"):
        command = proxy[probe]["exec"]["command"]  # loopback: the kubelet's dials cannot reach it
        assert command[0] == "python3" and f"('127.0.0.1', {PORT})" in command[2]
    (app,) = pod()["containers"]
    assert env_of(app)["FUNCTIONS_URL"] == f"http://127.0.0.1:{PORT}/function"


def test_the_dockerfile_copies_all_a_build_needs() -> None:
    try:
        import tomllib
    except ImportError:  # Python 3.10
        import tomli as tomllib
    root = EXAMPLE.parents[1]
    project = tomllib.loads((root / "pyproject.toml").read_text())
    copied = set()
    for line in (EXAMPLE / "Dockerfile").read_text().splitlines():
        if line.startswith("COPY ") and "--from" not in line:
            copied.update(word.rstrip("/") for word in line.split()[1:-1])
    needed = {"pyproject.toml", project["project"]["readme"], *project["project"]["license-files"],
              *project["tool"]["hatch"]["build"]["targets"]["wheel"]["packages"]}
    needed |= {p.split("/")[0] for p in
               project["tool"]["hatch"]["build"]["targets"]["wheel"]["shared-data"]}
    assert needed <= copied, needed - copied
    assert all((root / name).exists() for name in copied)
    assert re.search(r"^USER [0-9]+:[0-9]+$", (EXAMPLE / "Dockerfile").read_text(), re.M)


# -- the sidecar, run against the sandbox playing Kubernetes --------------------------


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def _here(value: Any, port: int) -> Any:
    """A piece of the manifest with the proxy's port replaced (8181 may be taken here)."""
    return json.loads(json.dumps(value).replace(str(PORT), str(port)))


def _probe(container: dict[str, Any], name: str, env: dict[str, str]) -> bool:
    command = container[name]["exec"]["command"]
    done = subprocess.run([sys.executable, *command[1:]], env=env, capture_output=True,
                          timeout=10)
    return done.returncode == 0


def _stored_login(home: Path) -> dict[str, Any]:
    entries = [json.loads(f.read_text()) for f in (home / "tokens").glob("*.json")]
    (login,) = [e["value"] for e in entries if e["key"].startswith("login|")]
    value: dict[str, Any] = login
    return value


def test_the_sidecar_serves_the_app_and_survives_a_token_rotation(tmp_path: Path) -> None:
    port = _free_port()
    proxy = _here(sidecar(), port)
    (app,) = _here(pod()["containers"], port)
    token_file = tmp_path / "var/secrets/tokens/openfaas-token"
    home = tmp_path / "var/lib/faasauth"
    home.mkdir(parents=True)
    with Sandbox(ci="kubernetes", ci_token_ttl=600, ci_token_file=token_file,
                 log=open(os.devnull, "w")) as sb:
        # Tokens that live 20 s: within faasauth's renewal margin, so every new exchange
        # reads the file again, as it would near a real expiry.
        sb.ci.token_ttl = 20
        first = sb.ci.rotate()
        env = env_of(proxy)
        env.update(OPENFAAS_URL=sb.gateway_url, TOKEN_FILE=str(token_file),
                   FAASAUTH_HOME=str(home), NO_PROXY="*",
                   PATH=os.path.dirname(sys.executable) + os.pathsep + os.environ["PATH"])
        log = tmp_path / "sidecar.log"
        with open(log, "wb") as err:
            child = subprocess.Popen(proxy["command"] + proxy["args"], env=env,
                                     stdout=subprocess.DEVNULL, stderr=err)
        try:
            deadline = time.monotonic() + 30
            while not _probe(proxy, "startupProbe", env):
                assert child.poll() is None, log.read_text()
                assert time.monotonic() < deadline, log.read_text()
                time.sleep(0.1)
            assert _probe(proxy, "readinessProbe", env)
            assert _stored_login(home)["id_token"] == first
            functions = env_of(app)["FUNCTIONS_URL"]
            answer = httpx.post(f"{functions}/echo-auth", content=b"hi", timeout=10)
            assert (answer.status_code, answer.text) == (200, "hi"), answer.text

            second = sb.ci.rotate()  # the kubelet rewrites the file in place
            assert second != first
            again = httpx.post(f"{functions}/echo-auth", content=b"again", timeout=10)
            assert (again.status_code, again.text) == (200, "again")
            other = httpx.post(f"{functions}/env-auth", content=b"", timeout=10)
            assert other.status_code == 200, other.text  # a new exchange: the new token
            assert _stored_login(home)["id_token"] == second
            assert sb.count("/function/echo-auth", status=200) == 2
            assert sb.count("/oauth/token", origin="gateway", status=200) == 2
        finally:
            child.send_signal(signal.SIGTERM)  # what the kubelet sends: drain, then exit
            code = child.wait(timeout=40)
        assert code == 0, log.read_text()
        said = log.read_text()
        assert "Traceback" not in said and first not in said and second not in said
        assert "POST /function/echo-auth 200" in said
