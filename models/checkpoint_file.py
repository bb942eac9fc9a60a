"""The single-file safetensors checkpoint both reference models use (m2p's and posedit's ``model.py``).

The file holds the weights and, in its metadata, a format tag, the config as JSON and a free-form ``meta``
record (stages done, the recipe, counts), so a checkpoint rebuilds its own model. Which tensors go in, and in
which dtype, is each model's choice; writing, reading and matching names and shapes against a model are shared.
"""
from __future__ import annotations

import json
from pathlib import Path

import torch

from evalkit.errors import EvalkitError


ARTICLES = {"m2p": "an"}  # "an m2p", "a posedit"


def write(path: str | Path, tensors: dict[str, torch.Tensor], fmt: str, config_json: str,
          meta: dict | None = None) -> Path:
    """Write through a temporary file, so an interrupted save never leaves half a checkpoint under ``path``."""
    from safetensors.torch import save_file

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    metadata = {"format": fmt, "config": config_json, "meta": json.dumps(meta or {})}
    tmp = path.with_suffix(path.suffix + ".tmp")
    save_file({k: v.contiguous() for k, v in tensors.items()}, str(tmp), metadata=metadata)
    tmp.replace(path)
    return path


def read(path: str | Path, fmt: str, model: str, hint: str, tensors: bool = True) -> tuple[str, dict, dict]:
    """(config JSON, meta, tensors) of a ``fmt`` checkpoint of ``model`` ('m2p', 'posedit'); ``tensors=False`` reads
    only the header. A missing, unreadable or foreign file is a one-line error (``hint``: how to get one)."""
    from safetensors import safe_open

    path = Path(path)
    if not path.is_file():
        raise EvalkitError(f"{model} checkpoint not found", path=path, hint=hint)
    try:
        with safe_open(str(path), framework="pt") as f:
            metadata = f.metadata() or {}
            weights = {k: f.get_tensor(k) for k in f.keys()} if tensors else {}
    except Exception as err:  # safetensors raises several error types for corrupt files
        raise EvalkitError(f"cannot read safetensors ({type(err).__name__})", path=path) from None
    if metadata.get("format") != fmt:
        raise EvalkitError(f"not {ARTICLES.get(model, 'a')} {model} checkpoint (format {metadata.get('format')!r})",
                           path=path)
    return metadata["config"], json.loads(metadata.get("meta", "{}")), weights


def check_match(state: dict[str, torch.Tensor], tensors: dict[str, torch.Tensor], source, expected=None) -> None:
    """The checkpoint's tensors are exactly the model's (names in ``expected``, default ``state``'s) with its shapes."""
    expected = set(state) if expected is None else set(expected)
    missing, extra = sorted(expected - set(tensors)), sorted(set(tensors) - expected)
    if missing or extra:
        raise EvalkitError(f"checkpoint does not match the model: {len(missing)} missing (e.g. {missing[:2]}), "
                           f"{len(extra)} unexpected (e.g. {extra[:2]})", path=source)
    for key, value in tensors.items():
        if state[key].shape != value.shape:
            raise EvalkitError(f"shape of {key}: checkpoint {tuple(value.shape)} vs model {tuple(state[key].shape)}",
                               path=source)
