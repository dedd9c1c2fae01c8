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

Bit order of the packed format (:func:`pack_signs`): byte ``kb`` of a row holds columns
``8*kb .. 8*kb+7``; bit ``t`` (LSB = t 0) is 1 when B[..., 8*kb + t] = +1 and 0 when it is -1.
That is the index convention of the LUT: entry p of a table built from activations x_0..x_7 is
sum_t (bit t of p ? +x_t : -x_t).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

__all__ = [
    "BCQWeight",
    "MAX_Q",
    "bcq_dequantize",
    "bcq_quantize",
    "pow2_scales",
    "check_group_size",
    "pack_signs",
    "unpack_signs",
]

#: Largest number of binary planes: ShiftAddLLM uses 2-3, and 2^q sign combinations are tried
#: per weight during refinement.
MAX_Q = 4

_BIT_WEIGHTS = 1 << torch.arange(8, dtype=torch.int32)  # bit t of a packed byte is column 8*kb + t


@dataclass(frozen=True)
class BCQWeight:
    """A binary-coded weight: ``packed`` (q, N, K/8) uint8 sign bits, ``scales`` (q, N, K/g) float32."""

    packed: torch.Tensor
    scales: torch.Tensor
    group_size: int

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


def bcq_quantize(w: torch.Tensor, q: int, group_size: int, iters: int = 5) -> BCQWeight:
    """Binary-code ``w`` (N, K) with ``q`` planes and one scale per (plane, row, group).

    Greedy init, then ``iters`` rounds of least-squares alpha refit and exhaustive sign
    re-selection (module docstring). Returns packed signs and float32 scales.
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

    G = K // group_size
    wg = w.detach().to(torch.float64).reshape(N, G, group_size)  # one row of a group per (n, g)

    # 1. greedy: each plane takes the sign of what is left and its mean magnitude
    signs = torch.empty((q, N, G, group_size), dtype=torch.float64, device=w.device)
    alpha = torch.empty((q, N, G), dtype=torch.float64, device=w.device)
    r = wg.clone()
    for i in range(q):
        signs[i] = torch.where(r >= 0, 1.0, -1.0)
        alpha[i] = r.abs().mean(-1)
        r -= alpha[i, ..., None] * signs[i]

    # every sign combination, for the exhaustive re-selection: (2^q, q)
    combos = torch.tensor([[1.0 if (c >> i) & 1 else -1.0 for i in range(q)] for c in range(2**q)],
                          dtype=torch.float64, device=w.device)
    eye = torch.eye(q, dtype=torch.float64, device=w.device)
    for _ in range(iters):
        # 2a. least squares for the alphas of each (n, g): (B B^T) alpha = B w
        b = signs.permute(1, 2, 0, 3)  # (N, G, q, gs)
        gram = b @ b.transpose(-1, -2) + 1e-9 * group_size * eye
        rhs = (b @ wg[..., None]).squeeze(-1)
        alpha = torch.linalg.solve(gram, rhs).permute(2, 0, 1)  # (q, N, G)
        # 2b. each weight takes the combination of signs whose value is closest to it
        values = (combos @ alpha.permute(1, 2, 0)[..., None]).squeeze(-1)  # (N, G, 2^q)
        best = (wg[..., None] - values[:, :, None, :]).abs().argmin(-1)  # (N, G, gs)
        signs = combos[best].permute(3, 0, 1, 2)  # (q, N, G, gs)

    packed = pack_signs(signs.reshape(q, N, K).to(torch.int8))
    return BCQWeight(packed, alpha.to(torch.float32), group_size)


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
