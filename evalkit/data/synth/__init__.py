"""SDGPip: the synthetic dance data pipeline (music, motion, articulated-body renderer)."""
