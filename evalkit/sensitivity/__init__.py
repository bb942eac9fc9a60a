"""``evalkit sensitivity``: the metric-validity suite — controlled damage to seeded SDGPip clips and real clips,
and each metric's response with its interval (docs/sync-validity.md).

* :mod:`evalkit.sensitivity.damages` — the damages (one clip in, one damaged clip out);
* :mod:`evalkit.sensitivity.clips` — the clip sources (seeded SDGPip clips, a folder of real music videos);
* :mod:`evalkit.sensitivity.suite` — scoring every damage with the metrics' own streaming states, the table;
* :mod:`evalkit.sensitivity.plot` — one PNG per metric.
"""
