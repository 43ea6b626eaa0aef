"""The fixture comparison keeps its power: each deliberate bug below, injected into our model, fails the DiT check of
``test_official_numerics`` loudly (by at least 10x its bound).

Each bug first asks the fixture's config whether it can change anything there (:func:`_cannot_apply`), and is
skipped with the reason when it cannot: any valid official-format fixture may be used
(``AUDIOX_OFFICIAL_FIXTURE``), e.g. one whose DiT width equals its context width, where the key/value heads equal
the query heads and tiling them is the same as interleaving them.

Their effects on ``dit.out_cond`` when made in the official code, as recorded with the fixture (rel_err): kv heads
tiled 0.76, Fourier features [sin, cos] 0.34, t + 0.01 0.04, zero text-padding tokens dropped from the context 0.03.
"""

from __future__ import annotations

import pytest
import torch
from fixture_tools import official_context, official_ids
from tolerances import Checks, rel_err

import audiox.models.dit as dit_module
from audiox.nn.attention import attention

LOUD = 10  # a caught bug must exceed the bound by this factor, not sit at its edge


def _tiled_attention(q, k, v, *, backend="sdpa"):
    """kv heads tiled (head j serves query heads j, j + Hkv, ...) instead of repeat-interleaved."""
    if q.shape[1] != k.shape[1]:
        g = q.shape[1] // k.shape[1]
        k, v = k.repeat(1, g, 1, 1), v.repeat(1, g, 1, 1)
    return attention(q, k, v, backend=backend)


def _sin_first(self, t):
    f = 2 * torch.pi * t @ self.weight.T
    return torch.cat([f.sin(), f.cos()], dim=-1)


def _cannot_apply(bug: str, official, model) -> str | None:
    """Why ``bug`` cannot change the DiT output of this fixture (None: it can), read from the fixture's config."""
    dit = model.dit
    heads = dit.params.num_heads
    kv_heads = dit.cond_dim // (dit.params.embed_dim // heads)
    if bug == "kv_heads_tiled" and not 1 < kv_heads < heads:
        return (f"the cross-attention has {kv_heads} key/value head(s) for {heads} query heads: tiling them is the "
                "same as interleaving them")
    if bug == "padding_dropped":
        keep = official.expected[f"cond.{official_ids(model)[1]}.mask"]
        if bool(keep.all()):
            return "the fixture's prompts fill the text length: there are no padding tokens to drop"
    return None


def _run(bug, official, model, monkeypatch) -> torch.Tensor:
    inp, exp = official.inputs, official.expected
    dit = model.dit
    ids = official_ids(model)
    ctx = official_context(official, ids)
    x, t = inp["dit_x"], inp["dit_t"]
    if bug == "kv_heads_tiled":
        monkeypatch.setattr(dit_module, "attention", _tiled_attention)
    elif bug == "fourier_sin_cos":
        monkeypatch.setattr(dit_module.FourierFeatures, "forward", _sin_first)
    elif bug == "t_plus_0.01":
        t = t + 0.01
    elif bug == "padding_dropped":
        vid, tid, aid = ids
        keep = exp[f"cond.{tid}.mask"]
        with torch.no_grad():
            return torch.cat([dit(x[b:b + 1], t[b:b + 1], torch.cat(
                [exp[f"cond.{vid}.out"][b:b + 1], exp[f"cond.{tid}.out"][b:b + 1, keep[b]],
                 exp[f"cond.{aid}.out"][b:b + 1]], dim=1)) for b in range(x.shape[0])])
    with torch.no_grad():
        return dit(x, t, ctx)


def test_control_passes(official, official_model, bounds, monkeypatch):
    """Without a bug the same check passes (so the failures below come from the bugs, not the harness)."""
    out = _run("none", official, official_model, monkeypatch)
    assert rel_err(out, official.expected["dit.out_cond"]) <= bounds["dit"]


@pytest.mark.parametrize("bug", ["kv_heads_tiled", "fourier_sin_cos", "t_plus_0.01", "padding_dropped"])
def test_injected_bug_is_caught(bug, official, official_model, bounds, monkeypatch):
    reason = _cannot_apply(bug, official, official_model)
    if reason is not None:
        pytest.skip(f"{bug} cannot apply to this fixture: {reason}")
    out = _run(bug, official, official_model, monkeypatch)
    bound = bounds["dit"]
    checks = Checks(f"injected:{bug}")
    err = checks.close("dit.out_cond", out, official.expected["dit.out_cond"], bound)
    with pytest.raises(AssertionError, match="dit.out_cond"):
        checks.verify()
    assert err > LOUD * bound, f"{bug}: rel_err {err:.3g} is caught, but by less than {LOUD}x the bound {bound:.3g}"
