"""Statistics for comparing runs: paired tests and intervals (paired.py), power and sample size (power.py)."""
