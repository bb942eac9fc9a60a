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
