"""Numerical tolerances of the test suite, derived from the dtype and the computation, never tuned to one CPU.

Measure: ``rel_err(ours, ref) = max |ours - ref| / max |ref|`` (the measure the official fixture's recorded errors use).

Why results differ at all: another CPU, kernel set (``ATEN_CPU_CAPABILITY=default|avx2|avx512``, oneDNN with or
without AMX) or thread count sums in another order and evaluates exp/log/tanh/cos with other polynomials. The
math is the same, so only rounding differs. The bounds model that rounding (Higham, "Accuracy and Stability of
Numerical Algorithms", 2nd ed., sections 3.1 and 3.5):

- a product with reductions of length ``k`` rounds its result to the storage dtype (``eps_store``) and its sum
  carries about ``sqrt(k) * eps_acc`` (rounding errors of random sign add like a random walk);
- the errors of ``depth`` such products applied one after another add up (worst case, linear in ``depth``):
  ``layer_bound = depth * (eps_store + sqrt(k) * eps_acc)``;
- a sampler trajectory amplifies what one step adds; :func:`trajectory_bound` measures that amplification in
  the test itself, by perturbing the start by the rounding one denoiser call can add.

``scripts/tolerance_spread.py`` runs the numerics tests under every kernel set with ``AUDIOX_TOLERANCE_LOG`` set
and prints the measured error of every check beside its bound. Where the math is the same on every CPU (integer
work, copies, concatenation, masks, key lists), tests keep exact equality.
"""

from __future__ import annotations

import json
import math
import os
from collections.abc import Callable

import torch

# Machine epsilon (spacing at 1.0) per dtype: 2**-23, 2**-10, 2**-7.
EPS = {torch.float32: torch.finfo(torch.float32).eps, torch.float16: torch.finfo(torch.float16).eps,
       torch.bfloat16: torch.finfo(torch.bfloat16).eps}
EPS32 = EPS[torch.float32]

# torch.randn's Box-Muller transform per value: log (1 ulp), sqrt (0.5), the angle 2 pi u (up to 2 ulps of a value
# of magnitude 1 after the cos), cos/sin (1), the product and mean/std (1.5): 6 ulps in each of the vectorised
# (Sleef) and scalar (libm) kernels, so two kernel sets differ by at most 12, relative to max |ref|.
RANDN_BOUND = 12 * EPS32
# torchsde's Brownian tree bisects [t0, t1] down to its tolerance 1e-6: at most log2(80 / 1e-6) < 27 levels for the
# sigma ranges tested (<= 80), each adding a scaled randn to the midpoint; every level carries the randn bound.
TREE_BOUND = 27 * RANDN_BOUND

# PCM WAV round trips: libsndfile writes floats scaled by 2**(bits-1) - 1 and reads them back divided by
# 2**(bits-1), so a float sample in [-1, 1] comes back within one quantisation step (measured: exactly one).
PCM16_STEP = 2.0**-15
PCM24_STEP = 2.0**-23


def schedule_bound(*sigmas: float) -> float:
    """Elementwise relative bound of a log-spaced sigma schedule: exp(interpolated ln sigma).

    The interpolated logarithm carries about 2 ulps of its own magnitude (up to max |ln sigma|), which exp turns
    into the same absolute error of the result's logarithm, i.e. a relative error; exp adds one ulp.
    """
    return (1 + 2 * max(1.0, *(abs(math.log(s)) for s in sigmas))) * EPS32


def rel_err(a: torch.Tensor, b: torch.Tensor) -> float:
    """max |a - b| / max |b| (the measure of the fixture's recorded errors)."""
    return ((a.float() - b.float()).abs().max() / b.float().abs().max().clamp_min(1e-30)).item()


def layer_bound(depth: int, k: int, *, store: torch.dtype = torch.float32,
                accumulate: torch.dtype = torch.float32) -> float:
    """Rounding bound of ``depth`` products in sequence, each with reductions of length at most ``k``.

    Args:
        depth: number of matrix products / convolutions on the longest path of the computation.
        k: longest reduction (inner dimension, or input channels x kernel size of a convolution).
        store: dtype each product's result is rounded to (float16 for the official T5).
        accumulate: dtype of the sums (CPU kernels accumulate float16 products in float32).

    Returns:
        A bound on ``rel_err`` between two correct evaluations on different kernel sets.
    """
    return depth * (EPS[store] + math.sqrt(k) * EPS[accumulate])


def cfg_bound(per_branch: float, scale: float, ref_cond: torch.Tensor, ref_uncond: torch.Tensor,
              ref_cfg: torch.Tensor) -> float:
    """Bound of ``u + (c - u) * scale`` when c and u each carry ``per_branch`` relative error.

    |d cfg| <= |1 - scale| |du| + |scale| |dc|, measured against max |cfg| instead of max |c|, |u|.
    """
    top = max(ref_cond.abs().max().item(), ref_uncond.abs().max().item())
    return (abs(1 - scale) + abs(scale)) * per_branch * top / ref_cfg.abs().max().item()


def trajectory_bound(run: Callable[[torch.Tensor], dict[str, torch.Tensor]], x: torch.Tensor, calls: int,
                     per_call: float) -> dict[str, float]:
    """Bounds for a sampler trajectory whose ``calls`` denoiser calls may each differ by ``per_call`` (relative).

    A difference made at one call propagates to the end like a perturbation of the state; the test measures that
    propagation by running from ``x`` perturbed by ``per_call`` relative (random signs, fixed generator) and
    compares with the unperturbed run. The ``calls`` differences add (worst case, linear), and no bound drops
    below ``calls`` times the per-call rounding itself.

    Args:
        run: the trajectory, ``x -> {name: result}``; deterministic given its inputs.
        x: the starting sample.
        calls: number of denoiser calls of one run.
        per_call: relative error one denoiser call can add (from :func:`layer_bound` or a rounding count).

    Returns:
        ``{name: bound}`` for every result of ``run``.
    """
    g = torch.Generator().manual_seed(0)
    sign = torch.randint(0, 2, x.shape, generator=g).to(x.dtype) * 2 - 1
    base = run(x)
    moved = run(x + sign * x.abs().max() * per_call)
    return {k: calls * max(rel_err(moved[k], base[k]), per_call) for k in base}


class Counted:
    """A denoiser ``D(x, sigma)`` that counts its calls (the ``calls`` of :func:`trajectory_bound`)."""

    def __init__(self, fn: Callable[[torch.Tensor, torch.Tensor], torch.Tensor]) -> None:
        self.fn, self.calls = fn, 0

    def __call__(self, x: torch.Tensor, sigma: torch.Tensor) -> torch.Tensor:
        self.calls += 1
        return self.fn(x, sigma)


class Checks:
    """Collects every comparison of a test, logs it, and fails once at the end with all that exceeded a bound.

    Each ``close`` records ``rel_err`` and its bound, so a failing test names every stage that is off, not only
    the first. With ``AUDIOX_TOLERANCE_LOG=path`` every measurement is appended there as a JSON line.
    """

    def __init__(self, test: str) -> None:
        self.test = test
        self.failures: list[str] = []

    def close(self, name: str, got: torch.Tensor, ref: torch.Tensor, bound: float) -> float:
        assert got.shape == ref.shape, f"{name}: shape {tuple(got.shape)} != {tuple(ref.shape)}"
        err = rel_err(got, ref)
        _log(self.test, name, err, bound)
        if not err <= bound:  # also catches NaN
            self.failures.append(f"{name}: rel_err {err:.3g} > bound {bound:.3g}")
        return err

    def verify(self) -> None:
        assert not self.failures, "; ".join(self.failures)


def _log(test: str, name: str, err: float, bound: float) -> None:
    path = os.environ.get("AUDIOX_TOLERANCE_LOG")
    if not path:
        return
    kernels = os.environ.get("ATEN_CPU_CAPABILITY", "native") + "/" + os.environ.get("ONEDNN_MAX_CPU_ISA", "native")
    with open(path, "a") as f:
        f.write(json.dumps({"test": test, "check": name, "err": err, "bound": bound, "kernels": kernels}) + "\n")


def network_products(net: torch.nn.Module) -> tuple[int, int]:
    """(depth, k) of a network's products for :func:`layer_bound`: every convolution / linear layer counted as one
    more on the longest path (a sequential network), k its longest reduction (input channels x kernel size, or
    input features)."""
    from audiox.nn.wnconv import WNConv1d, WNConvTranspose1d

    depth, k = 0, 1
    for m in net.modules():
        if isinstance(m, WNConv1d | WNConvTranspose1d):  # weight_v: (out, in, kernel) / transposed (in, out, kernel)
            w = m.weight_v
            k_m = (w.shape[1] if isinstance(m, WNConv1d) else w.shape[0]) * w.shape[2]
        elif isinstance(m, torch.nn.Conv1d | torch.nn.Linear):
            w = m.weight
            k_m = w.shape[1] * (w.shape[2] if w.dim() > 2 else 1)
        else:
            continue
        depth, k = depth + 1, max(k, k_m)
    return depth, k
