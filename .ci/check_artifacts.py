"""Check the built sdist and wheel against the checkout: what a user or a packager gets.

    python .ci/check_artifacts.py DIST_DIR

- the wheel carries every tracked file of the package, the licence in its dist-info, and the
  three completion scripts as data files where the shells look, byte for byte as committed;
- the sdist carries every tracked file of the package, its tests and completions, the licence,
  README, CHANGELOG and pyproject.toml, so the wheel built from it and its tests are complete;
- both declare the version in faasauth/_version.py, and the wheel's METADATA the licence.
Exits 1 with one line per problem.
"""

from __future__ import annotations

import re
import subprocess
import sys
import tarfile
import zipfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
SHARED_DATA = {
    "completions/faasauth.bash": "share/bash-completion/completions/faasauth",
    "completions/_faasauth": "share/zsh/site-functions/_faasauth",
    "completions/faasauth.fish": "share/fish/vendor_completions.d/faasauth.fish",
}
SDIST_TOP = ["LICENSE", "README.md", "CHANGELOG.md", "pyproject.toml", ".ci/run"]


def tracked(*paths: str) -> list[str]:
    out = subprocess.run(["git", "ls-files", "--", *paths], cwd=REPO, check=True,
                         capture_output=True, text=True).stdout
    return [line for line in out.splitlines() if line]


def main(dist: Path) -> list[str]:
    version = re.search(r'^__version__ = "([^"]+)"', (REPO / "faasauth/_version.py").read_text(),
                        re.MULTILINE)
    assert version, "no __version__ in faasauth/_version.py"
    name = f"faasauth-{version.group(1)}"
    wheels = sorted(dist.glob("*.whl"))
    sdists = sorted(dist.glob("*.tar.gz"))
    problems = []
    if [w.name for w in wheels] != [f"{name}-py3-none-any.whl"]:
        problems.append(f"expected one wheel {name}-py3-none-any.whl, found {[w.name for w in wheels]}")
    if [s.name for s in sdists] != [f"{name}.tar.gz"]:
        problems.append(f"expected one sdist {name}.tar.gz, found {[s.name for s in sdists]}")
    if problems:
        return problems

    with zipfile.ZipFile(wheels[0]) as whl:
        files = set(whl.namelist())
        for path in tracked("faasauth"):
            if path not in files:
                problems.append(f"wheel: {path} is missing")
        licence = f"{name}.dist-info/licenses/LICENSE"
        if licence not in files:
            problems.append(f"wheel: {licence} is missing")
        elif whl.read(licence) != (REPO / "LICENSE").read_bytes():
            problems.append(f"wheel: {licence} differs from LICENSE")
        metadata = whl.read(f"{name}.dist-info/METADATA").decode()
        for line in ("License-Expression: MIT", "License-File: LICENSE", "Requires-Python: >=3.10"):
            if line not in metadata.splitlines():
                problems.append(f"wheel: METADATA lacks {line!r}")
        for source, target in SHARED_DATA.items():
            member = f"{name}.data/data/{target}"
            if member not in files:
                problems.append(f"wheel: {member} is missing")
            elif whl.read(member) != (REPO / source).read_bytes():
                problems.append(f"wheel: {member} differs from {source}")

    with tarfile.open(sdists[0]) as sdist:
        members = {m.name.split("/", 1)[1] for m in sdist.getmembers() if "/" in m.name}
    for path in tracked("faasauth", "tests", "completions") + SDIST_TOP:
        if path not in members:
            problems.append(f"sdist: {path} is missing")
    return problems


if __name__ == "__main__":
    found = main(Path(sys.argv[1]))
    for problem in found:
        print(f"check_artifacts: {problem}", file=sys.stderr)
    if not found:
        print("check_artifacts: wheel and sdist carry what they should")
    sys.exit(1 if found else 0)
