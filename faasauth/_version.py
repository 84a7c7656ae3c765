"""The package's version, on the ground floor: any module may import it, and it imports
nothing (pyproject.toml's hatch version source, the release workflow's tag check)."""

__version__ = "0.1.0"
