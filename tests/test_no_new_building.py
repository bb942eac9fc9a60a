"""Objects are built through their constructors: no module of the package calls ``__new__`` to make an
instance and fill in its fields from outside (the team's standard; FVD's clone and shards used to)."""
import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("evalkit", "models", "baselines")


def test_no_dunder_new_calls():
    found = []
    for package in PACKAGES:
        for path in sorted((ROOT / package).rglob("*.py")):
            for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
                if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr == "__new__":
                    found.append(f"{path.relative_to(ROOT)}:{node.lineno}")
    assert not found, found
