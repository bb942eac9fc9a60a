"""Dataset splits: AIST++, in-the-wild music videos, and the synthetic SDGPip split (embedded default)."""
