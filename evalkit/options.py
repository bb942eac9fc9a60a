"""The options contract shared by metrics and generators (docs/options.md).

A metric declares its settings in its presets and a generator in the defaults it hands to
``generators.take_options``; the type of a setting is the type of its default. Where a default cannot say
it (``None``, or a value that must also be bounded or one of a few words) the class declares a :class:`Spec`.
Every override — a string from ``--opt`` or a value from the Python API — goes through :func:`coerce`, and a
set of overrides through :func:`check_options`, so an unknown key or a value of the wrong type is one line
naming the valid keys, on every path.
"""
from __future__ import annotations

import math
import numbers
import os
from dataclasses import dataclass
from typing import Any, Callable, Mapping

from evalkit.errors import EvalkitError

_WORDS = {"1": True, "true": True, "yes": True, "on": True, "0": False, "false": False, "no": False, "off": False}
_NONE = ("none", "null")


def _to_bool(value) -> bool:
    if isinstance(value, bool):
        return value
    if isinstance(value, numbers.Integral) and value in (0, 1):
        return bool(value)
    if isinstance(value, str) and value.strip().lower() in _WORDS:
        return _WORDS[value.strip().lower()]
    raise ValueError("expected true/false (or 1/0)")


def _number(value, cast, python_kind):
    """A Python number of ``python_kind`` (never a bool), or text that ``cast`` reads."""
    if isinstance(value, python_kind) and not isinstance(value, bool):
        return cast(value)
    if isinstance(value, str):
        return cast(value.strip())
    raise ValueError(f"not {cast.__name__}")


def _to_int(value) -> int:
    return _number(value, int, numbers.Integral)


def _to_float(value) -> float:
    return _number(value, float, numbers.Real)


def _to_str(value) -> str:
    if isinstance(value, str):
        return value
    if isinstance(value, os.PathLike):  # a path from the Python API, recorded as text like the CLI's
        return os.fspath(value)
    raise ValueError("expected text")


def _to_dict(value) -> dict:
    if isinstance(value, Mapping):
        return dict(value)
    raise ValueError("expected a dict (Python API only)")


def _to_callable(value):
    if callable(value):
        return value
    raise ValueError("expected a callable (Python API only)")


def _as_given(value):
    return value


#: the kind of an option whose type no default can tell and whose consumer checks it (a pose backend's
#: ``providers`` tuple): passed on as given
AS_GIVEN = _as_given


#: declared type -> converter; a Spec may also name its own converter
CONVERTERS: dict[Any, Callable] = {bool: _to_bool, int: _to_int, float: _to_float, str: _to_str, dict: _to_dict,
                                   callable: _to_callable}
_TYPE_WORDS = {bool: "true/false", int: "an integer", float: "a number", str: "text", dict: "a dict",
               callable: "a callable", AS_GIVEN: "a value"}


@dataclass(frozen=True)
class Spec:
    """The declared type of one option, for what a default cannot say: ``nullable`` (None allowed; written
    ``none`` on the command line), a ``minimum``, or a closed set of ``choices``."""

    kind: Any = str
    nullable: bool = False
    minimum: float | None = None
    choices: tuple = ()

    def describe(self) -> str:
        if self.choices:
            text = " | ".join(map(str, self.choices))
        else:
            text = _TYPE_WORDS.get(self.kind, getattr(self.kind, "__name__", str(self.kind)))
            if self.minimum is not None:
                text += f" ≥ {self.minimum:g}"
        return text + (" or none" if self.nullable else "")


def spec_from_defaults(values, declared=None) -> Spec:
    """A setting's Spec: the declared one (a Spec or a bare type), else the type of its non-None defaults
    (int and float together: float), nullable when a default is None; only None defaults: a string (a path or
    a name); defaults of another type (a tuple) or of several: passed as given."""
    if isinstance(declared, Spec):
        return declared
    nullable = any(v is None for v in values)
    if declared is not None:
        return Spec(declared, nullable=nullable)
    kinds = {type(v) for v in values if v is not None}
    if kinds == {int, float}:
        kinds = {float}
    if not kinds:
        return Spec(str, nullable=nullable)
    kind = kinds.pop() if len(kinds) == 1 else None
    return Spec(kind if kind in CONVERTERS else AS_GIVEN, nullable=nullable)  # a tuple, say: its consumer checks


def coerce(value, spec: Spec):
    """``value`` (a CLI string or a Python value) as ``spec`` declares it; ValueError saying what was expected."""
    if spec.nullable and (value is None or (isinstance(value, str) and value.strip().lower() in _NONE)):
        return None
    if value is None:
        raise ValueError(f"expected {spec.describe()}")
    try:
        out = CONVERTERS.get(spec.kind, spec.kind)(value)
    except (TypeError, ValueError):
        raise ValueError(f"expected {spec.describe()}") from None
    if isinstance(out, float) and not math.isfinite(out) and spec.minimum is not None:
        raise ValueError(f"expected {spec.describe()}")
    if spec.minimum is not None and out < spec.minimum:
        raise ValueError(f"expected {spec.describe()}")
    if spec.choices and out not in spec.choices:
        raise ValueError(f"expected {spec.describe()}")
    return out


def check_options(owner: str, options: Mapping, specs: Mapping[str, Spec], prefixes: Mapping[str, str] | None = None) -> dict:
    """``options`` checked against ``specs`` and coerced. ``owner`` names them in messages ("metric 'fvd'",
    "generator 'm2p'"); ``prefixes`` are open-ended families of keys (``pose_*``) passed on unchecked here and
    checked by whoever consumes them. One-line EvalkitError on an unknown key or a value of the wrong type."""
    prefixes = prefixes or {}
    valid = ", ".join(sorted(specs) + [f"{p}*" for p in prefixes]) or "none"
    out = {}
    for key, value in options.items():
        if key in specs:
            try:
                out[key] = coerce(value, specs[key])
            except ValueError as err:
                raise EvalkitError(f"{owner}: bad value {key}={value!r}, {err}", hint=f"valid keys: {valid}") from None
        elif any(key.startswith(p) for p in prefixes):
            out[key] = value
        else:
            raise EvalkitError(f"{owner} has no option '{key}'", hint=f"valid keys: {valid}")
    return out
