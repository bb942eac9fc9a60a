"""HTML pages of results: a run's report, a comparison of runs, the static leaderboard site.

Pages read only results files (results.json, per_video.csv, compare.csv, the boards' CSVs) — and, for a run
whose videos are still on disk, the videos themselves for frame strips and beat plots.
"""
