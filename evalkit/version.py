"""The installed evalkit version, in its own module: submodules read it from here, never from the package
``evalkit`` itself (whose Python API imports the scoring engine: that would be an import circle)."""
from importlib.metadata import PackageNotFoundError, version as _version

try:
    __version__ = _version("evalkit")
except PackageNotFoundError:  # running from a source tree that is not installed
    __version__ = "0.0.0+src"
