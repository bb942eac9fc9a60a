"""Music beats you can trust? The beat trackers of BeatAlign's presets (``bailando``, ``fact``: librosa, see
evalkit/audio/beats.py) against exact beat times: SDGPip tracks (every style, tempi spread over 80–160 BPM) and the
hand-annotated madmom sample.

Per tracker: F-measure (±70 ms), CMLt / AMLt (mir_eval continuity: AMLt counts double/half tempo and off-beat
as right), tempo right (median inter-beat interval within 4 %), octave errors (×2 or ×½ within 4 %), phase
errors (tempo right, yet F < 0.5: beats at the right rate between the true ones). The trackers run as the
metrics run them: analysis rate fps · 512 with fps 30, beat times on the 1/30 s grid.

Run: uv run python benchmarks/beat_trackers.py [--per-style 10] [--seconds 15] [--json out.json]
"""
from __future__ import annotations

import argparse
import json
import os
import time
from pathlib import Path

import numpy as np

FPS = 30.0
WINDOW = 0.07


def sdgpip_tracks(per_style: int, seconds: float, seed: int = 0):
    """(name, audio, sr, beat times): per style, ``per_style`` tempi evenly over 80–160 BPM."""
    from evalkit.data.synth.music import BPM_RANGE, GENRES, synth_track

    for g in GENRES:
        for k, bpm in enumerate(np.linspace(*BPM_RANGE, per_style)):
            track = synth_track(np.random.default_rng([seed, k, ord(g.code[1])]), seconds, g.code, float(bpm))
            yield f"{g.code}-{track.bpm:.0f}", track.audio[None], track.sample_rate, track.beats, track.bpm


def madmom_sample(shared: Path):
    from evalkit.audio.beats import music_beats  # noqa: F401 — the same loader path as the metrics
    from evalkit.io.audio import decode_audio

    folder = shared / "data" / "audio" / "madmom"
    audio = decode_audio(folder / "sample.wav")
    beats = np.array([float(line.split()[0]) for line in (folder / "sample.beats").read_text().splitlines()
                      if line.strip() and not line.startswith("#")])
    return "madmom-sample", audio.samples, audio.sample_rate, beats, 60.0 / np.median(np.diff(beats))


def evaluate(reference: np.ndarray, estimate: np.ndarray, true_bpm: float, min_time: float) -> dict:
    import mir_eval

    ref, est = reference[reference >= min_time], estimate[estimate >= min_time]
    f = mir_eval.beat.f_measure(ref, est, f_measure_threshold=WINDOW)
    cmlc, cmlt, amlc, amlt = mir_eval.beat.continuity(ref, est) if len(ref) > 1 and len(est) > 1 else (0, 0, 0, 0)
    est_bpm = 60.0 / np.median(np.diff(estimate)) if len(estimate) > 1 else float("nan")
    ratio = est_bpm / true_bpm
    tempo_ok = abs(ratio - 1) <= 0.04
    octave = any(abs(ratio - r) <= 0.04 * r for r in (2.0, 0.5))
    return {"f": float(f), "cmlt": float(cmlt), "amlt": float(amlt), "tempo_ok": bool(tempo_ok),
            "octave": bool(octave), "phase": bool(tempo_ok and f < 0.5), "est_bpm": float(est_bpm)}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--per-style", type=int, default=10)
    ap.add_argument("--seconds", type=float, default=15.0)
    ap.add_argument("--json", type=Path)
    args = ap.parse_args()
    from evalkit.audio.beats import PRESETS, music_beats

    tracks = list(sdgpip_tracks(args.per_style, args.seconds))
    shared = os.environ.get("EVALKIT_SHARED")
    if shared:
        tracks.append(madmom_sample(Path(shared)))
    results = {p: [] for p in PRESETS}
    start = time.perf_counter()
    for name, samples, sr, beats, bpm in tracks:
        for preset in PRESETS:
            est = music_beats(samples, sr, FPS, preset).times
            # mir_eval's convention skips the first 5 s; the 2.8 s madmom sample is scored whole
            row = evaluate(beats, est, bpm, 5.0 if name != "madmom-sample" else 0.0)
            results[preset].append({"track": name, "bpm": bpm, **row})
    seconds = time.perf_counter() - start
    summary = {}
    print(f"{len(tracks)} tracks ({len(tracks) - bool(shared)} SDGPip of {args.seconds:g} s"
          f"{' + the madmom sample' if shared else ''}), {seconds:.1f} s")
    print("| tracker | set | N | F (±70 ms) | CMLt | AMLt | tempo right | octave errors | phase errors |")
    print("|---|---|---:|---:|---:|---:|---:|---:|---:|")
    for preset, rows in results.items():
        for label, subset in (("SDGPip", [r for r in rows if r["track"] != "madmom-sample"]),
                              ("madmom sample", [r for r in rows if r["track"] == "madmom-sample"])):
            if not subset:
                continue
            keys = ("f", "cmlt", "amlt", "tempo_ok", "octave", "phase")
            s = {k: float(np.mean([r[k] for r in subset])) for k in keys}
            summary[f"{preset}/{label}"] = {**s, "n": len(subset)}
            print(f"| {preset} | {label} | {len(subset)} | {s['f']:.3f} | {s['cmlt']:.3f} | {s['amlt']:.3f} "
                  f"| {s['tempo_ok']:.0%} | {s['octave']:.0%} | {s['phase']:.0%} |")
    if args.json:
        args.json.write_text(json.dumps({"summary": summary, "tracks": results}, indent=1))


if __name__ == "__main__":
    main()
