"""The layout keeps itself true: layers import downwards only, no import cycle (lazy and
type-only imports included), no module over 400 lines, and each package opens with its map."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "faasauth"

# What each part of the package may import from faasauth (besides itself). Lower layers
# never import higher ones: cli -> flows -> (idp | gateway) -> (store | http | runtime)
# -> (tokens, config, errors, console). The sandbox is a program of its own beside them.
# The version is on the ground floor (`faasauth._version`): no layer imports the package's
# `__init__`, which sits on top of them all (it re-exports the library, api).
BASE = {"tokens", "config", "errors", "console", "_version"}
ALLOWED: dict[str, set[str]] = {
    "_version": set(),
    "errors": set(),
    "console": set(),
    "__init__": {"api", "errors", "_version"},  # the API lazily, on first use of a name
    "__main__": {"cli"},
    "tokens": {"errors"},
    "config": {"errors", "console"},
    "store": BASE,
    "http": BASE | {"lanes", "trust"},
    "trust": BASE,  # the CA certificates https:// trusts
    "lanes": set(),  # many threads' connections, for the proxy's client
    "relay": BASE,
    "detach": {"errors"},  # --background's fork, for the proxy and the sandbox
    "runtime": BASE | {"store", "http", "relay"},
    "idp": BASE | {"store", "http", "runtime"},
    "gateway": BASE | {"store", "http", "runtime"},
    "flows": BASE | {"store", "http", "runtime", "idp", "gateway"},
    "cli": BASE | {"store", "http", "runtime", "idp", "gateway", "flows", "sandbox", "proxy"},
    "proxy": BASE | {"store", "http", "relay", "runtime", "idp", "gateway", "flows", "detach"},
    "api": BASE | {"store", "http", "relay", "runtime", "idp", "gateway", "flows", "proxy"},
    "sandbox": {"errors", "console", "_version", "detach"},
}


def _modules() -> dict[str, Path]:
    found = {}
    for path in PACKAGE.rglob("*.py"):
        parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
        if parts[-1] == "__init__":
            parts = parts[:-1]
        found[".".join(parts)] = path
    return found


def _imports(path: Path, *, type_only: bool = False) -> list[tuple[str, int, bool]]:
    """(imported faasauth module, line, at module level) for every import in the file; with
    `type_only`, those under `if TYPE_CHECKING:` too."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    top_level = {id(node) for node in tree.body}
    for node in tree.body:  # `if TYPE_CHECKING:` blocks are not imports at run time
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            top_level.discard(id(node))
            for child in ast.walk(node):
                setattr(child, "_type_only", True)
    found = []
    for node in ast.walk(tree):
        if getattr(node, "_type_only", False) and not type_only:
            continue
        names: list[str] = []
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names = [node.module] + [f"{node.module}.{alias.name}" for alias in node.names]
        for name in names:
            if name == "faasauth" or name.startswith("faasauth."):
                found.append((name, node.lineno, id(node) in top_level))
    return found


def _part(module: str) -> str:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else "__init__"


MODULES = _modules()


def _resolve(name: str) -> str | None:
    # `from faasauth.x import y` names a module or an attribute: keep what is a module.
    while name and name not in MODULES:
        name = name.rpartition(".")[0]
    return name or None


@pytest.mark.parametrize("module", sorted(MODULES))
def test_imports_point_down_the_layers(module: str) -> None:
    part = _part(module)
    allowed = ALLOWED[part] | {part}
    wrong = [
        f"line {line}: {name}"
        for name, line, _ in _imports(MODULES[module])
        if (target := _resolve(name)) is not None and _part(target) not in allowed
    ]
    assert not wrong, f"{module} ({part}) imports from a higher layer: {wrong}"


def test_no_import_cycle_even_through_lazy_or_type_only_imports() -> None:
    """A module that needs another's names only for its annotations still knows it: a
    registry and its members (idp.grants and the grant units) must not know each other."""
    graph = {
        module: {t for name, _, _ in _imports(path, type_only=True)
                 if (t := _resolve(name)) and t != module}
        for module, path in MODULES.items()
    }
    # A package's __init__ is imported with any of its modules: not an edge of its own.
    for module in graph:
        graph[module] = {t for t in graph[module] if not module.startswith(t + ".")}
    state: dict[str, int] = {}
    stack: list[str] = []

    def visit(node: str) -> None:
        state[node] = 1
        stack.append(node)
        for nxt in sorted(graph[node]):
            if state.get(nxt) == 1:
                cycle = stack[stack.index(nxt):] + [nxt]
                pytest.fail("import cycle: " + " -> ".join(cycle))
            if nxt not in state:
                visit(nxt)
        stack.pop()
        state[node] = 2

    for module in sorted(graph):
        if module not in state:
            visit(module)


@pytest.mark.parametrize("module", sorted(MODULES))
def test_no_module_over_400_lines(module: str) -> None:
    lines = MODULES[module].read_text(encoding="utf-8").count("\n")
    assert lines <= 400, f"{module} has {lines} lines: split it by concept"


@pytest.mark.parametrize(
    "package", sorted(m for m, p in MODULES.items() if p.name == "__init__.py")
)
def test_each_package_opens_with_its_map(package: str) -> None:
    doc = ast.get_docstring(ast.parse(MODULES[package].read_text(encoding="utf-8")))
    assert doc and len(doc.splitlines()) >= 3, f"{package} has no map of what lives where"


def test_every_module_is_on_its_package_map() -> None:
    missing = []
    for module, path in MODULES.items():
        if path.name == "__init__.py" or module.count(".") < 2:
            continue
        package, leaf = module.rsplit(".", 1)
        doc = ast.get_docstring(ast.parse(MODULES[package].read_text(encoding="utf-8"))) or ""
        if leaf not in doc.split() and f"{leaf}/" not in doc and f"{leaf}," not in doc:
            missing.append(module)
    assert not missing, f"not named in their package's map: {missing}"
