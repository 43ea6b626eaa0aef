"""One generation request: made and checked once by every front end, handed down unchanged to the sampler."""

from __future__ import annotations

from collections import Counter
from dataclasses import FrozenInstanceError

import pytest

from audiox.errors import InputError, RequestError
from audiox.pipeline.request import GenerationRequest
from audiox.pipeline.settings import NO_LIMITS, Limits, SamplerSettings


def test_request_is_frozen_and_normalised():
    r = GenerationRequest(text=["a", "b"], inpaint=["3-4", (0.5, 1.0), "1-2"], audio="clip.wav", cfg_scale=5)
    assert r.text == ("a", "b") and r.inpaint == ((0.5, 2.0), (3.0, 4.0))  # sorted and merged pairs
    assert r.cfg_scale == 5.0 and isinstance(r.cfg_scale, float)
    with pytest.raises(FrozenInstanceError):
        r.cfg_scale = 1.0  # type: ignore[misc]


@pytest.mark.parametrize("values, message", [
    (dict(cfg_scale=0), "cfg_scale: must be > 0, got 0"),
    (dict(cfg_scale=101.0), "cfg_scale: 101 is more than the limit of 100 (limits lifts it)"),
    (dict(seed=-1), "seed: must be >= 0, got -1"),
    (dict(seed=2**64), "seed: must be <= 18446744073709551615"),
    (dict(text=b"x"), "text: expected a string, got bytes"),
    (dict(sampler="nope"), "sampler: unknown sampler 'nope'"),
    (dict(video="a.mp4", image="b.png"), "give either video or image, not both"),
    (dict(continue_audio=True), "inpaint / continue_audio need audio"),
    (dict(text=["a", "b"], video=["v"]), "batched inputs disagree on the batch size: [1, 2]"),
])
def test_refusals_name_the_field(values, message):
    with pytest.raises(RequestError) as e:
        GenerationRequest(**values)
    assert str(e.value).startswith(message)
    assert isinstance(e.value, InputError)


def test_each_front_end_words_the_fields():
    with pytest.raises(RequestError) as e:
        GenerationRequest(cfg_scale=1e30)
    assert e.value.worded({"cfg_scale": "--cfg-scale", "limits": "--no-limits"}.get) == \
        "--cfg-scale: 1e+30 is more than the limit of 100 (--no-limits lifts it)"
    assert GenerationRequest(cfg_scale=1e30, limits=NO_LIMITS).cfg_scale == 1e30


def test_resolved_fills_defaults_and_a_seed_once():
    d = SamplerSettings(steps=7, cfg_scale=3.0)
    r = GenerationRequest(text="x", cfg_scale=5.0).resolved(d)
    assert (r.steps, r.cfg_scale, r.sampler) == (7, 5.0, d.sampler) and 0 <= r.seed <= 2**64 - 1
    assert GenerationRequest(seed=3).resolved(d).seed == 3
    with pytest.raises(RequestError, match="steps: 7 is more than the limit of 5"):
        GenerationRequest(limits=Limits(steps=5)).resolved(d)  # a default beyond the limits
    with pytest.raises(RequestError, match="sigma_min/sigma_max: need sigma_min < sigma_max"):
        GenerationRequest(sigma_min=600.0).resolved(d)


def test_cfg_scale_seed_and_text_are_checked_once(debug_model_dir, tmp_path, monkeypatch):
    """From command-line values through the job checks and the pipeline to the sampler: each of cfg_scale, seed
    and text goes through its check exactly once (when the request is made)."""
    from audiox.pipeline import AudioXPipeline
    from audiox.pipeline.jobs import check_jobs, parse_job, run_jobs
    from audiox.pipeline.source import inspect_model
    from audiox.utils import checks

    calls: Counter = Counter()
    for fn in ("number", "seed", "text"):
        real = getattr(checks, fn)

        def spy(name, value, *a, _real=real, **kw):
            calls[name] += 1
            return _real(name, value, *a, **kw)

        monkeypatch.setattr(checks, fn, spy)
    seen = {}
    import audiox.sampling.registry as registry

    real_sample = registry.sample

    def sample_spy(name, denoise, noise, **kw):
        seen.update(sampler=name, steps=kw["steps"])
        return real_sample(name, denoise, noise, **kw)

    monkeypatch.setattr(registry, "sample", sample_spy)
    job = parse_job({"text": "a bell", "cfg_scale": 4.0, "seed": 7, "steps": 2, "sampler": "euler",
                     "out": str(tmp_path / "o.wav")})
    check_jobs([job], inspect_model(debug_model_dir))
    pipe = AudioXPipeline.from_pretrained(debug_model_dir, device="cpu")
    _, out = next(run_jobs(pipe, [job]))
    assert (calls["cfg_scale"], calls["seed"], calls["text"]) == (1, 1, 1), calls
    assert seen == {"sampler": "euler", "steps": 2}
    assert (out.settings["cfg_scale"], out.settings["seed"], out.settings["text"]) == (4.0, 7, ["a bell"])
