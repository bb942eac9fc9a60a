"""A restricted unpickler for numpy-only archives (flax/jax checkpoints pickled as nested dicts).

It admits numpy arrays, numpy scalars/dtypes and plain containers and refuses every other global,
so reading a checkpoint can never execute code from it."""
import io
import pickle

_ALLOWED = {
    ("numpy", "ndarray"),
    ("numpy", "dtype"),
    ("numpy.core.multiarray", "_reconstruct"),
    ("numpy._core.multiarray", "_reconstruct"),
    ("numpy.core.multiarray", "scalar"),
    ("numpy._core.multiarray", "scalar"),
    ("numpy.core.numeric", "_frombuffer"),
    ("numpy._core.numeric", "_frombuffer"),
    ("collections", "OrderedDict"),
    ("builtins", "dict"),
    ("builtins", "list"),
    ("builtins", "tuple"),
    ("builtins", "set"),
    ("builtins", "frozenset"),
    ("_codecs", "encode"),
}


class RestrictedUnpickler(pickle.Unpickler):
    def find_class(self, module: str, name: str):
        if (module, name) in _ALLOWED:
            return super().find_class(module, name)
        raise pickle.UnpicklingError(f"refusing to load global {module}.{name}: not a numpy array or plain container")


def loads_numpy_only(data: bytes):
    """Unpickle ``data`` admitting only numpy arrays and plain containers."""
    return RestrictedUnpickler(io.BytesIO(data)).load()


def flatten(tree, prefix: str = "") -> dict:
    """Nested dicts of arrays -> {'a.b.c': array}."""
    out = {}
    for key, value in tree.items():
        name = f"{prefix}.{key}" if prefix else str(key)
        if isinstance(value, dict):
            out.update(flatten(value, name))
        else:
            out[name] = value
    return out
