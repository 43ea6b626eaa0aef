"""Noise sources: stored replay, Brownian tree reproducibility and statistics, explicit Gaussian generators."""

from __future__ import annotations

import pytest
import torch
from tolerances import EPS32, TREE_BOUND

from audiox.errors import InputError
from audiox.sampling.noise import BrownianTreeNoise, GaussianNoise, StoredNoise


def _s(v: float) -> torch.Tensor:
    return torch.tensor(v)


def test_stored_noise_replays_in_order_then_raises():
    tensors = torch.arange(3 * 2 * 1 * 4, dtype=torch.float32).reshape(3, 2, 1, 4)
    src = StoredNoise(tensors)
    for j, (a, b) in enumerate([(5.0, 4.0), (4.0, 2.0), (2.0, 1.0)]):
        assert torch.equal(src(_s(a), _s(b)), tensors[j])
    assert src.calls == 3
    assert src.pairs == [(5.0, 4.0), (4.0, 2.0), (2.0, 1.0)]
    with pytest.raises(InputError, match="exhausted: all 3 stored tensors were used"):
        src(_s(1.0), _s(0.5))


def test_brownian_tree_reproducible_from_seed_and_seed_dependent():
    x = torch.zeros(2, 3, 16)
    pairs = [(80.0, 20.0), (20.0, 5.0), (5.0, 0.01)]
    a = [BrownianTreeNoise(x, 0.01, 80.0, seed=7)(_s(p), _s(q)) for p, q in pairs]
    tree = BrownianTreeNoise(x, 0.01, 80.0, seed=7)
    b = [tree(_s(p), _s(q)) for p, q in reversed(pairs)][::-1]  # query order does not matter
    other = BrownianTreeNoise(x, 0.01, 80.0, seed=8)(_s(80.0), _s(20.0))
    for u, v in zip(a, b):
        assert u.shape == x.shape and u.dtype == x.dtype
        # torchsde caches the tree's nodes, so the query order changes only its float32 rounding: the tree bound
        torch.testing.assert_close(u, v, rtol=0, atol=TREE_BOUND * float(u.abs().max()))
    assert not torch.allclose(a[0], other)


def test_brownian_tree_unit_variance_and_additive():
    x = torch.zeros(4000)
    tree = BrownianTreeNoise(x, 0.002, 80.0, seed=3)
    whole = tree(_s(40.0), _s(1.0))
    first, second = tree(_s(40.0), _s(10.0)), tree(_s(10.0), _s(1.0))
    # 4000 N(0, 1) draws: mean within 5 / sqrt(4000) = 0.08, variance within 5 * sqrt(2 / 4000) = 0.11
    assert abs(whole.mean().item()) < 0.08 and abs(whole.var().item() - 1) < 0.11
    # independent increments on disjoint intervals
    assert abs(torch.corrcoef(torch.stack([first, second]))[0, 1].item()) < 0.08
    # the normalised increments recombine into the whole interval's increment
    recombined = (first * 30.0**0.5 + second * 9.0**0.5) / 39.0**0.5
    # three tree queries, two square-root scalings and a sum, against the values' size (max about 4.5)
    torch.testing.assert_close(recombined, whole, rtol=0, atol=(3 * TREE_BOUND + 4 * EPS32) * float(whole.abs().max()))


def test_brownian_tree_log_time_and_per_row_seeds():
    x = torch.zeros(3, 2, 8)
    log_tree = BrownianTreeNoise(x, 0.01, 80.0, seed=1, time="log_sigma")
    n = log_tree(_s(80.0), _s(8.0))
    assert n.shape == x.shape and torch.isfinite(n).all()
    batched = BrownianTreeNoise(x, 0.01, 80.0, seed=[11, 12, 13])(_s(80.0), _s(8.0))
    alone = BrownianTreeNoise(x[1:2], 0.01, 80.0, seed=[12])(_s(80.0), _s(8.0))
    assert torch.equal(batched[1:2], alone)  # one tree per row: the same tree, the same arithmetic
    with pytest.raises(InputError, match="2 seeds for a batch of 3"):
        BrownianTreeNoise(x, 0.01, 80.0, seed=[1, 2])
    with pytest.raises(InputError, match="unknown time"):
        BrownianTreeNoise(x, 0.01, 80.0, seed=1, time="t")  # type: ignore[arg-type]


def test_gaussian_noise_uses_only_its_generator():
    like = torch.empty(2, 3, 5, dtype=torch.float64)
    before = torch.get_rng_state()
    a = GaussianNoise(like, torch.Generator().manual_seed(5))
    b = GaussianNoise(like, torch.Generator().manual_seed(5))
    a1, a2 = a(_s(2.0), _s(1.0)), a(_s(1.0), _s(0.5))
    assert torch.equal(a1, b(_s(2.0), _s(1.0))) and not torch.equal(a1, a2)
    assert a1.shape == like.shape and a1.dtype == torch.float64
    assert torch.equal(torch.get_rng_state(), before)
