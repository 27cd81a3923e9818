"""docs/architecture.md's import table is true: every import between omnivox's packages is one the table
allows, and every package has a row."""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PACKAGE = ROOT / "omnivox"
_ROW = re.compile(r"^\| `omnivox/(\w+)(?:\.py)?` \|[^|]*\|([^|]*)\|$", re.MULTILINE)


def _table() -> dict[str, set[str]]:
    text = (ROOT / "docs" / "architecture.md").read_text()
    return {unit: set(re.findall(r"`(\w+)`", allowed)) for unit, allowed in _ROW.findall(text)}


def _unit(path: Path) -> str:
    """The package (or top-level module) a file belongs to."""
    relative = path.relative_to(PACKAGE)
    return relative.parts[0] if len(relative.parts) > 1 else relative.stem


def _imports(path: Path) -> set[str]:
    """The omnivox units a file imports (at any depth: imports inside functions count too)."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        names = []
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names = [node.module]
        elif isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        found |= {name.split(".")[1] for name in names if name.startswith("omnivox.")}
    return found


FILES = sorted(p for p in PACKAGE.rglob("*.py") if p.name != "__init__.py" or p.parent != PACKAGE)


def test_every_package_has_a_row() -> None:
    assert {_unit(p) for p in FILES} <= set(_table())


@pytest.mark.parametrize("path", FILES, ids=lambda p: str(p.relative_to(PACKAGE)))
def test_imports_follow_the_table(path: Path) -> None:
    unit = _unit(path)
    allowed = _table()[unit] | {unit}
    assert _imports(path) <= allowed, f"{unit} may import only {sorted(allowed - {unit})}"
