"""Only webapp/ imports Flask (style.md convention 1)."""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_lower_layers_do_not_import_flask_or_webapp():
    offenders = []
    for package in ("processes", "handlers", "forms", "scheduler"):
        for path in (ROOT / package).rglob("*.py"):
            tree = ast.parse(path.read_text(), str(path))
            for node in ast.walk(tree):
                names = []
                if isinstance(node, ast.Import):
                    names = [a.name for a in node.names]
                elif isinstance(node, ast.ImportFrom) and node.module:
                    names = [node.module]
                for name in names:
                    top = name.split(".")[0]
                    if top in {"flask", "flask_login", "flask_wtf", "flask_smorest", "webapp", "werkzeug"}:
                        offenders.append(f"{path.relative_to(ROOT)}: {name}")
    assert offenders == []
