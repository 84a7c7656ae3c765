"""The README's command lines run, against the sandbox, so the docs cannot rot.

Every ```sh block runs in document order, as one `sh -e` script, sharing one FAASAUTH_HOME;
example URLs and client ids are those of a sandbox started for the purpose. Install lines
are exercised elsewhere: the test command is what .ci/run runs, and the quick start's main
job is run here after its install prefix. ```yaml CI recipes' faasauth command lines are
checked to parse, and each recipe (GitHub Actions, GitLab CI, the Kubernetes caller with its
```shell handler) runs against a sandbox playing that platform (`Sandbox(ci=...)`).
"""

from __future__ import annotations

import os
import re
import shlex
import subprocess
import sys
from pathlib import Path
from typing import Any, Iterator

import pytest
import yaml

from faasauth.sandbox import Sandbox

REPO = Path(__file__).resolve().parents[1]
README = (REPO / "README.md").read_text(encoding="utf-8")
FENCE = re.compile(r"^```(\w*)\n(.*?)^```", re.MULTILINE | re.DOTALL)
INSTALL_PREFIX = "python3 -m venv .venv && . .venv/bin/activate && "
STACK = """\
version: 1.0
provider:
  name: openfaas
functions:
  figlet:
    image: ghcr.io/openfaas/figlet:latest
    environment:
      jwt_auth: "true"
  env:
    image: ghcr.io/openfaas/alpine:latest
    environment:
      jwt_auth: "true"
"""


def blocks(language: str) -> list[str]:
    return [m.group(2) for m in FENCE.finditer(README) if m.group(1) == language]


def is_install(block: str) -> bool:
    return block.strip().startswith((INSTALL_PREFIX, "pip install", "pipx install"))


def test_readme_test_command_is_what_ci_runs() -> None:
    test_commands = [b.strip() for b in blocks("sh") if b.strip().endswith("&& pytest")]
    assert test_commands, "the README has no test command"
    ci = (REPO / ".ci" / "run").read_text()
    for command in test_commands:
        assert command in ci.splitlines()


def shell_env(tmp_path: Path, extra: dict[str, str]) -> dict[str, str]:
    bin_dir = str(Path(sys.executable).parent)
    home = tmp_path / "user-home"
    home.mkdir(exist_ok=True)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("FAASAUTH_", "OPENFAAS_"))}
    env.update(PATH=bin_dir + os.pathsep + os.environ["PATH"], HOME=str(home),
               FAASAUTH_HOME=str(tmp_path / "faasauth-home"), FAASAUTH_TOKEN_STORE="file")
    env.update(extra)  # a sandbox's env() brings its own throw-away FAASAUTH_HOME
    return env


def test_quick_start_main_job(tmp_path: Path) -> None:
    first = blocks("sh")[0].strip()
    assert first.startswith(INSTALL_PREFIX + "pip install -e . && ")
    main_job = first.split("pip install -e . && ", 1)[1]
    result = subprocess.run(["sh", "-e", "-c", main_job], capture_output=True, text=True,
                            env=shell_env(tmp_path, {}), cwd=tmp_path, timeout=60)
    assert result.returncode == 0, result.stderr
    assert result.stdout == "hello\n"


@pytest.fixture
def example_sandbox(tmp_path: Path) -> Iterator[Sandbox]:
    stack = tmp_path / "stack.yml"
    stack.write_text(STACK)
    with Sandbox(stack=str(stack), client_id="ci-bot", public_client_id="faasauth",
                 auto_approve=True, log=open(os.devnull, "w")) as sb:
        yield sb


def test_every_shell_example_runs(example_sandbox: Sandbox, tmp_path: Path) -> None:
    sb = example_sandbox
    # the browser login's examples: a BROWSER that fetches the link (the sandbox approves)
    fetch = tmp_path / "fetch-browser"
    fetch.write_text(f"#!{sys.executable}\nimport sys, urllib.request\n"
                     "urllib.request.urlopen(sys.argv[1], timeout=20).read()\n")
    fetch.chmod(0o755)
    env = shell_env(tmp_path, {"OPENFAAS_URL": sb.gateway_url, "SECRET": sb.client_secret,
                               "BROWSER": str(fetch)})
    examples = [b for b in blocks("sh") if not is_install(b)]
    assert len(examples) >= 6
    work = tmp_path / "work"
    work.mkdir()
    for block in examples:
        script = (block.replace("https://idp.example.com", sb.authority)
                  .replace("https://gw.example.com", sb.gateway_url))
        result = subprocess.run(["sh", "-e", "-c", script], capture_output=True, text=True,
                                env=env, cwd=work, timeout=120)
        assert result.returncode == 0, f"README block failed:\n{block}\n{result.stderr}"
        assert "Traceback" not in result.stderr
    # The examples did reach the sandbox: logins, exchanges and protected calls.
    assert sb.count("/oauth/token", origin="gateway") >= 1
    assert sb.count("/function/figlet", status=200) >= 2


def recipe_commands() -> list[str]:
    found = []
    for block in blocks("yaml"):
        for line in block.splitlines():
            line = line.strip().removeprefix("- ").removeprefix("run: ")
            if "faasauth " in line and not line.startswith(("pip ", "#")):
                found.append(line[line.index("faasauth "):])
    return found


@pytest.mark.parametrize("command", recipe_commands())
def test_ci_recipe_commands_parse(command: str, tmp_path: Path) -> None:
    args = shlex.split(command)[1:]
    result = subprocess.run([sys.executable, "-m", "faasauth", *args, "--help"],
                            capture_output=True, text=True, env=shell_env(tmp_path, {}),
                            timeout=30)
    assert result.returncode == 0, result.stderr


# -- the CI recipes, each in a sandbox playing its platform ------------------------------

RECIPE_MARKS = {"github": "id-token: write", "gitlab": "id_tokens:",
                "kubernetes": "serviceAccountToken:"}
EXAMPLE_GATEWAYS = ("https://gw.example.com", "http://gateway.openfaas:8080")
POD_TOKEN_FILE = "/var/secrets/tokens/openfaas-token"


def recipe(platform: str) -> Any:
    found = [b for b in blocks("yaml") if RECIPE_MARKS[platform] in b]
    assert len(found) == 1, f"one {platform} recipe expected, found {len(found)}"
    return yaml.safe_load(found[0])


def recipe_steps(platform: str) -> tuple[list[str], dict[str, str]]:
    """The shell steps the job runs (install steps left out) and the variables it sets."""
    if platform == "github":
        job = recipe("github")["jobs"]["deploy"]
        assert job["permissions"]["id-token"] == "write"
        steps = [step["run"] for step in job["steps"]]
        variables = dict(job.get("env") or {})
    elif platform == "gitlab":
        job = recipe("gitlab")["invoke"]
        assert list(job["id_tokens"]) == ["OPENFAAS_ID_TOKEN"]
        variables = dict(job.get("variables") or {})
        assert job["id_tokens"]["OPENFAAS_ID_TOKEN"]["aud"] == variables["OPENFAAS_URL"]
        steps = list(job["script"])
    else:
        pod = recipe("kubernetes")
        mount = pod["containers"][0]["volumeMounts"][0]
        source = pod["volumes"][0]["projected"]["sources"][0]["serviceAccountToken"]
        assert f"{mount['mountPath']}/{source['path']}" == POD_TOKEN_FILE
        variables = {e["name"]: e["value"] for e in pod["containers"][0]["env"]}
        assert source["audience"] == variables["OPENFAAS_URL"]
        handlers = blocks("shell")
        assert len(handlers) == 1 and POD_TOKEN_FILE in handlers[0]
        steps = [handlers[0]]
    return [s for s in steps if not s.strip().startswith("pip install")], variables


def with_sandbox_urls(text: str, sb: Sandbox) -> str:
    for example in EXAMPLE_GATEWAYS:
        text = text.replace(example, sb.gateway_url)
    return text


@pytest.mark.parametrize("platform", ["github", "gitlab", "kubernetes"])
def test_ci_recipe_runs_against_the_sandbox(platform: str, tmp_path: Path) -> None:
    steps, variables = recipe_steps(platform)
    assert any("faasauth auth --ambient" in step for step in steps)
    stack = tmp_path / "stack.yml"
    stack.write_text(STACK)
    with Sandbox(stack=str(stack), ci=platform, log=open(os.devnull, "w")) as sb:
        job = {k: with_sandbox_urls(str(v), sb) for k, v in variables.items()}
        env = shell_env(tmp_path, {**sb.env(), **job})
        for step in steps:
            script = with_sandbox_urls(step, sb)
            if platform == "kubernetes":
                script = script.replace(POD_TOKEN_FILE, sb.env()["FAASAUTH_SANDBOX_TOKEN_FILE"])
            result = subprocess.run(["sh", "-e", "-c", script], capture_output=True, text=True,
                                    env=env, cwd=tmp_path, timeout=60)
            assert result.returncode == 0, f"{platform} step failed:\n{step}\n{result.stderr}"
            assert "Traceback" not in result.stderr
        assert sb.ci.minted >= 1
        assert sb.count("/function/figlet", status=200) == 1
        assert sb.count("/oauth/token", origin="gateway", status=200) >= 1


# -- install commands that work before any registry release (issue 22 item 2) -------------

def project_urls() -> dict[str, str]:
    try:
        import tomllib
    except ImportError:  # Python 3.10
        import tomli as tomllib
    urls: dict[str, str] = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["urls"]
    return urls


def install_lines() -> list[str]:
    """Every install command the README gives: its ```sh install blocks, the CI recipes'
    install steps and the install commands quoted in its text."""
    lines = [b.strip() for b in blocks("sh") if is_install(b)]
    for block in blocks("yaml"):
        for line in block.splitlines():
            line = line.strip().removeprefix("- ").removeprefix("run: ")
            if line.startswith(("pip install", "pipx install")):
                lines.append(line)
    lines += re.findall(r"`((?:pip|pipx) install [^`]*)`", README)
    return lines


def test_install_commands_need_no_registry_release() -> None:
    """No release was published yet: `pip install faasauth` fails. Every install line takes
    the checkout (`.`, `-e .`) or the repository's git URL; the registry name is only
    announced, with the tag that publishes it."""
    repo_git = "git+" + project_urls()["Homepage"]
    found = install_lines()
    assert any(line.startswith("pipx install .") for line in found)
    assert any(repo_git in line for line in found)
    for line in found:
        words = shlex.split(line)
        for start in [i for i, w in enumerate(words) if w in ("pip", "pipx")]:
            if words[start + 1:start + 2] != ["install"]:
                continue
            rest = words[start + 2:]
            rest = rest[:rest.index("&&")] if "&&" in rest else rest
            for target in [w for w in rest if not w.startswith("-")]:
                assert target.startswith((".", repo_git)), f"needs a registry release: {line}"
    prose = " ".join(README.split())
    assert "not on PyPI yet" in prose and "when the first version tag is pushed" in prose


def test_ci_recipes_install_from_the_repository() -> None:
    repo_git = "git+" + project_urls()["Homepage"]
    for platform in ("github", "gitlab"):
        text = [b for b in blocks("yaml") if RECIPE_MARKS[platform] in b][0]
        installs = [line for line in text.splitlines() if "pip install" in line]
        assert installs and all(repo_git in line for line in installs), platform


def test_stated_memory_is_what_the_benchmark_measured_and_enforces() -> None:
    """Issue 22 item 29: the README said 1 GiB streams in "about 30 MiB" where the benchmark
    measured 42-46 MiB from a pipe. Every peak RSS it states is a figure bench_body.py
    measured (benchmarks/README.md, rounded), and below the bound the benchmarks enforce."""
    bounds = set()
    for name in ("bench_body.py", "bench_invoke.py"):
        found = re.search(r"^RSS_TARGET_KIB = (\d+) \* 1024$",
                          (REPO / "benchmarks" / name).read_text(), re.MULTILINE)
        assert found, f"benchmarks/{name} enforces no RSS_TARGET_KIB"
        bounds.add(int(found.group(1)))
    assert len(bounds) == 1
    bound = bounds.pop()
    text = " ".join(README.split())
    stream = re.search(r"1 GiB from a pipe goes through with a peak RSS of (\d+) MiB, (\d+) MiB "
                       r"from a regular file; the benchmarks fail above (\d+) MiB", text)
    assert stream, "the README's streaming claim is not in the form this test reads"
    assert int(stream.group(3)) == bound
    stated = [int(stream.group(1)), int(stream.group(2))]
    stated += [int(float(n)) for n in re.findall(r"peak RSS (\d+(?:\.\d+)?) MiB", text)]
    assert len(stated) >= 5  # the claim and the Performance table's rows
    assert not re.search(r"about \d+ MiB", text)
    benchmarks = (REPO / "benchmarks" / "README.md").read_text()
    section = benchmarks.split("## bench_body.py", 1)[1].split("\n## ", 1)[0]
    measured = {round(float(n)) for n in re.findall(r"(\d+\.\d) MiB", section)}
    for figure in stated:
        assert figure <= bound, f"the README states {figure} MiB, over the {bound} MiB bound"
        assert figure in measured, f"{figure} MiB is not a figure bench_body.py measured"
    # the claim is the Performance table's figures: one figure for one measure
    assert f"peak RSS {stated[0]} MiB |" in text and f"peak RSS {stated[1]} MiB, no copy" in text
