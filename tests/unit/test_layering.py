"""The core's layering, checked on every run: below its entrypoints, ``hub/`` imports neither
the web app nor the adapters; only the composition root (``hub/bootstrap*.py``) wires them in.
Adding a network touches ``adapters/`` and that root, never the services or the domain."""

from __future__ import annotations

import ast
from pathlib import Path

HUB = Path(__file__).resolve().parents[2] / "hub"
EDGES = ("web", "adapters")


def _imports(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(), filename=str(path))
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module)
    return found


def test_the_core_imports_no_edge_except_through_the_composition_root() -> None:
    offenders = []
    for path in sorted(HUB.rglob("*.py")):
        rel = path.relative_to(HUB)
        if rel.parts[0] == "entrypoints" or rel.name.startswith("bootstrap"):
            continue
        bad = sorted(m for m in _imports(path) if m.split(".")[0] in EDGES)
        if bad:
            offenders.append(f"hub/{rel}: {', '.join(bad)}")
    assert offenders == [], "the core imports an edge:\n" + "\n".join(offenders)
