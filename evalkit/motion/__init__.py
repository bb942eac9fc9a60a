"""Dance-motion metrics on 3D joint sequences: Bailando's FID_k / FID_g / Div_k / Div_g, EDGE's PFC and the
3D BeatAlign, scored over sets of motions (``evalkit score-motion``).

Data flows io → features_kinetic / features_geometric → metrics / pfc → score (results like ``evalkit score``).
"""
