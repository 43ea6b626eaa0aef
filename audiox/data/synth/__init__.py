"""A generated multi-modal corpus with ground truth: sound effects, music, synchronised video, stills, captions.

Build it with ``audiox synth build --out DIR --n N --seed S`` or :func:`build`. See ``docs/corpus.md``.
"""

from audiox.data.synth.build import BuildConfig, build, make_sample, plan

__all__ = ["BuildConfig", "build", "make_sample", "plan"]
