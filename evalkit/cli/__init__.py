"""The ``evalkit`` command: a thin Typer layer over the Python API.

Each command group lives in its own module with a ``register(app)`` function; errors the user can fix
(:class:`evalkit.errors.EvalkitError`) print as one line and exit with code 2, never a traceback.
"""
from __future__ import annotations

import importlib
import sys

import typer

from evalkit.errors import EvalkitError

app = typer.Typer(
    name="evalkit",
    help="Evaluate music-driven dance video generation: FVD, SSIM, PSNR, L1, LPIPS, BeatAlign, AV-Align.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)

@app.callback()
def _root() -> None:
    """Evaluate music-driven dance video generation."""


# modules of evalkit.cli that define commands (each has register(app)); add yours to this tuple
COMMAND_MODULES = ("score", "merge", "stats", "data", "plot", "model", "leaderboard", "compare", "score_motion", "power", "sensitivity", "report",)


def _register() -> None:
    for name in COMMAND_MODULES:
        importlib.import_module(f"evalkit.cli.{name}").register(app)


def main(argv: list[str] | None = None) -> int:
    _register()
    try:
        app(args=argv, prog_name="evalkit")  # standalone mode: usage errors print and exit 2
    except EvalkitError as err:
        print(f"evalkit: error: {err}", file=sys.stderr)
        return err.exit_code
    except SystemExit as exc:
        if exc.code == 130:  # Typer turns Ctrl-C inside a command into a silent exit 130
            print("evalkit: interrupted", file=sys.stderr)
        return exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
    except KeyboardInterrupt:
        print("evalkit: interrupted", file=sys.stderr)
        return 130
    return 0


def run() -> None:
    sys.exit(main())
