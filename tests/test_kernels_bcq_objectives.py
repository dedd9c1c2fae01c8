"""Binary-coding quantiser options (kernels/bcq.py): power-of-two-sum scales and the activation-aware
objective (ShiftAddLLM's multi-objective idea).

Integer paths are compared exactly. Error comparisons are between two quantisers on the same
fixed-seed data; each states which way it must go and why.
"""

import itertools

import pytest
import torch

from kernels.bcq import BCQWeight, bcq_quantize, pow2_sum_scales, unpack_signs
from kernels.lut_gemm import lut_gemm_reference
from kernels.testing import one_torch_thread  # noqa: F401  (autouse: one torch thread)


def _naf_weight(n: int) -> int:
    """Non-zero digits of the non-adjacent form of integer n: the fewest signed powers of two summing to n."""
    n, count = abs(n), 0
    while n:
        if n & 1:
            n -= 2 - (n & 3)  # digit +1 (n = 1 mod 4) or -1 (n = 3 mod 4)
            count += 1
        n >>= 1
    return count


# ------------------------------------------------------------------------------- pow2_sum_scales
def test_pow2_sum_scales_hand_checked_values():
    # 0.3 on 2^-4..2^0: one term -> 0.25; two -> 0.25 + 0.0625 (0.05 left, 1/16 is nearest)
    r, e, s = pow2_sum_scales(torch.tensor([0.3]), 2, (-4, 0))
    assert r.tolist() == [0.3125] and e[:, 0].tolist() == [-2, -4] and s[:, 0].tolist() == [1, 1]
    # 7 -> 8 with one term, 8 - 1 with two; -7 mirrors it
    r, e, s = pow2_sum_scales(torch.tensor([7.0, -7.0]), 2, (0, 4))
    assert r.tolist() == [7.0, -7.0]
    assert e.T.tolist() == [[3, 0], [3, 0]] and s.T.tolist() == [[1, -1], [-1, 1]]
    r1, _, _ = pow2_sum_scales(torch.tensor([7.0, -7.0]), 1, (0, 4))
    assert r1.tolist() == [8.0, -8.0]
    # outside the range: clamps to 2^hi; far below it: no term at all (sign 0, exponent lo)
    r, e, s = pow2_sum_scales(torch.tensor([100.0, 1e-4, 0.0]), 1, (-4, 0))
    assert r.tolist() == [1.0, 0.0, 0.0] and s[0].tolist() == [1, 0, 0] and e[0].tolist() == [0, -4, -4]


@pytest.mark.parametrize("terms", [1, 2, 3])
def test_pow2_sum_scales_are_exact_sums_of_at_most_terms_powers_of_two(terms):
    gen = torch.Generator().manual_seed(terms)
    a = torch.randn(4, 50, generator=gen) * torch.logspace(-3, 0, 50)
    lo, hi = -14, 1
    r, e, s = pow2_sum_scales(a, terms, (lo, hi))
    assert r.dtype == torch.float32 and r.shape == a.shape
    assert e.shape == s.shape == (terms, *a.shape) and e.dtype == torch.int64 and s.dtype == torch.int8
    assert int(e.min()) >= lo and int(e.max()) <= hi and set(s.unique().tolist()) <= {-1, 0, 1}
    # the returned terms reproduce the value exactly
    assert torch.equal((s.double() * torch.exp2(e.double())).sum(0), r.double())
    # independently of the terms: r / 2^lo is an integer whose non-adjacent form has <= terms digits
    ints = r.double() * 2.0**-lo
    assert torch.equal(ints, ints.round())
    assert max(_naf_weight(int(v)) for v in ints.flatten().tolist()) <= terms


def test_pow2_sum_scales_error_never_increases_with_terms():
    gen = torch.Generator().manual_seed(3)
    a = torch.randn(2000, generator=gen) * 0.02
    errs = [(pow2_sum_scales(a, t)[0].double() - a.double()).abs() for t in (1, 2, 3)]
    # greedy: the t+1-term rounding extends the t-term one by the best next term (or none)
    assert bool((errs[1] <= errs[0]).all()) and bool((errs[2] <= errs[1]).all())
    rel = [float(e.norm() / a.double().norm()) for e in errs]
    assert rel[0] > 2 * rel[1] > 4 * rel[2] and rel[0] < 0.25, rel  # ~0.19, 0.04, 0.007
    # default range: 16 exponents ending at ceil(log2 max|a|)
    _, e, _ = pow2_sum_scales(a, 1)
    hi = int(torch.ceil(torch.log2(a.abs().max())))
    assert int(e.max()) <= hi and int(e.min()) >= hi - 15


@pytest.mark.parametrize("call,exc,message", [
    (lambda: pow2_sum_scales(torch.ones(3), 0), ValueError, r"terms \(powers of two per scale\) must be an integer in 1..3, got 0"),
    (lambda: pow2_sum_scales(torch.ones(3), 4), ValueError, r"must be an integer in 1..3, got 4"),
    (lambda: pow2_sum_scales(torch.ones(3), True), ValueError, r"must be an integer in 1..3, got True"),
    (lambda: pow2_sum_scales(torch.ones(3), 2.0), ValueError, r"must be an integer in 1..3, got 2.0"),
    (lambda: pow2_sum_scales([1.0], 1), TypeError, r"scales must be a torch.Tensor, got list"),
    (lambda: pow2_sum_scales(torch.ones(3, dtype=torch.int32), 1), TypeError, r"scales must be a floating-point tensor"),
    (lambda: pow2_sum_scales(torch.tensor([float("inf")]), 1), ValueError, r"scales hold NaN or infinite values"),
    (lambda: pow2_sum_scales(torch.ones(3), 1, (2, 1)), ValueError, r"exp_range must be a pair of integers \(lo, hi\) with lo <= hi, got \(2, 1\)"),
    (lambda: pow2_sum_scales(torch.ones(3), 1, (0.5, 1)), ValueError, r"exp_range must be a pair of integers"),
    (lambda: pow2_sum_scales(torch.ones(3), 1, (-30, 0)), ValueError, r"exp_range \(-30, 0\) must span at most 23"),
    (lambda: pow2_sum_scales(torch.ones(3), 1, (-140, -130)), ValueError, r"within -126..127"),
])
def test_pow2_sum_scales_rejects_bad_input(call, exc, message):
    with pytest.raises(exc, match=message):
        call()


# ------------------------------------------------------------------------------- scales on the grid in the optimisation
def _rel(bcq: BCQWeight, w: torch.Tensor) -> float:
    return float((bcq.dequantize() - w).norm() / w.norm())


def test_grid_scales_inside_the_optimisation():
    torch.manual_seed(4)
    w = torch.randn(48, 256) * 0.05
    free = bcq_quantize(w, 3, 64)
    errs = {}
    for t in (1, 2, 3):
        b = bcq_quantize(w, 3, 64, scale_terms=t)
        # the stored scales are exactly the stored terms' sums, and the signs were chosen for them
        assert b.scale_exps.shape == b.scale_signs.shape == (t, 3, 48, 4)
        assert torch.equal((b.scale_signs.double() * torch.exp2(b.scale_exps.double())).sum(0), b.scales.double())
        # never worse, per group, than rounding the finished free scales afterwards (signs kept)
        post = BCQWeight(free.packed, pow2_sum_scales(free.scales, t, (int(b.scale_exps.min()), int(b.scale_exps.max())))[0], 64)
        err_in = (b.dequantize() - w).reshape(48, 4, 64).pow(2).sum(-1)
        err_post = (post.dequantize() - w).reshape(48, 4, 64).pow(2).sum(-1)
        assert bool((err_in <= err_post * (1 + 1e-6)).all()), t
        errs[t] = _rel(b, w)
    assert errs[1] > errs[2] >= errs[3] * (1 - 1e-3), errs
    assert errs[3] < _rel(free, w) * 1.02, (errs, _rel(free, w))  # 3 terms: as good as free scales
    assert free.scale_exps is None and free.scale_signs is None


def test_grid_scales_drive_an_exact_shift_add_gemm():
    """alpha = sum_j s_j 2^e_j: the GEMM is shifts and adds of the LUT partial sums, exact in integers."""
    torch.manual_seed(5)
    w = torch.randn(16, 128) * 0.05
    lo, hi = -12, -2
    b = bcq_quantize(w, 2, 32, scale_terms=2, scale_exp_range=(lo, hi))
    x = torch.randint(-128, 128, (5, 128), dtype=torch.int8)
    signs = unpack_signs(b.packed).to(torch.int64)  # (q, N, K)
    # per plane and group, the +-1 partial sum of x (what the LUT returns), then one shift per term
    part = torch.einsum("mgk,qngk->qmng", x.to(torch.int64).reshape(5, 4, 32), signs.reshape(2, 16, 4, 32))
    y = torch.zeros(5, 16, dtype=torch.int64)
    for j in range(2):
        shifted = part << (b.scale_exps[j] - lo)[:, None, :, :]  # (q, 1, N, G), shifts are non-negative
        y += (b.scale_signs[j].to(torch.int64)[:, None] * shifted).sum((0, 3))
    int_scales = (b.scales.double() * 2.0**-lo).to(torch.int32)
    assert torch.equal(int_scales.double(), b.scales.double() * 2.0**-lo)  # integers on the grid
    assert torch.equal(y.to(torch.int32), lut_gemm_reference(x, b.packed, int_scales, 32))
    assert torch.equal(y.double() * 2.0**lo, x.double() @ b.dequantize().double().T)


def test_grid_options_reject_bad_input():
    w = torch.randn(4, 64)
    with pytest.raises(ValueError, match=r"scale_terms \(powers of two per scale\) must be an integer in 1..3, got 4"):
        bcq_quantize(w, 2, 32, scale_terms=4)
    with pytest.raises(ValueError, match=r"scale_exp_range needs scale_terms"):
        bcq_quantize(w, 2, 32, scale_exp_range=(-8, 0))
    with pytest.raises(ValueError, match=r"exp_range must be a pair of integers"):
        bcq_quantize(w, 2, 32, scale_terms=1, scale_exp_range=(0, -8))


# ------------------------------------------------------------------------------- activation-aware objective
def _correlated_activations(n: int, K: int, gen: torch.Generator, loud: torch.Tensor, mix: torch.Tensor,
                            strength: float = 0.5) -> torch.Tensor:
    """Tokens with a shared low-rank part (correlated channels) and a few channels 20x louder,
    as transformer activations have (LLM.int8(), OWQ)."""
    z = torch.randn(n, mix.shape[1], generator=gen)
    x = strength * z @ mix.T + torch.randn(n, K, generator=gen)
    return x * loud


@pytest.mark.parametrize("q", [1, 2, 3, 4])
def test_activation_aware_lowers_held_out_output_error(q):
    gen = torch.Generator().manual_seed(10 + q)
    N, K, g = 64, 256, 64
    loud = torch.ones(K)
    loud[torch.randperm(K, generator=gen)[:6]] = 20.0
    mix = torch.randn(K, 16, generator=gen)
    calib = _correlated_activations(512, K, gen, loud, mix)
    held_out = _correlated_activations(512, K, gen, loud, mix)  # same distribution, other tokens
    w = torch.randn(N, K, generator=gen) * 0.05

    def out_err(b):
        return float((held_out @ (w - b.dequantize()).T).norm() / (held_out @ w.T).norm())

    plain = bcq_quantize(w, q, g)
    aware = bcq_quantize(w, q, g, calib=calib, lam=0.5)
    # the loud columns dominate the output error; weighting them buys it down on unseen tokens
    assert out_err(aware) < 0.9 * out_err(plain), (out_err(aware), out_err(plain))
    # ... and pays in plain weight error, which the weight-only quantiser minimises
    assert _rel(aware, w) > _rel(plain, w)
    # lam = 0 is the weight-only quantiser, bit for bit
    zero = bcq_quantize(w, q, g, calib=calib, lam=0.0)
    assert torch.equal(zero.packed, plain.packed) and torch.equal(zero.scales, plain.scales)


def _correlated_case(q):
    """(w, calibration, held-out) with a strong shared low-rank part: inputs correlate markedly."""
    gen = torch.Generator().manual_seed(30 + q)
    K = 256
    loud = torch.ones(K)
    loud[torch.randperm(K, generator=gen)[:6]] = 20.0
    mix = torch.randn(K, 16, generator=gen)
    calib = _correlated_activations(512, K, gen, loud, mix, strength=2.0)
    held_out = _correlated_activations(512, K, gen, loud, mix, strength=2.0)
    w = torch.randn(64, K, generator=gen) * 0.05
    return w, calib, held_out


@pytest.mark.parametrize("q", [1, 2, 3, 4])
def test_block_output_error_beats_the_diagonal_on_correlated_inputs(q):
    """Strongly correlated inputs: the within-group blocks of X^T X carry what the diagonal misses."""
    w, calib, held_out = _correlated_case(q)

    def out_err(b):
        return float((held_out @ (w - b.dequantize()).T).norm() / (held_out @ w.T).norm())

    diag = bcq_quantize(w, q, 64, calib=calib, lam=0.5)
    block = bcq_quantize(w, q, 64, calib=calib, lam=0.5, output_error="block")
    assert out_err(block) < 0.95 * out_err(diag), (out_err(block), out_err(diag))  # measured 0.73-0.89x
    zero = bcq_quantize(w, q, 64, calib=calib, lam=0.0, output_error="block")  # lam = 0: weight error only
    plain = bcq_quantize(w, q, 64)
    assert torch.equal(zero.packed, plain.packed) and torch.equal(zero.scales, plain.scales)


def test_block_objective_never_increases_over_rounds():
    """Each round is a least-squares refit then a descent sweep in the block metric: the metric,
    recomputed here from the calibration data, may not go up from one round count to the next."""
    w, calib, _ = _correlated_case(3)
    lam, g = 0.7, 64
    h = calib.double().T @ calib.double() / calib.shape[0]
    blocks = torch.stack([h[i:i + g, i:i + g] for i in range(0, 256, g)]) / torch.diagonal(h).mean()
    metric = (1 - lam) * torch.eye(g, dtype=torch.float64) + lam * blocks

    def objective(b):
        r = (w.double() - b.dequantize().double()).reshape(64, 4, g)
        return float(torch.einsum("ngk,gkl,ngl->", r, metric, r))

    values = [objective(bcq_quantize(w, 3, g, iters=i, calib=calib, lam=lam, output_error="block")) for i in range(5)]
    assert all(b <= a * (1 + 1e-9) for a, b in itertools.pairwise(values)), values
    assert values[-1] < 0.9 * values[0], values
    # the grid option composes with the block metric: exact grid values, no worse than post-hoc
    t = bcq_quantize(w, 3, g, calib=calib, lam=lam, output_error="block", scale_terms=3)
    assert torch.equal((t.scale_signs.double() * torch.exp2(t.scale_exps.double())).sum(0), t.scales.double())
    assert objective(t) < values[-1] * 1.05


def test_calibration_forms_agree():
    """Activations, X^T X and its diagonal carry the same column weights (up to a positive factor)."""
    gen = torch.Generator().manual_seed(20)
    x = torch.randn(300, 64, generator=gen) * torch.linspace(0.2, 5.0, 64)
    w = torch.randn(8, 64, generator=gen)
    a = bcq_quantize(w, 2, 32, calib=x, lam=0.7)
    for other in (x.double().T @ x.double(), x.pow(2).sum(0)):
        b = bcq_quantize(w, 2, 32, calib=other, lam=0.7)
        assert torch.equal(a.packed, b.packed)
        torch.testing.assert_close(a.scales, b.scales, rtol=1e-5, atol=0)  # float64 sums in another order
    # a group of inputs that never fire, at lam = 1: it keeps a finite fit, the weight-only one
    dead = x.clone()
    dead[:, :32] = 0
    d = bcq_quantize(w, 2, 32, calib=dead, lam=1.0)
    torch.testing.assert_close(d.scales[:, :, 0], bcq_quantize(w, 2, 32).scales[:, :, 0], rtol=1e-5, atol=0)
    # with grid scales too: the options compose
    c = bcq_quantize(w, 2, 32, calib=x, lam=0.7, scale_terms=2)
    assert torch.equal((c.scale_signs.double() * torch.exp2(c.scale_exps.double())).sum(0), c.scales.double())


@pytest.mark.parametrize("kwargs,exc,message", [
    ({"calib": torch.ones(10, 32)}, ValueError, r"calib must be \(rows, K\) activations, a \(K, K\) second-moment matrix or a \(K,\) diagonal with K = 64, got shape \(10, 32\)"),
    ({"calib": torch.ones(64, 64, 2)}, ValueError, r"got shape \(64, 64, 2\)"),
    ({"calib": torch.ones(10, 64).numpy()}, TypeError, r"calib must be a torch.Tensor .* got ndarray"),
    ({"calib": torch.ones(10, 64, dtype=torch.int32)}, TypeError, r"calib must be a floating-point tensor, got dtype torch.int32"),
    ({"calib": torch.full((10, 64), float("nan"))}, ValueError, r"calib holds NaN or infinite values"),
    ({"calib": -torch.ones(64)}, ValueError, r"calib as a \(K,\) diagonal of second moments must be non-negative"),
    ({"calib": torch.zeros(10, 64)}, ValueError, r"calib is all zeros"),
    ({"calib": torch.ones(10, 64), "lam": 1.5}, ValueError, r"lam must be a number in \[0, 1\] .* got 1.5"),
    ({"lam": -0.1}, ValueError, r"lam must be a number in \[0, 1\]"),
    ({"calib": torch.ones(10, 64), "output_error": "full"}, ValueError, r"output_error must be one of \('diag', 'block'\), got 'full'"),
    ({"calib": torch.ones(64), "output_error": "block"}, ValueError, r"output_error='block' needs calib as \(rows, K\) activations or the \(K, K\) second moment with K = 64, got shape \(64,\)"),
])
def test_activation_aware_rejects_bad_input(kwargs, exc, message):
    with pytest.raises(exc, match=message):
        bcq_quantize(torch.randn(4, 64), 2, 32, **kwargs)
