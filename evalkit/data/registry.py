"""Splits by name: ``get_split("synth" | "aistpp" | "wild", part, root=None)``."""
from __future__ import annotations

from pathlib import Path

from evalkit.errors import EvalkitError

DATASETS = {
    "synth": "SDGPip synthetic dancers (embedded default: made on first use in the cache; or a root written "
             "by `evalkit data synth`), parts train/test; part bench: synth-bench, the decision-sized test clips",
    "aistpp": "AIST++ crossmodal split (annotations + AIST Dance DB videos + music), camera c09, 60 fps, "
              "centre 640² crop, parts train/val/test",
    "wild": "any folder of music videos (audio in the container or a sidecar), one part",
}


def get_split(name: str, part: str = "test", root: str | Path | None = None, **options):
    """The split ``name`` (see DATASETS). ``options`` go to the loader (camera, crop, resize, fps, ids for
    aistpp; reference, audio_dir for wild; seed for the default synth split)."""
    if name == "synth":
        if root is None and part == "bench":  # synth-bench: the decision-sized test clips (synth_bench.py)
            from evalkit.data.synth_bench import get_split as bench_split

            return bench_split("test")
        if root is None:
            from evalkit.data.synth.default import get_split as default_split

            return default_split("synth", part, **options)
        from evalkit.data.aist import AistSplit

        if part not in ("train", "test"):
            raise EvalkitError(f"the synth split has parts train and test, not {part!r}")
        return AistSplit(root, part, crop=None, name=f"synth-{part}", **options)
    if name == "aistpp":
        if root is None:
            raise EvalkitError("the aistpp split needs its root folder", hint="pass --root AIST++_DIR")
        from evalkit.data.aist import AistSplit

        return AistSplit(root, part, **options)
    if name == "wild":
        if root is None:
            raise EvalkitError("the wild split needs a folder of music videos", hint="pass --root DIR")
        from evalkit.data.wild import WildSplit

        return WildSplit(root, **options)
    raise EvalkitError(f"unknown dataset {name!r}", hint=f"choose one of {', '.join(DATASETS)}")


def validate(name: str, root: str | Path) -> list[str]:
    """Every problem of the dataset at ``root`` ("path: what is wrong" lines; empty when valid)."""
    if name in ("aistpp", "synth"):
        from evalkit.data.aist import validate_root

        problems = validate_root(root)
        if name == "synth" and Path(root).is_dir():
            problems += _synth_problems(Path(root))
        return problems
    if name == "wild":
        try:
            return get_split("wild", root=root).validate()
        except EvalkitError as err:
            return [str(err)]
    raise EvalkitError(f"unknown dataset {name!r}", hint=f"choose one of {', '.join(DATASETS)}")


def _synth_problems(root: Path) -> list[str]:
    """What an SDGPip root has beyond AIST++: the manifest, and per clip its guidance maps and reference."""
    import json

    manifest_path = root / "sdgpip.json"
    if not manifest_path.is_file():
        return [f"{manifest_path}: missing (not written by `evalkit data synth`)"]
    try:
        manifest = json.loads(manifest_path.read_text())
        clips, maps = manifest["clips"], manifest["settings"]["maps"]
    except (OSError, ValueError, KeyError, TypeError) as err:
        return [f"{manifest_path}: unreadable SDGPip manifest ({type(err).__name__})"]
    from evalkit.data.synth.pipeline import NPZ_MAPS

    problems = []
    for clip in clips:
        video = clip.get("video", "?")
        wanted = [root / "reference" / f"{video}.png"]
        wanted += [root / "guidance" / m / f"{video}{'.npz' if m in NPZ_MAPS else '.mp4'}" for m in maps if m != "rgb"]
        for path in wanted:
            if not path.is_file() or path.stat().st_size == 0:
                problems.append(f"{path}: missing or empty")
    return problems
