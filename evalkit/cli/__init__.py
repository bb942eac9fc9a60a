"""The ``evalkit`` command: a thin Typer layer over the Python API.

Each command group lives in its own module with a ``register(app)`` function; errors the user can fix
(:class:`evalkit.errors.EvalkitError`) print as one line and exit with code 2, never a traceback.
"""
from __future__ import annotations

import importlib
import sys

import click
import typer

from evalkit.errors import EvalkitError

app = typer.Typer(
    name="evalkit",
    help="Evaluate music-driven dance video generation: FVD, SSIM, PSNR, L1, LPIPS, BeatAlign, AV-Align.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)

# modules of evalkit.cli that define commands (each has register(app)); add yours to this tuple
COMMAND_MODULES = ("score",)


def _register() -> None:
    for name in COMMAND_MODULES:
        importlib.import_module(f"evalkit.cli.{name}").register(app)


def main(argv: list[str] | None = None) -> int:
    _register()
    try:
        app(args=argv, standalone_mode=False)
    except EvalkitError as err:
        print(f"evalkit: error: {err}", file=sys.stderr)
        return err.exit_code
    except KeyboardInterrupt:
        print("evalkit: interrupted", file=sys.stderr)
        return 130
    except click.exceptions.Exit as exc:  # typer.Exit(code) from a command, or --help
        return int(exc.exit_code or 0)
    except click.exceptions.ClickException as exc:  # usage errors
        exc.show()
        return 2
    except click.exceptions.Abort:
        return 1
    return 0


def run() -> None:
    sys.exit(main())
