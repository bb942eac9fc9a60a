"""``python -m evalkit`` (also ``torchrun … -m evalkit score …``)."""
from evalkit.cli import run

run()
