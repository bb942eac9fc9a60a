"""The build configuration lists every package directory, so installed wheels match the source tree."""
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_every_package_is_listed():
    config = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]
    listed = set(config["packages"])
    mapping = {"evalkit": "evalkit", "models": "evalkit.models", "baselines": "evalkit.baselines"}
    found = set()
    for top, name in mapping.items():
        for init in (ROOT / top).rglob("__init__.py"):
            rel = init.parent.relative_to(ROOT / top)
            found.add(".".join([name, *rel.parts]))
    assert found - listed == set(), f"add these to [tool.setuptools].packages: {sorted(found - listed)}"


def test_models_install_under_evalkit():
    import evalkit.baselines
    import evalkit.models

    assert Path(evalkit.models.__file__).parent == ROOT / "models"
    assert Path(evalkit.baselines.__file__).parent == ROOT / "baselines"


def test_python_m_evalkit_is_safe_to_reimport_in_spawn_workers():
    """Spawn workers import the main module as ``__mp_main__``: that import must not run the CLI."""
    import runpy
    import sys
    argv = sys.argv
    sys.argv = ["evalkit", "--definitely-not-an-option"]  # would exit 2 if the CLI ran
    try:
        namespace = runpy.run_module("evalkit", run_name="__mp_main__")
    finally:
        sys.argv = argv
    assert callable(namespace["run"])
