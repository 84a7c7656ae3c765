"""Shell completion: committed scripts match the code, and real shells complete with them."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from faasauth.cli.commands.completion import completion_script
from faasauth.cli.completion import SHELLS, scan_stack_file

REPO = Path(__file__).resolve().parents[1]
COMPLETIONS = REPO / "completions"
STACK = """\
version: 1.0
provider:
  name: openfaas
  gateway: http://127.0.0.1:8080
functions:
  figlet:
    lang: dockerfile
    image: ghcr.io/openfaas/figlet:latest
    namespace: staging
  # a comment between functions
  nodeinfo:
    image: ghcr.io/openfaas/nodeinfo:latest
    environment:
      jwt_auth: "true"
configuration:
  templates:
    - name: golang-middleware
"""


def shell_env(home: Path) -> dict[str, str]:
    bin_dir = str(Path(sys.executable).parent)
    return {**os.environ, "PATH": bin_dir + os.pathsep + os.environ["PATH"],
            "FAASAUTH_HOME": str(home)}


def remember(home: Path, gateway: str, *targets: str) -> None:
    home.mkdir(parents=True, exist_ok=True)
    state = {"version": 1, "gateways": {gateway: {t: {"since": 1.0} for t in targets}}}
    (home / "remembered-functions.json").write_text(json.dumps(state))


@pytest.mark.parametrize("shell", list(SHELLS))
def test_committed_script_is_what_the_code_generates(shell: str) -> None:
    committed = (COMPLETIONS / SHELLS[shell]).read_text()
    assert completion_script(shell) == committed, (
        f"completions/{SHELLS[shell]} drifted: regenerate it with "
        f"`faasauth completion {shell} > completions/{SHELLS[shell]}`"
    )


@pytest.mark.parametrize("shell", list(SHELLS))
def test_completion_command_prints_the_committed_file(shell: str, tmp_path: Path) -> None:
    result = subprocess.run([sys.executable, "-m", "faasauth", "completion", shell],
                            capture_output=True, text=True, env=shell_env(tmp_path), check=True)
    assert result.stdout == (COMPLETIONS / SHELLS[shell]).read_text()


def test_stack_scan_finds_functions_and_namespaces(tmp_path: Path) -> None:
    (tmp_path / "stack.yml").write_text(STACK)
    assert scan_stack_file(tmp_path) == (["figlet", "nodeinfo"], ["staging"])
    assert scan_stack_file(tmp_path / "missing") == ([], [])


def bash_complete(words: list[str], cwd: Path, home: Path) -> list[str]:
    script = f"""
source {COMPLETIONS / 'faasauth.bash'}
COMP_WORDS=({' '.join(repr(w) if w else "''" for w in words)})
COMP_CWORD={len(words) - 1}
_faasauth_completion faasauth
printf '%s\\n' "${{COMPREPLY[@]}}"
"""
    result = subprocess.run(["bash", "--norc", "--noprofile", "-c", script], cwd=cwd,
                            capture_output=True, text=True, env=shell_env(home), timeout=30)
    assert result.returncode == 0, result.stderr
    return [line for line in result.stdout.splitlines() if line]


def test_bash_completes_commands_options_and_choices(tmp_path: Path) -> None:
    home = tmp_path / "home"
    assert bash_complete(["faasauth", "inv"], tmp_path, home) == ["invoke"]
    assert "exchange" in bash_complete(["faasauth", ""], tmp_path, home)
    assert bash_complete(["faasauth", "exchange", "--out"], tmp_path, home) == ["--output"]
    assert bash_complete(["faasauth", "exchange", "-o", ""], tmp_path, home) == [
        "token", "header", "json"]
    assert bash_complete(["faasauth", "completion", ""], tmp_path, home) == ["bash", "zsh", "fish"]
    # `implicit` is refused with its reason, never offered (issue 22 item 15)
    assert bash_complete(["faasauth", "auth", "--grant", ""], tmp_path, home) == [
        "code", "device_code", "device", "client_credentials"]


def test_bash_completes_function_names_from_stack_and_memory(tmp_path: Path) -> None:
    home = tmp_path / "home"
    (tmp_path / "stack.yml").write_text(STACK)
    remember(home, "http://127.0.0.1:8080", "openfaas-fn:env-auth", "dev:secret-fn")
    offered = bash_complete(["faasauth", "invoke", ""], tmp_path, home)
    assert offered == ["env-auth", "figlet", "nodeinfo", "secret-fn"]
    assert bash_complete(["faasauth", "invoke", "fi"], tmp_path, home) == ["figlet"]
    namespaces = bash_complete(["faasauth", "invoke", "figlet", "-n", ""], tmp_path, home)
    assert namespaces == ["dev", "openfaas-fn", "staging"]
    audiences = bash_complete(["faasauth", "exchange", "-a", ""], tmp_path, home)
    assert audiences == ["dev:secret-fn", "openfaas-fn:env-auth"]


def test_completion_stays_light(tmp_path: Path) -> None:
    """A TAB imports none of the heavy modules (the gateway's list is asked with the
    standard library); an unreachable gateway's remembered names stay its own."""
    home = tmp_path / "home"
    remember(home, "http://127.0.0.1:8080", "openfaas-fn:env-auth")
    probe = (
        "import sys\n"
        "from faasauth.cli.app import main\n"
        "try:\n    main([])\nexcept SystemExit:\n    pass\n"
        "heavy = sorted(m for m in ('httpx', 'rich', 'keyring', 'jwt', 'yaml', 'anyio')"
        " if m in sys.modules)\n"
        "print('HEAVY', heavy, file=sys.stderr)\n"
    )
    env = {**shell_env(home), "_FAASAUTH_COMPLETE": "bash_complete",
           "COMP_WORDS": "faasauth invoke ", "COMP_CWORD": "2",
           "OPENFAAS_URL": "http://203.0.113.1:8080"}
    result = subprocess.run([sys.executable, "-c", probe], env=env, cwd=tmp_path,
                            capture_output=True, text=True, timeout=30)
    assert "plain,env-auth" not in result.stdout  # other gateway: not offered
    assert "HEAVY []" in result.stderr, result.stderr


@pytest.mark.skipif(shutil.which("fish") is None, reason="fish is not installed")
def test_fish_completes_with_the_committed_script(tmp_path: Path) -> None:
    home = tmp_path / "home"
    (tmp_path / "stack.yml").write_text(STACK)
    script = f"source {COMPLETIONS / 'faasauth.fish'}; complete -C'faasauth inv'; " \
             "complete -C'faasauth invoke fi'"
    result = subprocess.run(["fish", "--no-config", "-c", script], cwd=tmp_path,
                            capture_output=True, text=True, env=shell_env(home), timeout=30)
    assert result.returncode == 0, result.stderr
    lines = [line.split("\t")[0] for line in result.stdout.splitlines()]
    assert lines == ["invoke", "figlet"]


@pytest.mark.skipif(shutil.which("fish") is None, reason="fish is not installed")
def test_fish_shows_whole_descriptions_past_their_commas(tmp_path: Path) -> None:
    """Issue 22 item 25: click's fish script split each answer at every comma, so the
    description of --timeout stopped at "(connecting"."""
    script = f"source {COMPLETIONS / 'faasauth.fish'}; complete -C'faasauth invoke --tim'"
    result = subprocess.run(["fish", "--no-config", "-c", script], cwd=tmp_path,
                            capture_output=True, text=True, env=shell_env(tmp_path / "home"),
                            timeout=30)
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines() == [
        "--timeout\tTimeout for each network step (connecting, each read of an answer), not "
        "for the whole call, e.g. 30 or 30s. [default: 60s]"]


def test_fish_source_asked_of_click_is_the_committed_script(tmp_path: Path) -> None:
    """`_FAASAUTH_COMPLETE=fish_source faasauth` (click's own way to ask) is faasauth's
    script too, not click's, which cuts descriptions at a comma (issue 22 item 25)."""
    result = subprocess.run([sys.executable, "-m", "faasauth"], capture_output=True, text=True,
                            env={**shell_env(tmp_path), "_FAASAUTH_COMPLETE": "fish_source"},
                            timeout=30)
    assert result.returncode == 0, result.stderr
    assert result.stdout.rstrip("\n") == (COMPLETIONS / "faasauth.fish").read_text().rstrip("\n")
    assert 'string split --max 1 ","' in result.stdout


@pytest.mark.skipif(shutil.which("zsh") is None, reason="zsh is not installed")
def test_zsh_loads_the_committed_script_and_gets_answers(tmp_path: Path) -> None:
    home = tmp_path / "home"
    (tmp_path / "stack.yml").write_text(STACK)
    # compadd only works inside a completion widget; stand in for it to capture what the
    # committed function would offer.
    script = f"""
autoload -U compinit && compinit -u -D
source {COMPLETIONS / '_faasauth'}
compadd() {{ print -rl -- "${{completions[@]}}" }}
_describe() {{ print -rl -- "${{completions_with_descriptions[@]%%:*}}" }}
words=(faasauth inv); CURRENT=2
_faasauth_completion
words=(faasauth invoke fi); CURRENT=3
_faasauth_completion
"""
    result = subprocess.run(["zsh", "-f", "-c", script], cwd=tmp_path, capture_output=True,
                            text=True, env=shell_env(home), timeout=30)
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["invoke", "figlet"], result.stdout


def _tab(words: str, env: dict[str, str], cwd: Path) -> list[str]:
    result = subprocess.run(
        [sys.executable, "-m", "faasauth"], cwd=cwd, capture_output=True, text=True,
        timeout=30, env={**env, "_FAASAUTH_COMPLETE": "bash_complete",
                         "COMP_WORDS": words, "COMP_CWORD": str(len(words.split(" ")) - 1)},
    )
    assert result.returncode == 0 and result.stderr == "", result.stderr
    return [line.split(",", 1)[1] for line in result.stdout.splitlines() if line]


def test_function_names_come_from_the_gateways_list_cached_briefly(tmp_path: Path) -> None:
    from faasauth.sandbox import Sandbox

    home = tmp_path / "home"
    home.mkdir()
    with Sandbox() as sandbox:
        env = {**sandbox.env(), **shell_env(home), "OPENFAAS_CONFIG": str(tmp_path / "fc")}
        env.pop("OPENFAAS_NS", None)
        listed = {"method": "GET", "origin": "gateway"}
        # No credential: the gateway refuses the list (401); asked once per minute only.
        assert _tab("faasauth invoke e", env, tmp_path) == []
        assert _tab("faasauth invoke e", env, tmp_path) == []
        assert sandbox.count("/system/functions", status=401, **listed) == 1
        # `auth --faas-cli` keeps an API token in faas-cli's config: now the list is read,
        # with that token, and a refusal from before is not reused.
        login = subprocess.run([sys.executable, "-m", "faasauth", "auth", "--faas-cli"],
                               env=env, capture_output=True, text=True, timeout=60)
        assert login.returncode == 0, login.stderr
        assert _tab("faasauth invoke e", env, tmp_path) == ["echo", "echo-auth", "env", "env-auth"]
        assert _tab("faasauth invoke echo-", env, tmp_path) == ["echo-auth"]
        assert sandbox.count("/system/functions", status=200, token="api", **listed) == 1
        # Another namespace is another list (the sandbox serves none there).
        assert _tab("faasauth invoke -n dev e", env, tmp_path) == []
        assert sandbox.count("/system/functions", status=200, **listed) == 2
        cache = (home / "function-lists.json").read_text()
        assert "echo-auth" in cache and "Bearer" not in cache and "eyJ" not in cache


def test_the_list_is_never_asked_through_a_redirect(httpserver) -> None:
    from faasauth.gateway.listing import list_functions

    httpserver.expect_request("/system/functions").respond_with_data(
        "", status=302, headers={"Location": "http://127.0.0.2:9/steal"})
    assert list_functions(httpserver.url_for("").rstrip("/"), None,
                          authorization="Bearer secret", timeout=1) is None
    assert httpserver.log[0][0].headers["Authorization"] == "Bearer secret"  # loopback
    httpserver.clear()
    httpserver.expect_request("/system/functions").respond_with_json(
        [{"name": "figlet"}, {"name": "x\u001b]52;c;"}, "junk", {"name": "nodeinfo"}])
    assert list_functions(httpserver.url_for("").rstrip("/"), "dev", authorization=None,
                          timeout=1) == ["figlet", "nodeinfo"]
    assert httpserver.log[0][0].args["namespace"] == "dev"


def test_the_readmes_bashrc_line_works_without_bash_completion(tmp_path: Path) -> None:
    """Issue 22 item 3: the install step needs the bash-completion package; the README gives
    the ~/.bashrc line for a bash without it, and that line registers the completion."""
    readme = " ".join((COMPLETIONS.parent / "README.md").read_text().split())
    line = "source <(faasauth completion bash)"
    assert "the `bash-completion` package" in readme and f"`{line}`" in readme
    bin_dir = Path(sys.executable).parent
    env = {**shell_env(tmp_path / "home"), "PATH": f"{bin_dir}{os.pathsep}{os.environ['PATH']}"}
    done = subprocess.run(["bash", "--norc", "--noprofile", "-c", f"{line} && complete -p faasauth"],
                          capture_output=True, text=True, env=env, timeout=30)
    assert done.returncode == 0, done.stderr
    assert "_faasauth_completion" in done.stdout
