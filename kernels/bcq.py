"""
Binary-coding quantisation (BCQ): W ~ sum_{i<q} alpha_i * B_i, B_i in {-1, +1}
==============================================================================

The weight format of ShiftAddLLM and LUT-GEMM (Xu et al., "Alternating Multi-bit Quantization",
ICLR 2018; Park et al., "LUT-GEMM", 2022). Each weight matrix W (N x K, output rows x input
columns) is approximated by q binary matrices B_i in {-1, +1}^{N x K}, each with a scale alpha_i
per output row and per group of ``group_size`` consecutive input columns:

    W[n, k] ~ sum_i alpha[i, n, k // group_size] * B[i, n, k]

A GEMM against such weights needs no multiplier per weight: kernels/lut_gemm.py turns every 8
activations into a 256-entry table of signed partial sums and indexes it with a byte of packed
sign bits, then applies the scale once per group.

Quantiser (:func:`bcq_quantize`), per (row, group) independently:

1. **greedy init**: residual r = w; for each plane, B_i = sign(r) (0 -> +1), alpha_i = mean|r|,
   r -= alpha_i B_i. Each step can only shrink ||r||^2 (by group_size * alpha_i^2).
2. **alternating refinement** (``iters`` rounds): refit all alphas jointly by least squares given
   the signs (q x q normal equations, a tiny ridge keeps a repeated sign vector solvable), then
   re-select every weight's signs given the alphas by trying all 2^q sign combinations (q <= 4,
   so at most 16) and keeping the closest. Each half-step is optimal given the other half, so
   the group's squared error never increases.

Two options, both from ShiftAddLLM (You et al., NeurIPS 2024):

* **power-of-two-sum scales** (``scale_terms`` = 1..3): every alpha is a signed sum of up to
  that many powers of two (:func:`pow2_sum_scales`), so applying it is that many shifts and
  adds. The grid is enforced inside the optimisation: after the unconstrained rounds, each
  round rounds the alphas, re-selects the signs for the rounded alphas (optimal given them)
  and refits; each group keeps its best rounded result, so the result is never worse than
  rounding the finished scales afterwards.
* **activation-aware objective** (``calib``, ``lam``): the layer's output error
  ||X W^T - X W_q^T||^2 = sum_n (w_n - w_q,n)^T X^T X (w_n - w_q,n); its diagonal part weights
  each input column k's squared weight error by E[x_k^2]. The quantiser minimises
  sum_k c_k (w_k - w_q,k)^2 with c_k = (1 - lam) + lam * E[x_k^2] / mean_j E[x_j^2], a blend of
  the weight error (lam = 0) and that output error (lam = 1), ShiftAddLLM's multi-objective
  idea in the form that keeps both half-steps exact: the alpha refit becomes a weighted least
  squares and the per-weight sign choice is unchanged (a positive weight does not move the
  nearest combination). ``output_error="block"`` keeps each group's whole diagonal block
  [X^T X]_gg instead (correlations between the inputs of a group; those between groups are
  left out, which keeps every (row, group) independent): the objective per (row, group) is
  r^T M r, M = (1 - lam) I + lam [X^T X]_gg / mean_j E[x_j^2], r the group's weight error.
  The refit is least squares in M (still exact); the signs move by coordinate descent, one
  weight at a time to the combination that lowers r^T M r most (staying costs 0), so no
  round increases the objective. It costs 20-30x the diagonal form (a Python loop over the
  group's columns). On MiniLM layers it cut held-out output error by a further 15-27% at 2
  bits and 10-18% at 4 (lam 0.5; blocks.1.q / ffn_up / ffn_down and blocks.4.o).

Bit order of the packed format (:func:`pack_signs`): byte ``kb`` of a row holds columns
``8*kb .. 8*kb+7``; bit ``t`` (LSB = t 0) is 1 when B[..., 8*kb + t] = +1 and 0 when it is -1.
That is the index convention of the LUT: entry p of a table built from activations x_0..x_7 is
sum_t (bit t of p ? +x_t : -x_t).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch

__all__ = [
    "MAX_Q",
    "MAX_SCALE_TERMS",
    "OUTPUT_ERRORS",
    "BCQWeight",
    "bcq_dequantize",
    "bcq_quantize",
    "check_group_size",
    "pack_signs",
    "pow2_scales",
    "pow2_sum_scales",
    "unpack_signs",
]

#: Largest number of binary planes: ShiftAddLLM uses 2-3, and 2^q sign combinations are tried
#: per weight during refinement.
MAX_Q = 4
#: Most powers of two per scale in :func:`pow2_sum_scales` (ShiftAddLLM uses 1-3 shifts).
MAX_SCALE_TERMS = 3

_BIT_WEIGHTS = 1 << torch.arange(8, dtype=torch.int32)  # bit t of a packed byte is column 8*kb + t


@dataclass(frozen=True)
class BCQWeight:
    """A binary-coded weight: ``packed`` (q, N, K/8) uint8 sign bits, ``scales`` (q, N, K/g) float32.

    When the scales were held on a power-of-two-sum grid (``bcq_quantize(..., scale_terms=t)``),
    ``scale_exps`` (t, q, N, K/g) int64 and ``scale_signs`` (t, q, N, K/g) int8 give each scale as
    sum_j scale_signs[j] * 2^scale_exps[j] (:func:`pow2_sum_scales`); otherwise both are None.
    """

    packed: torch.Tensor
    scales: torch.Tensor
    group_size: int
    scale_exps: torch.Tensor | None = None
    scale_signs: torch.Tensor | None = None

    @property
    def q(self) -> int:
        return self.packed.shape[0]

    @property
    def shape(self) -> tuple[int, int]:
        """(N, K) of the weight it encodes."""
        return self.packed.shape[1], self.packed.shape[2] * 8

    def dequantize(self) -> torch.Tensor:
        return bcq_dequantize(self.packed, self.scales, self.group_size)


def check_group_size(group_size, K: int) -> int:
    """A group covers whole bytes of packed bits and tiles K: a multiple of 8 that divides K."""
    if isinstance(group_size, bool) or not isinstance(group_size, int) or group_size < 8 or group_size % 8:
        raise ValueError(f"group_size must be a positive multiple of 8 (whole bytes of sign bits), got {group_size!r}")
    if K % group_size:
        raise ValueError(f"group_size {group_size} must divide K = {K}")
    return group_size


def _check_q(q) -> int:
    if isinstance(q, bool) or not isinstance(q, int) or not 1 <= q <= MAX_Q:
        raise ValueError(f"q (binary planes) must be an integer in 1..{MAX_Q}, got {q!r}")
    return q


def pack_signs(signs: torch.Tensor) -> torch.Tensor:
    """Pack a {-1, +1} tensor (..., K) with K % 8 == 0 into uint8 (..., K/8), bit t = column 8*kb + t."""
    if not isinstance(signs, torch.Tensor):
        raise TypeError(f"signs must be a torch.Tensor, got {type(signs).__name__}")
    if signs.dim() < 1 or signs.shape[-1] % 8:
        raise ValueError(f"signs' last dimension must be a multiple of 8, got shape {tuple(signs.shape)}")
    if signs.dtype.is_floating_point or signs.dtype.is_complex or signs.dtype == torch.bool:
        raise TypeError(f"signs must be an integer tensor of -1 and +1, got dtype {signs.dtype}")
    if signs.numel() and not bool(((signs == 1) | (signs == -1)).all()):
        raise ValueError("signs must hold only -1 and +1")
    bits = (signs > 0).to(torch.int32).reshape(*signs.shape[:-1], signs.shape[-1] // 8, 8)
    return (bits * _BIT_WEIGHTS.to(signs.device)).sum(-1).to(torch.uint8)


def unpack_signs(packed: torch.Tensor) -> torch.Tensor:
    """The inverse of :func:`pack_signs`: uint8 (..., K/8) -> int8 {-1, +1} (..., K)."""
    if not isinstance(packed, torch.Tensor) or packed.dtype != torch.uint8:
        got = packed.dtype if isinstance(packed, torch.Tensor) else type(packed).__name__
        raise TypeError(f"packed must be a torch.uint8 tensor, got {got}")
    bits = (packed.to(torch.int32).unsqueeze(-1) >> torch.arange(8, device=packed.device, dtype=torch.int32)) & 1
    return (2 * bits - 1).to(torch.int8).reshape(*packed.shape[:-1], packed.shape[-1] * 8)


def bcq_dequantize(packed: torch.Tensor, scales: torch.Tensor, group_size: int) -> torch.Tensor:
    """sum_i alpha_i * B_i as a dense (N, K) tensor in the scales' dtype (int64 for integer scales)."""
    signs = unpack_signs(packed)  # (q, N, K)
    q, N, K = signs.shape
    check_group_size(group_size, K)
    if tuple(scales.shape) != (q, N, K // group_size):
        raise ValueError(f"scales must have shape (q, N, K/group_size) = {(q, N, K // group_size)}, got {tuple(scales.shape)}")
    dtype = scales.dtype if scales.dtype.is_floating_point else torch.int64
    alpha = scales.to(dtype).repeat_interleave(group_size, dim=-1)
    return (alpha * signs.to(dtype)).sum(0)


def _column_weights(calib, lam, K: int, device) -> torch.Tensor | None:
    """Per-input-column weights c_k = (1 - lam) + lam * d_k / mean(d), d = diag of the calibration
    second moment (module docstring); None when there is no calibration or lam == 0."""
    if isinstance(lam, bool) or not isinstance(lam, (int, float)) or not 0.0 <= lam <= 1.0:
        raise ValueError(f"lam must be a number in [0, 1] (0: weight error only, 1: activation-weighted only), got {lam!r}")
    if calib is None:
        return None
    if not isinstance(calib, torch.Tensor):
        raise TypeError(f"calib must be a torch.Tensor (N x K activations, K x K second moment or (K,) diagonal), "
                        f"got {type(calib).__name__}")
    if not calib.dtype.is_floating_point:
        raise TypeError(f"calib must be a floating-point tensor, got dtype {calib.dtype}")
    c = calib.detach().to(device=device, dtype=torch.float64)
    if not bool(torch.isfinite(c).all()):
        raise ValueError("calib holds NaN or infinite values")
    if c.dim() == 1 and c.shape[0] == K:
        if bool((c < 0).any()):
            raise ValueError("calib as a (K,) diagonal of second moments must be non-negative")
        d = c
    elif c.dim() == 2 and c.shape[1] == K and c.shape[0] > 0:
        if c.shape[0] == K and torch.allclose(c, c.T) and bool((torch.diagonal(c) >= 0).all()):
            d = torch.diagonal(c)  # a symmetric K x K matrix is read as X^T X (or any multiple)
        else:
            d = c.pow(2).mean(0)  # activations, one row per token
    else:
        raise ValueError(f"calib must be (rows, K) activations, a (K, K) second-moment matrix or a (K,) diagonal "
                         f"with K = {K}, got shape {tuple(calib.shape)}")
    if lam == 0:
        return None
    mean = float(d.mean())
    if mean == 0.0:
        raise ValueError("calib is all zeros: its second moments carry no weighting")
    # floor: an input never active (d_k = 0) at lam = 1 still gets a tiny weight, so a group of
    # such columns keeps a solvable least-squares fit
    return ((1.0 - lam) + lam * d / mean).clamp_min(1e-9)


#: What ``calib`` weights: the diagonal of X^T X, or each group's whole diagonal block of it.
OUTPUT_ERRORS = ("diag", "block")


def _block_metric(calib: torch.Tensor, lam: float, K: int, group_size: int, device) -> torch.Tensor:
    """(G, gs, gs): (1 - lam) I + lam * [X^T X]_gg / mean(diag X^T X), the group-diagonal blocks."""
    c = calib.detach().to(device=device, dtype=torch.float64)
    if c.dim() != 2 or c.shape[1] != K:
        raise ValueError(f"output_error='block' needs calib as (rows, K) activations or the (K, K) second moment "
                         f"with K = {K}, got shape {tuple(calib.shape)}")
    if c.shape[0] == K and torch.allclose(c, c.T) and bool((torch.diagonal(c) >= 0).all()):
        h = c
    else:
        h = c.T @ c / c.shape[0]
    G = K // group_size
    idx = torch.arange(G, device=device)
    blocks = h.reshape(G, group_size, G, group_size)[idx, :, idx, :]  # (G, gs, gs)
    blocks = blocks / torch.diagonal(h).mean()
    eye = torch.eye(group_size, dtype=torch.float64, device=device)
    return (1.0 - lam) * eye + lam * blocks + 1e-9 * eye  # the floor of _column_weights


def bcq_quantize(w: torch.Tensor, q: int, group_size: int, iters: int = 5, *,
                 calib: torch.Tensor | None = None, lam: float = 0.5, output_error: str = "diag",
                 scale_terms: int | None = None, scale_exp_range: tuple[int, int] | None = None) -> BCQWeight:
    """Binary-code ``w`` (N, K) with ``q`` planes and one scale per (plane, row, group).

    Greedy init, then ``iters`` rounds of least-squares alpha refit and exhaustive sign
    re-selection (module docstring). Returns packed signs and float32 scales.

    ``calib`` (optional): calibration activations (rows, K), their second moment X^T X (K, K) or
    its diagonal (K,). The objective becomes sum_k c_k (w_k - w_q,k)^2 with
    c_k = (1 - lam) + lam * E[x_k^2] / mean_j E[x_j^2]: ``lam`` = 0 is the weight error alone,
    ``lam`` = 1 the diagonal part of the output error ||X W^T - X W_q^T||^2 alone.
    ``output_error="block"`` keeps, instead of the diagonal, each group's whole block of X^T X
    (the output error within a group, correlated inputs included; module docstring): the refit
    is a least squares in that metric and the signs move by coordinate descent.

    ``scale_terms`` in 1..3 (optional): every scale is held on the grid of signed sums of up to
    that many powers of two (:func:`pow2_sum_scales`, exponents in ``scale_exp_range``, default
    16 exponents ending at the unconstrained scales' largest) *inside* the optimisation: after
    the unconstrained rounds, ``iters + 1`` rounds of round-scales -> re-select signs -> refit,
    keeping each group's best rounded result. The returned BCQWeight carries the terms'
    exponents and signs.
    """
    if not isinstance(w, torch.Tensor):
        raise TypeError(f"w must be a torch.Tensor, got {type(w).__name__}")
    if not w.dtype.is_floating_point:
        raise TypeError(f"w must be a floating-point tensor, got dtype {w.dtype}")
    if w.dim() != 2:
        raise ValueError(f"w must be a 2-D (N, K) matrix, got shape {tuple(w.shape)}")
    q = _check_q(q)
    N, K = w.shape
    if K == 0 or N == 0:
        raise ValueError(f"w must be non-empty, got shape {tuple(w.shape)}")
    check_group_size(group_size, K)
    if isinstance(iters, bool) or not isinstance(iters, int) or iters < 0:
        raise ValueError(f"iters must be a non-negative integer, got {iters!r}")
    if not bool(torch.isfinite(w).all()):
        raise ValueError("w holds NaN or infinite values")
    if scale_terms is not None:
        _check_terms(scale_terms, "scale_terms")
    elif scale_exp_range is not None:
        raise ValueError("scale_exp_range needs scale_terms (the power-of-two grid it bounds)")
    if output_error not in OUTPUT_ERRORS:
        raise ValueError(f"output_error must be one of {OUTPUT_ERRORS}, got {output_error!r}")
    cw = _column_weights(calib, lam, K, w.device)
    G = K // group_size
    metric = None  # block mode: (G, gs, gs) blended metric per group
    if output_error == "block" and cw is not None:
        metric = _block_metric(calib, lam, K, group_size, w.device)

    wg = w.detach().to(torch.float64).reshape(N, G, group_size)  # one row of a group per (n, g)
    # per-weight objective weights, broadcast over rows: (1, G, gs); plain weight error is all ones
    c = (torch.ones(K, dtype=torch.float64, device=w.device) if cw is None else cw).reshape(1, G, group_size)

    # 1. greedy: each plane takes the sign of what is left and its (weighted) mean magnitude
    signs = torch.empty((q, N, G, group_size), dtype=torch.float64, device=w.device)
    alpha = torch.empty((q, N, G), dtype=torch.float64, device=w.device)
    r = wg.clone()
    c_sum = c.sum(-1).clamp_min(1e-300)  # (1, G)
    for i in range(q):
        signs[i] = torch.where(r >= 0, 1.0, -1.0)
        alpha[i] = (c * r.abs()).sum(-1) / c_sum
        r -= alpha[i, ..., None] * signs[i]

    # every sign combination, for the exhaustive re-selection: (2^q, q)
    combos = torch.tensor([[1.0 if (m >> i) & 1 else -1.0 for i in range(q)] for m in range(2**q)],
                          dtype=torch.float64, device=w.device)
    eye = torch.eye(q, dtype=torch.float64, device=w.device)

    def refit(signs):
        # 2a. weighted least squares for the alphas of each (n, g): (B C B^T) alpha = B C w
        b = signs.permute(1, 2, 0, 3)  # (N, G, q, gs)
        bc = b * c[:, :, None, :]
        gram = bc @ b.transpose(-1, -2) + 1e-9 * c_sum[..., None, None] * eye
        rhs = (bc @ wg[..., None]).squeeze(-1)
        return torch.linalg.solve(gram, rhs).permute(2, 0, 1)  # (q, N, G)

    def reselect(alpha):
        # 2b. each weight takes the combination of signs whose value is closest to it (a positive
        # per-weight objective weight does not change which combination is closest)
        values = (combos @ alpha.permute(1, 2, 0)[..., None]).squeeze(-1)  # (N, G, 2^q)
        # the closest of the sorted values is one of the two around the weight (a binary search
        # instead of 2^q distances per weight: 4x faster at q = 4, the same choice up to ties)
        sorted_values, order = values.sort(-1)
        hi = torch.searchsorted(sorted_values, wg).clamp(max=len(combos) - 1)  # (N, G, gs)
        lo = (hi - 1).clamp(min=0)
        closer_lo = (wg - sorted_values.gather(-1, lo)).abs() <= (sorted_values.gather(-1, hi) - wg).abs()
        best = order.gather(-1, torch.where(closer_lo, lo, hi))
        return combos[best].permute(3, 0, 1, 2)  # (q, N, G, gs)

    def objective(alpha, signs):  # (N, G): each group's error in the quantiser's metric
        r = wg - (alpha[..., None] * signs).sum(0)
        if metric is None:
            return (c * r.pow(2)).sum(-1)
        return ((r[..., None, :] @ metric).squeeze(-2) * r).sum(-1)

    if metric is not None:
        bits_of = 1 << torch.arange(q, device=w.device)  # combination index of a column of signs

        def refit(signs):
            # least squares in the block metric M of each (n, g): (B M B^T) alpha = B M w
            b = signs.permute(1, 2, 0, 3)  # (N, G, q, gs)
            bm = b @ metric  # (G, gs, gs) broadcast over rows
            trace = torch.diagonal(metric, dim1=-2, dim2=-1).sum(-1)  # (G,)
            gram = bm @ b.transpose(-1, -2) + 1e-9 * trace[None, :, None, None] * eye
            rhs = (bm @ wg[..., None]).squeeze(-1)
            return torch.linalg.solve(gram, rhs).permute(2, 0, 1)

        def reselect(alpha, signs):
            # coordinate descent over the weights of each group, all groups at once: weight k moves
            # to the combination that lowers r^T M r most (keeping it costs 0, so no step goes up)
            values = (combos @ alpha.permute(1, 2, 0)[..., None]).squeeze(-1)  # (N, G, 2^q)
            idx = ((signs > 0).long() * bits_of[:, None, None, None]).sum(0)  # (N, G, gs)
            v = values.gather(-1, idx)
            mr = ((wg - v)[..., None, :] @ metric).squeeze(-2)  # M r, (N, G, gs)
            m_diag = torch.diagonal(metric, dim1=-2, dim2=-1)  # (G, gs)
            for k in range(group_size):
                delta = values - v[..., k:k + 1]  # change of weight k for each combination
                gain = delta * (delta * m_diag[None, :, k:k + 1] - 2 * mr[..., k:k + 1])
                j = gain.argmin(-1, keepdim=True)
                d = delta.gather(-1, j)  # (N, G, 1)
                idx[..., k:k + 1] = j
                v[..., k:k + 1] += d
                mr -= d * metric[None, :, k, :]
            return combos[idx].permute(3, 0, 1, 2)
    else:
        nearest = reselect

        def reselect(alpha, signs):
            return nearest(alpha)

    for _ in range(iters):
        alpha = refit(signs)
        signs = reselect(alpha, signs)

    exps = term_signs = None
    if scale_terms is not None:
        if scale_exp_range is None:
            scale_exp_range = _default_exp_range(alpha)
        best_err = torch.full((N, G), torch.inf, dtype=torch.float64, device=w.device)
        best_alpha, best_signs = alpha.clone(), signs.clone()
        best_exps = torch.zeros((scale_terms, q, N, G), dtype=torch.int64, device=w.device)
        best_tsigns = torch.zeros((scale_terms, q, N, G), dtype=torch.int8, device=w.device)
        for _ in range(iters + 1):
            a_r, e_r, s_r = pow2_sum_scales(alpha, scale_terms, scale_exp_range)
            a_r = a_r.to(torch.float64)  # exact: float32 holds every grid value
            signs = reselect(a_r, signs)
            err = objective(a_r, signs)
            better = err < best_err
            best_err = torch.where(better, err, best_err)
            best_alpha = torch.where(better, a_r, best_alpha)
            best_signs = torch.where(better[..., None], signs, best_signs)
            best_exps = torch.where(better, e_r, best_exps)
            best_tsigns = torch.where(better, s_r, best_tsigns)
            alpha = refit(signs)
        alpha, signs, exps, term_signs = best_alpha, best_signs, best_exps, best_tsigns

    packed = pack_signs(signs.reshape(q, N, K).to(torch.int8))
    return BCQWeight(packed, alpha.to(torch.float32), group_size, exps, term_signs)


#: Widest exponent span of :func:`pow2_sum_scales`: a sum of powers of two 2^lo .. 2^hi needs
#: hi - lo + 1 significand bits, and float32 (the scales' dtype) has 24.
MAX_EXP_SPAN = 23
#: Exponents a float32 normal number can carry.
_F32_EXP = (-126, 127)
#: Exponents of the default grid: 16 (a 4-bit shift field) ending at the largest scale's.
DEFAULT_EXP_COUNT = 16


def _check_terms(terms, name: str = "terms") -> int:
    if isinstance(terms, bool) or not isinstance(terms, int) or not 1 <= terms <= MAX_SCALE_TERMS:
        raise ValueError(f"{name} (powers of two per scale) must be an integer in 1..{MAX_SCALE_TERMS}, got {terms!r}")
    return terms


def _default_exp_range(scales: torch.Tensor) -> tuple[int, int]:
    amax = float(scales.abs().max()) if scales.numel() else 0.0
    hi = math.ceil(math.log2(amax)) if amax > 0 else 0
    hi = min(max(hi, _F32_EXP[0] + DEFAULT_EXP_COUNT - 1), _F32_EXP[1])
    return hi - DEFAULT_EXP_COUNT + 1, hi


def pow2_sum_scales(scales: torch.Tensor, terms: int,
                    exp_range: tuple[int, int] | None = None) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Round every scale to a signed sum of up to ``terms`` powers of two (ShiftAddLLM's scales).

    Returns ``(rounded, exps, signs)``: ``rounded`` float32, the shape of ``scales``;
    ``exps`` int64 and ``signs`` int8 in {-1, 0, +1}, both (terms, *scales.shape), with
    ``rounded == sum_j signs[j] * 2.0 ** exps[j]`` exactly (an unused term has sign 0 and
    exponent lo). A shift-add engine applies term j as a shift by exps[j] and an add or
    subtract.

    Exponents lie in ``exp_range`` = (lo, hi), inclusive integers (default: 16 exponents ending
    at ceil(log2 max|scale|)); hi - lo <= 23 so that every sum is exact in float32.

    Greedy: each term is the power of two (or nothing) closest to what is left of the scale,
    so each added term never increases any scale's error, and the first t terms of a
    ``terms`` > t rounding are the t-term rounding.
    """
    if not isinstance(scales, torch.Tensor):
        raise TypeError(f"scales must be a torch.Tensor, got {type(scales).__name__}")
    if not scales.dtype.is_floating_point:
        raise TypeError(f"scales must be a floating-point tensor, got dtype {scales.dtype}")
    _check_terms(terms)
    a = scales.detach().to(torch.float64)
    if not bool(torch.isfinite(a).all()):
        raise ValueError("scales hold NaN or infinite values")
    if exp_range is None:
        exp_range = _default_exp_range(a)
    ok = (isinstance(exp_range, (tuple, list)) and len(exp_range) == 2
          and all(isinstance(e, int) and not isinstance(e, bool) for e in exp_range))
    if not ok or not exp_range[0] <= exp_range[1]:
        raise ValueError(f"exp_range must be a pair of integers (lo, hi) with lo <= hi, got {exp_range!r}")
    lo, hi = exp_range
    if hi - lo > MAX_EXP_SPAN or lo < _F32_EXP[0] or hi > _F32_EXP[1]:
        raise ValueError(f"exp_range {tuple(exp_range)} must span at most {MAX_EXP_SPAN} within "
                         f"{_F32_EXP[0]}..{_F32_EXP[1]} (every sum exact in float32)")
    r = a.clone()
    exps = torch.full((terms, *a.shape), lo, dtype=torch.int64, device=a.device)
    signs = torch.zeros((terms, *a.shape), dtype=torch.int8, device=a.device)
    for j in range(terms):
        mag = r.abs()
        # |r| lies between 2^e and 2^(e+1): one of the two (or 0) is the nearest power of two
        e_lo = torch.floor(torch.log2(mag.clamp_min(2.0 ** (lo - 1)))).clamp(lo, hi)
        e_hi = (e_lo + 1).clamp(max=hi)
        cand = torch.stack([torch.zeros_like(mag), torch.exp2(e_lo), torch.exp2(e_hi)])
        pick = (mag[None] - cand).abs().argmin(0)  # ties go to the earlier: nothing, then the smaller
        e = torch.where(pick == 2, e_hi, e_lo)
        s = torch.where(pick == 0, 0.0, torch.sign(r))
        exps[j] = torch.where(pick == 0, torch.full_like(e, lo), e).to(torch.int64)
        signs[j] = s.to(torch.int8)
        r = r - s * torch.exp2(e)
    rounded = (signs.to(torch.float64) * torch.exp2(exps.to(torch.float64))).sum(0)
    return rounded.to(torch.float32), exps, signs


def pow2_scales(bcq: BCQWeight, exp_bits: int = 4) -> tuple[torch.Tensor, torch.Tensor, float]:
    """Round a BCQ weight's scales to powers of two for the shift-add engines (sim/lut_pe.py).

    Returns ``(packed, exps, base)`` with alpha ~ base * 2^exps: ``exps`` int64 in
    0..2^exp_bits - 1, ``base`` one float per tensor (the largest |alpha| maps to the top
    exponent), and a negative alpha's sign folded into its plane's bits for that group (the
    group's bytes inverted, which negates every sign in it), so every engine scale is positive.
    Each |alpha| is rounded to the nearest power of two in the log domain; those below base
    clamp to 2^0. W ~ base * sum_i 2^exps_i * B_i, and for int8 activations
    ``base * lut_gemm_pow2(x, packed, exps, g)`` is x W^T with that W.
    """
    if isinstance(exp_bits, bool) or not isinstance(exp_bits, int) or not 1 <= exp_bits <= 5:
        raise ValueError(f"exp_bits must be an integer in 1..5, got {exp_bits!r}")
    e_max = 2**exp_bits - 1
    alpha = bcq.scales.to(torch.float64)
    amax = float(alpha.abs().max()) if alpha.numel() else 0.0
    if amax == 0.0:
        return bcq.packed.clone(), torch.zeros(alpha.shape, dtype=torch.int64), 1.0
    base = amax / 2.0**e_max
    mag = alpha.abs().clamp_min(base)
    exps = torch.round(torch.log2(mag / base)).clamp(0, e_max).to(torch.int64)
    flip = (alpha < 0).repeat_interleave(bcq.group_size // 8, dim=-1)  # per byte of sign bits
    packed = torch.where(flip, bcq.packed ^ 0xFF, bcq.packed)
    return packed, exps, base
