"""No import circles (docs/architecture.md): the package's import graph, read from the source with ast, has no
cycle — neither through module-level imports nor through imports inside functions (lazy imports hide a circle
from Python, not from the reader: the two modules still depend on each other).

models/ and baselines/ install as evalkit.models / evalkit.baselines (pyproject's package-dir) and are mapped so.
"""
import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
#: source folder -> the package it installs as
PACKAGES = {"evalkit": "evalkit", "models": "evalkit.models", "baselines": "evalkit.baselines"}


def module_name(path: Path) -> str:
    rel = path.relative_to(ROOT)
    parts = [PACKAGES[rel.parts[0]], *rel.parts[1:]]
    parts[-1] = parts[-1].removesuffix(".py")
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def sources() -> dict[str, Path]:
    out = {}
    for folder in PACKAGES:
        for path in sorted((ROOT / folder).rglob("*.py")):
            out[module_name(path)] = path
    return out


def _is_type_checking(node: ast.If) -> bool:
    test = node.test
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING")


def imports(path: Path, module: str, known: set[str], lazy: bool) -> set[str]:
    """Internal modules that ``module`` imports: at module level (``if``/``try`` bodies included, ``if
    TYPE_CHECKING`` blocks excluded), and with ``lazy`` also inside functions and classes."""
    tree = ast.parse(path.read_text(), str(path))
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    found: set[str] = set()

    def target(name: str) -> None:
        while name and name not in known:  # `import evalkit.x.y.z` where z is an attribute, or a 3rd-party name
            name = name.rpartition(".")[0]
        if name and name != module:
            found.add(name)

    def visit(node, top: bool) -> None:
        if isinstance(node, ast.If) and _is_type_checking(node):
            return
        if isinstance(node, ast.Import) and (top or lazy):
            for alias in node.names:
                target(alias.name)
        elif isinstance(node, ast.ImportFrom) and (top or lazy):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - (node.level - 1)]
                base = ".".join(anchor + ([node.module] if node.module else []))
            for alias in node.names:
                sub = f"{base}.{alias.name}"
                target(sub if sub in known else base)
        inner = top and not isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda, ast.ClassDef))
        for child in ast.iter_child_nodes(node):
            visit(child, inner)

    for stmt in tree.body:
        visit(stmt, True)
    return found


def graph(lazy: bool) -> dict[str, set[str]]:
    mods = sources()
    known = set(mods)
    return {name: imports(path, name, known, lazy) for name, path in mods.items()}


def find_cycle(edges: dict[str, set[str]]) -> list[str] | None:
    """One cycle as a list of modules (first == last), or None: iterative DFS with colours."""
    colour = dict.fromkeys(edges, 0)  # 0 new, 1 on the stack, 2 done
    for start in sorted(edges):
        if colour[start]:
            continue
        stack = [(start, iter(sorted(edges[start])))]
        path = [start]
        colour[start] = 1
        while stack:
            node, children = stack[-1]
            for child in children:
                if colour.get(child, 2) == 1:
                    return path[path.index(child):] + [child]
                if colour.get(child) == 0:
                    colour[child] = 1
                    stack.append((child, iter(sorted(edges[child]))))
                    path.append(child)
                    break
            else:
                colour[node] = 2
                stack.pop()
                path.pop()
    return None


def test_cycle_finder_finds_and_clears():
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": set()}) == ["a", "b", "c", "a"]
    assert find_cycle({"a": {"b", "c"}, "b": {"c"}, "c": set()}) is None
    assert find_cycle({"a": {"a"}}) == ["a", "a"]


def test_graph_reads_relative_lazy_and_mapped_imports(tmp_path):
    mods = sources()
    known = set(mods)
    guidance = imports(mods["evalkit.models.m2p.keypoint_guidance"], "evalkit.models.m2p.keypoint_guidance", known,
                       lazy=False)
    assert "evalkit.models.m2p.windows" in guidance and "evalkit.models.m2p.infer" not in guidance
    # infer.py calls keypoint guidance lazily: seen only with lazy imports
    infer = mods["evalkit.models.m2p.infer"]
    assert "evalkit.models.m2p.keypoint_guidance" in imports(infer, "evalkit.models.m2p.infer", known, lazy=True)
    assert "evalkit.models.m2p.keypoint_guidance" not in imports(infer, "evalkit.models.m2p.infer", known, lazy=False)
    assert mods["evalkit.baselines.static"] == ROOT / "baselines" / "static.py"


@pytest.mark.parametrize("lazy", [False, True], ids=["module-level", "with-lazy"])
def test_no_import_cycles(lazy):
    cycle = find_cycle(graph(lazy))
    assert cycle is None, "import circle: " + " -> ".join(cycle)
