"""User-facing errors: the CLI prints them as one line and exits with code 2."""


class EvalkitError(Exception):
    """Bad input or environment. ``str(err)`` is the whole one-line message the user sees:
    it names the file (or setting) and what to do about it."""

    exit_code = 2

    def __init__(self, message: str, *, path=None, hint: str | None = None):
        parts = [f"{path}: {message}" if path is not None else message]
        if hint:
            parts.append(hint)
        super().__init__(" — ".join(parts))
        self.path = path
        self.hint = hint
