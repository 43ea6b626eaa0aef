"""Training and fine-tuning (the only package that imports Lightning, and only in its submodules).

- :mod:`audiox.training.config`: ``TrainConfig`` (optimizer, InverseLR / warmup, EMA, precision, masking, parts)
- :mod:`audiox.training.checks`: checks of training arguments (data, devices, strategy, model spec)
- :mod:`audiox.training.masking`: seeded multi-modal masking and CFG dropout (training only)
- :mod:`audiox.training.module`: ``AudioXTrainingModule`` (v objective, EMA, frozen/trainable parts)
- :mod:`audiox.training.preencode`: the frozen half of a step (``encode_frozen``) and ``preencode`` to shards
- :mod:`audiox.training.data`: ``--data`` -> dataset and resumable, rank-aware DataLoader
- :mod:`audiox.training.callbacks`: atomic checkpoints, periodic checkpoints, demos with spectrograms
- :mod:`audiox.training.ema`: the DiT's exponential moving average
- :mod:`audiox.training.run`: a training job from a config (``train``, ``load_model_spec``, ``export_run``)
- :mod:`audiox.training.autoencoder`: VAE losses, crop datasets, ``VAETrainingModule``, ``vae.safetensors`` files
- :mod:`audiox.training.vae_run`: a VAE training job (``train_vae``; decoder alone on stored latents), resumable

The entry points are ``audiox train`` (:func:`audiox.training.run.train`; see ``docs/training.md``) and
``audiox train-vae`` (:func:`audiox.training.vae_run.train_vae`).
"""
