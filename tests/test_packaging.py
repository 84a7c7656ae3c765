"""What a release carries, kept in agreement: supported Pythons, licence, completions, version.

The artifacts themselves are built, checked and run by .ci/check-dist; these tests keep the
declarations that feed it consistent with each other and with the docs.
"""

from __future__ import annotations

import re
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

import faasauth
from faasauth.cli.completion import SHELLS

if sys.version_info >= (3, 11):
    import tomllib
else:  # the `test` extra brings tomli on 3.10
    import tomli as tomllib

REPO = Path(__file__).resolve().parents[1]
PYPROJECT: dict[str, Any] = tomllib.loads((REPO / "pyproject.toml").read_text(encoding="utf-8"))
PROJECT = PYPROJECT["project"]
README = (REPO / "README.md").read_text(encoding="utf-8")
WORKFLOWS = REPO / ".github" / "workflows"

# Where each shell looks for completions under an install prefix.
SHELL_DIRS = {
    "bash": "share/bash-completion/completions/faasauth",
    "zsh": "share/zsh/site-functions/_faasauth",
    "fish": "share/fish/vendor_completions.d/faasauth.fish",
}


def supported() -> list[str]:
    found = [c.rsplit(":: ", 1)[1] for c in PROJECT["classifiers"]
             if re.fullmatch(r"Programming Language :: Python :: 3\.\d+", c)]
    return sorted(found, key=lambda v: tuple(map(int, v.split("."))))


def workflow(name: str) -> dict[Any, Any]:
    data: dict[Any, Any] = yaml.safe_load((WORKFLOWS / name).read_text(encoding="utf-8"))
    return data


def test_supported_pythons_agree_everywhere() -> None:
    versions = supported()
    assert versions[0] == "3.10" and len(versions) >= 2
    # consecutive minors, starting where requires-python starts
    assert [int(v.split(".")[1]) for v in versions] == list(range(10, 10 + len(versions)))
    assert PROJECT["requires-python"] == f">={versions[0]}"
    matrix = workflow("ci.yml")["jobs"]["test"]["strategy"]["matrix"]
    assert matrix["python"] == versions
    assert set(matrix["os"]) == {"ubuntu-latest", "macos-latest"}
    listed = ", ".join(versions[:-1]) + f" and {versions[-1]}"
    assert f"faasauth runs on Python {listed}" in README.replace("\n", " ")
    assert "Python :: 3 :: Only" in " ".join(PROJECT["classifiers"])


def test_the_running_python_is_supported() -> None:
    assert "%d.%d" % sys.version_info[:2] in supported()


def test_licence_is_mit_and_shipped() -> None:
    licence = (REPO / "LICENSE").read_text(encoding="utf-8")
    assert licence.startswith("MIT License\n")
    assert "Copyright (c) 2026 faasauth developers" in licence
    assert PROJECT["license"] == "MIT" and PROJECT["license-files"] == ["LICENSE"]
    assert "/LICENSE" in PYPROJECT["tool"]["hatch"]["build"]["targets"]["sdist"]["include"]


def test_wheel_installs_every_completion_script_where_its_shell_looks() -> None:
    shared = PYPROJECT["tool"]["hatch"]["build"]["targets"]["wheel"]["shared-data"]
    assert shared == {f"completions/{SHELLS[shell]}": target for shell, target in SHELL_DIRS.items()}
    for source in shared:
        assert (REPO / source).is_file()
    for target in shared.values():
        assert f"`{target}`" in README.replace("\n  ", " ")


def test_version_has_its_changelog_section_below_an_empty_unreleased() -> None:
    changelog = (REPO / "CHANGELOG.md").read_text(encoding="utf-8")
    sections = re.findall(r"^## (.+)$", changelog, re.MULTILINE)
    assert sections[0] == "[Unreleased]"
    # Changes since the last release go under Unreleased; the first section after it is
    # the release the version names.
    if ".dev" not in faasauth.__version__:
        assert re.fullmatch(rf"\[{re.escape(faasauth.__version__)}\] - \d{{4}}-\d{{2}}-\d{{2}}",
                            sections[1])


def test_the_version_has_one_source() -> None:
    assert PROJECT["dynamic"] == ["version"] and "version" not in PROJECT
    assert PYPROJECT["tool"]["hatch"]["version"] == {"path": "faasauth/_version.py"}
    assert re.fullmatch(r"\d+\.\d+\.\d+((a|b|rc)\d+)?(\.dev\d+)?", faasauth.__version__)


def test_release_publishes_a_matching_tag_with_trusted_publishing() -> None:
    release = workflow("release.yml")
    triggers = release[True]  # YAML 1.1 reads the key `on` as true
    assert triggers == {"push": {"tags": ["v*"]}}
    assert release["permissions"] == {}
    build, publish = release["jobs"]["build"], release["jobs"]["publish"]
    assert any("v$version" in step.get("run", "") for step in build["steps"])
    assert any(step.get("run") == "bash .ci/check-dist" for step in build["steps"])
    assert publish["permissions"] == {"id-token": "write"}
    assert publish["needs"] == "build"
    assert publish["steps"][-1]["uses"].startswith("pypa/gh-action-pypi-publish@")
    assert "password" not in publish["steps"][-1].get("with", {})


@pytest.mark.parametrize("name", ["ci.yml", "release.yml"])
def test_workflow_actions_are_pinned_to_commits(name: str) -> None:
    uses = re.findall(r"uses: (\S+)", (WORKFLOWS / name).read_text(encoding="utf-8"))
    assert uses
    for action in uses:
        assert re.fullmatch(r"[\w.-]+/[\w.-]+@[0-9a-f]{40}", action), action
