"""m2p: the seed paper's model (music → M2PEnc → pose guidance → CHAMP-style video diffusion), re-implemented.

Entry points: ``pipeline.M2PPipeline`` (generate videos), ``train.run_stages`` / ``evalkit train m2p``
(train), ``load_full.load_full`` (the full model from pretrained weights), ``config.get_config`` (tiny / full).
See models/m2p/README.md.
"""
