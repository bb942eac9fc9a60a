"""``python -m evalkit`` (also ``torchrun … -m evalkit score …``)."""
from evalkit.cli import run

# The guard matters: spawn-context worker pools re-import the main module as ``__mp_main__``; without it every
# worker would run the CLI again and the pool breaks (BrokenProcessPool) under ``python -m evalkit``.
if __name__ == "__main__":
    run()
