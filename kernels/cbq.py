"""
CBQ: cross-block reconstruction quantisation (W4A8 and W2A16) on MiniLM-structured encoders
===========================================================================================

Ding et al., "CBQ: Cross-Block Quantization for Large Language Models" (arXiv 2312.07950, ICLR
2025). Three parts, all here in plain torch:

* **Cross-block reconstruction (CBD).** The encoder's blocks are quantised window by window: a
  window of ``window`` consecutive blocks (default 2), windows overlapping by ``overlap`` blocks
  (default 1: window i covers blocks i and i+1). In each window the quantisation parameters of its
  blocks are trained (Adam, ``steps`` steps, one calibration batch per step) to minimise the error
  of the window's output against the fp32 model's output of the same block on the same sentences,
  the window's input coming from the blocks before it *already quantised* (so the error they left
  is what the window learns to absorb). Loss: ||Y_q - Y||^2 / ||Y||^2 + ``cos_weight`` x mean over
  tokens of (1 - cos(Y_q, Y)) over real tokens (the paper adds a KL term between output
  distributions of an LLM; the token-wise cosine is its analogue for an embedding model's hidden
  states), plus the rounding regulariser below. After a window, the blocks that no later window
  covers are frozen to their hard (stored) form; a block in the overlap keeps its parameters and is
  trained again in the next window. ``window=1, overlap=0`` is plain block-wise reconstruction
  (the ablation "without CBD").
* **Coarse-to-fine pre-processing (CFP)**, before any training (:func:`cfp_threshold`):
  coarse: the values above Q3 + ``cfp_lambda1`` x IQR (quartiles of the whole set) are candidate
  outliers; fine: the sorted candidates are split in two where (mean_hi - mean_lo)^2 -
  ``cfp_lambda2`` x (var_lo + var_hi) is largest (far apart, each tight), and the upper part are the
  outliers. Activations (W4A8 only, where activations are quantised): the set is each input
  channel's max |x| over the calibration tokens; an outlier channel j is divided by
  s_j = sqrt(max_j / T) (T: the largest inlier channel max) and W[:, j] multiplied by it (SmoothQuant's
  migration; s rounded to fp16 and stored). MiniLM is post-LayerNorm: the LayerNorm output also
  feeds the residual, so 1/s cannot be folded into it; the division is done by the per-token
  activation quantiser, which already scales every element once (one multiply more per element,
  and K fp16 factors per layer, counted in the stored bytes; q, k and v read the same input, so
  their factors are equal and one quantised activation serves the three). Weights: the set is |W|
  of the (smoothed) layer, and weights beyond the threshold are truncated to it. On
  all-MiniLM-L6-v2 the fine stage cuts off the single largest value of every layer (heavy tails:
  one far value beats any larger group under this criterion), so CFP truncates one weight per
  layer and scales 1-2 activation channels per layer; in ffn_down of blocks 0-3 the truncated
  weight is the one writing hidden dimension 99 (7.9 against a next-largest 1.2 in block 0), which
  costs that layer's own output error (reports/sections/cbq.py's ``cbq_nocfp`` ablation).
* **LoRA-Rounding with learnable step sizes.** Every weight is stored as an unsigned ``w_bits``-bit
  code with a scale and an integer zero point per output row and group (asymmetric grid, the
  layout of kernels/lowbit.py). Initial grid: per row and group, the range [min w, max w] shrunk by
  the ratio of ``clip_ratios`` that minimises sum_k E[x_k^2] (w_k - q(w_k))^2 (the diagonal of the
  layer's output error; learnable clipping's start). Then codes = clamp(floor(W/s0) + z + r, 0,
  2^b - 1), r in [0, 1] the rounding offset: r = h(V), h the rectified sigmoid of AdaRound
  (clip(sigmoid(V / tau) (zeta - gamma) + gamma, 0, 1), zeta = 1.1, gamma = -0.1), and
  V = V0 + A B with A (N x rank), B (rank x K) the learnable low-rank matrices (B starts at 0,
  A ~ N(0, 1/rank)) and V0 fixed, chosen so that h(V0) = the fractional part of W/s0 (the soft
  weights start equal to W). Learnable step size: s = s0 exp(t), t per row and group. Regulariser
  ``round_reg`` x mean(1 - |2 r - 1|^beta), beta annealed from ``beta[0]`` to ``beta[1]`` after a
  ``warmup`` fraction of a block's steps (AdaRound's schedule). The hard rounding is r = 1 where
  V >= 0 (h(V) >= 1/2).

  Departure from the paper (which does not spell out LoRA-Rounding's initialisation): with a
  rank-r offset alone, the regulariser cannot drive every r to 0 or 1 (it moves only A and B), so
  the soft weights would never reach the hard ones and the optimisation would see a model that
  is not the one stored. Here V0 starts the soft weights at W and the sigmoid's temperature tau is
  annealed geometrically from 1 to ``tau_end`` over a block's steps, so by a block's last step its
  soft weights are its hard rounding up to the few weights with |V| < ~5 tau_end. The learnable
  matrices A, B are still the paper's low-rank ones; V0 is a fixed function of W, not trained.

The formats (``QuantLinear``), read by the suite's kernels:

* ``W4A8`` (:data:`W4A8`): 4-bit weights, one scale per output channel (``group_size=None``:
  kernels/int8_gemm.py applies one weight scale per output column), activations int8 per token
  (dynamic, symmetric, scale = max|x| / 127, as kernels.wonly_gemm.quantize_per_row_int8). Stored
  for kernels.wonly_gemm.w8a8_gemm / kernels.int8_gemm.int8_gemm: ``qweight`` (K, N) int8 = code -
  zero (16 consecutive integers in -15..15 per column: 4-bit information in an int8 container),
  ``w_scale`` (N,) fp16 (cast to fp32 for the launch, exactly), and with CFP ``smooth`` (K,) fp16;
  bytes N K + 2 N (+ 2 K). y = (x_q @ qweight) * x_scale * w_scale + bias, x_q the int8 tokens of
  x / smooth. Every product |x_q w| <= 127 x 15 and every partial sum over K <= 1536 stays below
  2^24, so the fp32 torch reference of the integer product is exact in any summation order: the
  kernel and the reference agree bit for bit.
* ``W2A16`` (:data:`W2A16`): 2-bit weights, groups of 128 input columns, activations in floating
  point. Stored in kernels/lowbit_format.py's layout for kernels.wonly_gemm.wonly_gemm:
  ``qweight`` (ceil(2K/32), N) int32, ``scales`` (K/128, N) fp16, ``zeros`` (K/128, N) uint8; bytes
  4 N ceil(K/16) + 3 N K/128 (lowbit.QuantizedWeight.pack, no fp16 columns).

Entry points: :func:`quantize_` (CBQ, in place: every projection of the chosen blocks becomes a
:class:`QuantLinear`), :func:`quantize_baseline_` (RTN / GPTQ of kernels/lowbit.py in the same
formats, the same activation quantisation), :func:`window_objective` (the reconstruction
objective of a model's quantised prefix on any sentences, e.g. held-out ones).
"""

from __future__ import annotations

import math
import random
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import torch
import torch.nn.functional as F
from torch import nn

from kernels.lowbit import QuantizedWeight, gptq_quantize, rtn_quantize
from kernels.lowbit_format import check_group_size, is_int

__all__ = [
    "A_BITS",
    "CBQConfig",
    "QuantLinear",
    "W2A16",
    "W4A8",
    "W_BITS",
    "cfp_smooth_factors",
    "cfp_threshold",
    "cfp_truncate",
    "layer_stats",
    "quantize_",
    "quantize_baseline_",
    "quantize_tokens_int8",
    "rectified_sigmoid",
    "rounding_regulariser",
    "window_objective",
]

#: weight widths CBQ stores (kernels/lowbit_format.py's; the int8 container holds any of them)
W_BITS = (2, 3, 4)
#: activation widths: 8 = int8 per token (kernels.int8_gemm), 16 = not quantised (floating point)
A_BITS = (8, 16)
#: AdaRound's stretch of the sigmoid
ZETA, GAMMA = 1.1, -0.1
_KINDS = ("q", "k", "v", "o", "ffn_up", "ffn_down")


# %%
# Configuration
# -------------


def _positive_int(name, v, minimum=1):
    if not is_int(v) or v < minimum:
        raise ValueError(f"{name} must be an integer >= {minimum}, got {v!r}")


def _number(name, v, lo=None, hi=None, lo_open=False, hi_open=False):
    if isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v):
        raise ValueError(f"{name} must be a finite number, got {v!r}")
    if lo is not None and (v < lo or (lo_open and v == lo)):
        raise ValueError(f"{name} must be {'>' if lo_open else '>='} {lo}, got {v!r}")
    if hi is not None and (v > hi or (hi_open and v == hi)):
        raise ValueError(f"{name} must be {'<' if hi_open else '<='} {hi}, got {v!r}")


@dataclass(frozen=True)
class CBQConfig:
    """How CBQ quantises (module docstring). Presets: :data:`W4A8`, :data:`W2A16`.

    ``group_size=None``: one scale per output channel (required with ``a_bits=8``).
    ``steps``: Adam steps per window (0: CFP and the initial grid only, no training).
    """

    w_bits: int = 4
    a_bits: int = 8
    group_size: int | None = None
    window: int = 2
    overlap: int = 1
    rank: int = 8
    steps: int = 40
    lr_round: float = 1e-2
    lr_scale: float = 1e-3
    round_reg: float = 0.01
    beta: tuple[float, float] = (20.0, 2.0)
    warmup: float = 0.2
    tau_end: float = 0.02
    cos_weight: float = 1.0
    cfp: bool = True
    cfp_lambda1: float = 1.5
    cfp_lambda2: float = 1.0
    clip_ratios: tuple[float, ...] = (1.0, 0.95, 0.9, 0.85, 0.8, 0.75, 0.7)
    seed: int = 0

    def __post_init__(self) -> None:
        if not is_int(self.w_bits) or self.w_bits not in W_BITS:
            raise ValueError(f"w_bits must be one of {W_BITS} (CBQ's W4A8 and W2A16 use 4 and 2), got {self.w_bits!r}")
        if not is_int(self.a_bits) or self.a_bits not in A_BITS:
            raise ValueError(f"a_bits must be one of {A_BITS} (8: int8 per token; 16: activations not quantised), "
                             f"got {self.a_bits!r}")
        if self.group_size is not None and (not is_int(self.group_size) or self.group_size < 1):
            raise ValueError(f"group_size must be a positive integer or None (per output channel), got "
                             f"{self.group_size!r}")
        if self.a_bits == 8 and self.group_size is not None:
            raise ValueError(f"group_size must be None (one scale per output channel) when a_bits = 8: "
                             f"kernels.int8_gemm's W8A8 path applies one weight scale per output column, got "
                             f"group_size={self.group_size!r}")
        _positive_int("window", self.window)
        if not is_int(self.overlap) or not 0 <= self.overlap < self.window:
            raise ValueError(f"overlap must be an integer in 0..window-1 = 0..{self.window - 1}, got {self.overlap!r}")
        _positive_int("rank", self.rank)
        _positive_int("steps", self.steps, 0)
        _number("lr_round", self.lr_round, 0, lo_open=True)
        _number("lr_scale", self.lr_scale, 0)
        _number("round_reg", self.round_reg, 0)
        if (not isinstance(self.beta, tuple) or len(self.beta) != 2
                or any(isinstance(b, bool) or not isinstance(b, (int, float)) or not math.isfinite(b) or b <= 0
                       for b in self.beta) or self.beta[0] < self.beta[1]):
            raise ValueError(f"beta must be a (start, end) pair of positive numbers with start >= end (annealed "
                             f"down), got {self.beta!r}")
        _number("warmup", self.warmup, 0, 1, hi_open=True)
        _number("tau_end", self.tau_end, 0, 1, lo_open=True)
        _number("cos_weight", self.cos_weight, 0)
        if not isinstance(self.cfp, bool):
            raise ValueError(f"cfp must be True or False, got {self.cfp!r}")
        _number("cfp_lambda1", self.cfp_lambda1, 0, lo_open=True)
        _number("cfp_lambda2", self.cfp_lambda2, 0)
        if (not isinstance(self.clip_ratios, tuple) or not self.clip_ratios
                or any(isinstance(r, bool) or not isinstance(r, (int, float)) or not 0 < r <= 1
                       for r in self.clip_ratios)):
            raise ValueError(f"clip_ratios must be a non-empty tuple of numbers in (0, 1], got {self.clip_ratios!r}")
        if not is_int(self.seed):
            raise ValueError(f"seed must be an integer, got {self.seed!r}")

    @property
    def label(self) -> str:
        return f"W{self.w_bits}A{self.a_bits}"


#: CBQ's W4A8: 4-bit weights per output channel, int8 activations per token, served by kernels.int8_gemm
W4A8 = CBQConfig(w_bits=4, a_bits=8, group_size=None)
#: CBQ's W2A16: 2-bit weights in groups of 128, floating-point activations, served by kernels.wonly_gemm
W2A16 = CBQConfig(w_bits=2, a_bits=16, group_size=128)


# %%
# Coarse-to-fine outlier detection (CFP)
# --------------------------------------


def cfp_threshold(values: torch.Tensor, lambda1: float = 1.5, lambda2: float = 1.0) -> tuple[float, int]:
    """(T, n): the largest value that is not an outlier, and how many values are outliers.

    Coarse: candidates are the values above Q3 + lambda1 IQR. Fine: the sorted candidates are
    cut where (mean_hi - mean_lo)^2 - lambda2 (var_lo + var_hi) is largest; the upper part are
    the outliers (a single candidate is an outlier). No candidates: (max, 0).
    """
    if not isinstance(values, torch.Tensor) or not values.dtype.is_floating_point or values.numel() < 4:
        raise ValueError("values must be a float tensor of at least 4 elements")
    _number("lambda1", lambda1, 0, lo_open=True)
    _number("lambda2", lambda2, 0)
    v = values.detach().flatten().double()
    if not bool(torch.isfinite(v).all()):
        raise ValueError("values must be finite")
    q1, q3 = torch.quantile(v, torch.tensor([0.25, 0.75], dtype=v.dtype)).tolist()
    coarse = q3 + lambda1 * (q3 - q1)
    cand = v[v > coarse].sort().values
    n = cand.numel()
    if n == 0:
        return float(v.max()), 0
    if n == 1:
        return float(v[v <= coarse].max()), 1
    # split k = 1..n-1: lo = cand[:k], hi = cand[k:], from prefix sums
    c1 = torch.cumsum(cand, 0)
    c2 = torch.cumsum(cand * cand, 0)
    k = torch.arange(1, n, dtype=v.dtype)
    s_lo, q_lo = c1[:-1], c2[:-1]
    s_hi, q_hi = c1[-1] - s_lo, c2[-1] - q_lo
    m_lo, m_hi = s_lo / k, s_hi / (n - k)
    var_lo = (q_lo / k - m_lo ** 2).clamp_min(0)
    var_hi = (q_hi / (n - k) - m_hi ** 2).clamp_min(0)
    score = (m_hi - m_lo) ** 2 - lambda2 * (var_lo + var_hi)
    cut = int(torch.argmax(score)) + 1  # first index of the outliers
    return float(cand[cut - 1]), n - cut


def cfp_smooth_factors(channel_max: torch.Tensor, lambda1: float = 1.5, lambda2: float = 1.0) -> torch.Tensor:
    """CFP's activation scaling: s_j = sqrt(max_j / T) for outlier channels (T the largest inlier
    channel max), 1 elsewhere; rounded to fp16 (the stored factors), returned as float32 (K,)."""
    if not isinstance(channel_max, torch.Tensor) or channel_max.dim() != 1:
        raise ValueError("channel_max must be a 1-D tensor of per-channel max |x|")
    cm = channel_max.detach().float()
    T, n = cfp_threshold(cm, lambda1, lambda2)
    s = torch.ones_like(cm)
    if n and T > 0:
        out = cm > T
        s[out] = torch.sqrt(cm[out] / T)
    return s.to(torch.float16).float()


def cfp_truncate(weight: torch.Tensor, lambda1: float = 1.5, lambda2: float = 1.0) -> tuple[torch.Tensor, float, int]:
    """CFP's weight step: |W| outliers (coarse-to-fine over the whole layer) truncated to the
    threshold, sign kept. Returns (W truncated, threshold, number truncated)."""
    T, n = cfp_threshold(weight.detach().abs(), lambda1, lambda2)
    return weight.clamp(-T, T), T, n


# %%
# LoRA-Rounding
# -------------


def rectified_sigmoid(v: torch.Tensor, tau: float = 1.0) -> torch.Tensor:
    """AdaRound's h(v) = clip(sigmoid(v / tau) (zeta - gamma) + gamma, 0, 1)."""
    return torch.clamp(torch.sigmoid(v / tau) * (ZETA - GAMMA) + GAMMA, 0.0, 1.0)


def rounding_regulariser(r: torch.Tensor, beta: float) -> torch.Tensor:
    """AdaRound's mean(1 - |2 r - 1|^beta): 0 when every offset is 0 or 1, largest at 1/2."""
    return (1 - (2 * r - 1).abs().pow(beta)).mean()


def _inverse_rectified_sigmoid(r: torch.Tensor) -> torch.Tensor:
    p = ((r - GAMMA) / (ZETA - GAMMA)).clamp(1e-6, 1 - 1e-6)
    return torch.log(p / (1 - p))


def quantize_tokens_int8(x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Symmetric int8 per row (token) of a 2-D x: (q int8, scale float32), x ~ q scale; as
    kernels.wonly_gemm.quantize_per_row_int8 (scale max|x| / 127; an all-zero row gets scale 1)."""
    amax = x.detach().float().abs().amax(dim=1)
    scale = torch.where(amax > 0, amax / 127, torch.ones_like(amax))
    q = torch.clamp(torch.round(x.float() / scale[:, None]), -127, 127).to(torch.int8)
    return q, scale


def _fake_quant_tokens(x: torch.Tensor) -> torch.Tensor:
    """Per-token int8 fake quantisation, straight-through gradient."""
    amax = x.detach().abs().amax(dim=-1, keepdim=True)
    scale = torch.where(amax > 0, amax / 127, torch.ones_like(amax))
    xq = torch.clamp(torch.round(x / scale), -127, 127) * scale
    return x + (xq - x).detach()


def _init_grid(w: torch.Tensor, bits: int, g: int, col_weight: torch.Tensor, ratios: Sequence[float]):
    """Per row and group: fp16 scale and integer zero of the range [min, max] x the best ratio
    (weighted squared error, col_weight per input column). (scale (N, G) float32, zero (N, G))."""
    N, K = w.shape
    G = K // g
    qmax = (1 << bits) - 1
    wg = w.reshape(N, G, g)
    cw = col_weight.reshape(1, G, g)
    lo0, hi0 = wg.amin(dim=2), wg.amax(dim=2)
    best_err = torch.full((N, G), math.inf)
    best_s, best_z = torch.ones(N, G), torch.zeros(N, G)
    for r in ratios:
        lo, hi = lo0 * r, hi0 * r
        s = ((hi - lo) / qmax).to(torch.float16).float()
        s = torch.where(s > 0, s, torch.ones_like(s))
        z = torch.round(-lo / s).clamp(0, qmax)
        q = torch.clamp(torch.round(wg / s[..., None]) + z[..., None], 0, qmax)
        err = ((wg - (q - z[..., None]) * s[..., None]).pow(2) * cw).sum(dim=2)
        better = err < best_err
        best_err = torch.where(better, err, best_err)
        best_s, best_z = torch.where(better, s, best_s), torch.where(better, z, best_z)
    return best_s, best_z


# %%
# The stored layer
# ----------------


class QuantLinear(nn.Module):
    """A quantised ``nn.Linear`` in a kernel's format (module docstring), with its torch reference
    forward. ``codes`` (N, K) uint8, ``scales`` (N, G) fp16, ``zeros`` (N, G) uint8, ``smooth``
    (K,) fp16 or None (CFP's activation factors), ``bias`` (N,) float32 or None.

    ``use_kernel = True`` makes forward run the Triton kernel (kernels.wonly_gemm.w8a8_gemm /
    wonly_gemm) instead of the torch reference (on the CPU: in Triton's interpreter, slowly)."""

    def __init__(self, codes, scales, zeros, smooth, bias, w_bits: int, a_bits: int, group_size: int):
        super().__init__()
        self.w_bits, self.a_bits, self.group_size = w_bits, a_bits, group_size
        self.out_features, self.in_features = codes.shape
        self.register_buffer("codes", codes.to(torch.uint8))
        self.register_buffer("scales", scales.to(torch.float16))
        self.register_buffer("zeros", zeros.to(torch.uint8))
        self.register_buffer("smooth", None if smooth is None else smooth.to(torch.float16))
        self.register_buffer("bias", None if bias is None else bias.detach().float().clone())
        self.use_kernel = False
        # the reference forward's operands, formed once
        g = group_size
        w = (self.codes.float() - self.zeros.float().repeat_interleave(g, 1)) * self.scales.float().repeat_interleave(g, 1)
        self.register_buffer("_w", w, persistent=False)
        if a_bits == 8:
            self.register_buffer("_w_int_t", (self.codes.float() - self.zeros.float()).T.contiguous(), persistent=False)

    @classmethod
    def from_quantized(cls, qw: QuantizedWeight, bias, a_bits: int, smooth=None) -> QuantLinear:
        if qw.outlier_idx.numel():
            raise ValueError("QuantLinear holds no fp16 outlier columns")
        return cls(qw.codes, qw.scales, qw.zeros, smooth, bias, qw.bits, a_bits, qw.group_size)

    def weight(self) -> torch.Tensor:
        """The dequantised (N, K) float32 weight (in the smoothed domain: y = (x / smooth) W^T + b)."""
        return self._w

    def tensors(self) -> dict[str, torch.Tensor]:
        """What the kernel reads (module docstring); ``stored_bytes`` is their nbytes."""
        if self.a_bits == 8:
            t = {"qweight": (self.codes.to(torch.int16) - self.zeros.to(torch.int16)).to(torch.int8).T.contiguous(),
                 "w_scale": self.scales[:, 0].contiguous()}
            if self.smooth is not None:
                t["smooth"] = self.smooth
            return t
        qw = QuantizedWeight(self.codes, self.scales, self.zeros, torch.zeros(0, dtype=torch.int64),
                             torch.zeros(self.out_features, 0, dtype=torch.float16), self.w_bits, self.group_size)
        p = qw.pack()
        return {"qweight": p["qweight"], "scales": p["scales"], "zeros": p["zeros"]}

    @property
    def stored_bytes(self) -> int:
        return sum(t.numel() * t.element_size() for t in self.tensors().values())

    def _tokens(self, x2):
        xs = x2.float() if self.smooth is None else x2.float() / self.smooth.float()
        return quantize_tokens_int8(xs)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        lead = x.shape[:-1]
        x2 = x.reshape(-1, self.in_features)
        if self.use_kernel:
            y = self._kernel(x2)
        elif self.a_bits == 8:
            xq, xs = self._tokens(x2)
            # exact: integer products and partial sums < 2^24 (module docstring)
            y = (xq.float() @ self._w_int_t) * xs[:, None] * self.scales[:, 0].float()[None, :]
        else:
            y = x2.float() @ self._w.T
        if self.bias is not None:
            y = y + self.bias
        return y.reshape(*lead, self.out_features)

    def _kernel(self, x2: torch.Tensor) -> torch.Tensor:
        from kernels import wonly_gemm as wg

        t = self.tensors()
        if self.a_bits == 8:
            xq, xs = self._tokens(x2)
            return wg.w8a8_gemm(xq, t["qweight"], xs, t["w_scale"].float())
        return wg.wonly_gemm(x2.float(), t["qweight"], t["scales"], t["zeros"], self.w_bits, self.group_size,
                             out_dtype=torch.float32)

    def extra_repr(self) -> str:
        return (f"in_features={self.in_features}, out_features={self.out_features}, W{self.w_bits}A{self.a_bits}, "
                f"group_size={self.group_size}, smooth={self.smooth is not None}")


# %%
# The trained layer
# -----------------


class _SoftWeight(torch.autograd.Function):
    """LoRA-Rounding's soft weight and regulariser with a hand-written backward (one pass over the
    N x K elements each way instead of autograd's dozen; the training's bulk on a CPU):

        z = (V0 + A B) / tau,  r = clip(sigmoid(z) (zeta - gamma) + gamma, 0, 1),
        w = clamp(base + r, lo, hi) * scale   (per row and group),   reg = mean(1 - |2 r - 1|^beta).
    """

    @staticmethod
    def forward(ctx, v0, A, B, base, lo, hi, scale, tau, beta):
        N, K = base.shape
        G = scale.shape[1]
        sg = torch.sigmoid(torch.addmm(v0, A, B, beta=1 / tau, alpha=1 / tau))
        r = (sg * (ZETA - GAMMA) + GAMMA).clamp_(0.0, 1.0)
        qpre = (base + r).view(N, G, -1)
        q = torch.maximum(torch.minimum(qpre, hi), lo)
        w = (q * scale[..., None]).view(N, K)
        # dr/dz where r is not clipped (sigmoid in [-gamma, 1 - gamma] / (zeta - gamma)), 0 elsewhere
        lo_sg, hi_sg = -GAMMA / (ZETA - GAMMA), (1 - GAMMA) / (ZETA - GAMMA)
        e = sg * (1 - sg)
        e.mul_(((sg >= lo_sg) & (sg <= hi_sg)).to(e.dtype)).mul_((ZETA - GAMMA) / tau)
        # dw/dz / scale: also 0 where the code is clamped to the grid's ends
        f = e * ((qpre >= lo) & (qpre <= hi)).view(N, K).to(e.dtype)
        reg, rz = torch.zeros((), dtype=w.dtype), None
        if beta is not None:
            v = 2 * r - 1
            p = torch.exp(torch.log(v.abs()).mul_(beta))  # |v|^beta (0 at v = 0: exp(-inf))
            reg = 1 - p.mean()
            # d reg / d r = -2 beta |v|^(beta - 1) sign(v) / numel = -2 beta (p / v) / numel; times dr/dz
            rz = p.div_(v).nan_to_num_(0.0)  # 0 / 0 at v = 0
            rz.mul_(e).mul_(-2 * beta / v.numel())
        ctx.save_for_backward(A, B, q, f, scale, rz)
        return w, reg

    @staticmethod
    def backward(ctx, gw, greg):
        A, B, q, f, scale, rz = ctx.saved_tensors
        N, G, _ = q.shape
        gw3 = gw.view(N, G, -1)
        gscale = (gw3 * q).sum(dim=2)
        gz = (gw3 * scale[..., None]).view(N, -1).mul_(f)
        if rz is not None:
            gz.add_(rz * greg)
        gA = gz @ B.T if ctx.needs_input_grad[1] else None
        gB = A.T @ gz if ctx.needs_input_grad[2] else None
        return None, gA, gB, None, None, None, gscale, None, None


class _CBQLinear(nn.Module):
    """An ``nn.Linear`` under CBQ's training: soft LoRA-Rounding weights, learnable step sizes,
    per-token int8 fake quantisation (W4A8). :meth:`finalize` gives its :class:`QuantLinear`."""

    def __init__(self, linear: nn.Linear, cfg: CBQConfig, channel_max: torch.Tensor, channel_ms: torch.Tensor,
                 gen: torch.Generator):
        super().__init__()
        w = linear.weight.detach().float().clone()
        N, K = w.shape
        if cfg.rank > min(N, K):
            raise ValueError(f"rank must be at most min(N, K) = {min(N, K)} of a {N} x {K} layer, got {cfg.rank}")
        g = check_group_size(cfg.group_size, K)
        self.cfg, self.g, self.bits = cfg, g, cfg.w_bits
        self.n_truncated, self.n_smoothed = 0, 0
        smooth = None
        if cfg.cfp and cfg.a_bits == 8:
            s = cfp_smooth_factors(channel_max, cfg.cfp_lambda1, cfg.cfp_lambda2)
            if bool((s != 1).any()):
                smooth = s
                self.n_smoothed = int((s != 1).sum())
                w = w * s[None, :]
        if cfg.cfp:
            w, _, self.n_truncated = cfp_truncate(w, cfg.cfp_lambda1, cfg.cfp_lambda2)
        col_weight = channel_ms.float() if smooth is None else channel_ms.float() / smooth ** 2
        s0, z = _init_grid(w, cfg.w_bits, g, col_weight.clamp_min(1e-12), cfg.clip_ratios)
        G = K // g
        x = (w.reshape(N, G, g) / s0[..., None])
        fl = torch.floor(x)
        self.register_buffer("smooth", smooth)
        self.register_buffer("s0", s0)
        self.register_buffer("zero", z)
        # codes - zero = clamp(floor(W/s0) + r, -zero, qmax - zero): (N, G, g) with (N, G, 1) bounds
        self.register_buffer("base", fl.reshape(N, K))
        self.register_buffer("lo", -z[..., None])
        self.register_buffer("hi", (1 << cfg.w_bits) - 1 - z[..., None])
        self.register_buffer("v0", _inverse_rectified_sigmoid(x - fl).reshape(N, K))
        self.register_buffer("bias", None if linear.bias is None else linear.bias.detach().float().clone())
        self.A = nn.Parameter(torch.randn(N, cfg.rank, generator=gen) / math.sqrt(cfg.rank))
        self.B = nn.Parameter(torch.zeros(cfg.rank, K))
        self.t = nn.Parameter(torch.zeros_like(s0))
        self.tau = 1.0
        self.beta: float | None = None  # set: forward also leaves the rounding regulariser in self.reg
        self.reg = None

    def v(self) -> torch.Tensor:
        return torch.addmm(self.v0, self.A, self.B)

    def rounding(self) -> torch.Tensor:
        """h(V / tau), (N, K); V / tau formed in one addmm."""
        z = torch.addmm(self.v0, self.A, self.B, beta=1 / self.tau, alpha=1 / self.tau)
        return torch.clamp(torch.sigmoid(z) * (ZETA - GAMMA) + GAMMA, 0.0, 1.0)

    def soft_weight(self) -> torch.Tensor:
        """The soft (N, K) weight (and, with ``beta`` set, the regulariser in ``self.reg``), by the
        fused autograd function :class:`_SoftWeight` (its gradient checked against autograd's in
        tests/test_cbq.py)."""
        scale = self.s0 * torch.exp(self.t)
        w, reg = _SoftWeight.apply(self.v0, self.A, self.B, self.base, self.lo, self.hi, scale, self.tau,
                                   self.beta)
        if self.beta is not None:
            self.reg = reg
        return w

    def soft_weight_reference(self) -> tuple[torch.Tensor, torch.Tensor | None]:
        """The same soft weight and regulariser in plain torch ops (autograd's own gradient)."""
        N, K = self.base.shape
        r = self.rounding()
        reg = rounding_regulariser(r, self.beta) if self.beta is not None else None
        q = torch.clamp((self.base + r).reshape(N, -1, self.g), self.lo, self.hi)
        return (q * (self.s0 * torch.exp(self.t))[..., None]).reshape(N, K), reg

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.smooth is not None:
            x = x / self.smooth
        if self.cfg.a_bits == 8:
            x = _fake_quant_tokens(x)
        return F.linear(x, self.soft_weight(), self.bias)

    @torch.no_grad()
    def finalize(self) -> QuantLinear:
        N, K = self.base.shape
        rounded = (self.base + (self.v() >= 0).float()).reshape(N, -1, self.g)
        codes = (torch.clamp(rounded, self.lo, self.hi) - self.lo).reshape(N, K)
        scales = (self.s0 * torch.exp(self.t)).to(torch.float16)
        scales = torch.where(scales.float() > 0, scales, torch.full_like(scales, 2.0 ** -24))
        return QuantLinear(codes, scales, self.zero, self.smooth, self.bias, self.bits, self.cfg.a_bits, self.g)


# %%
# The model: MiniLM's structure
# -----------------------------


def _check_model(model) -> int:
    blocks = getattr(model, "blocks", None)
    if not isinstance(model, nn.Module) or not isinstance(blocks, nn.ModuleList) or not len(blocks):
        raise ValueError("model must be an encoder with MiniLM's structure (kernels/models/minilm.py: word, position, "
                         "token_type, ln_embed and a ModuleList of blocks)")
    for i, b in enumerate(blocks):
        for kind in _KINDS:
            if not isinstance(getattr(b, kind, None), nn.Linear):
                raise ValueError(f"block {i} of the model has no nn.Linear {kind!r} (already quantised?)")
    return len(blocks)


def _check_batches(name, batches) -> list:
    if isinstance(batches, dict):
        batches = [batches]
    if not isinstance(batches, (list, tuple)) or not batches:
        raise ValueError(f"{name} must be a non-empty list of token batches (dicts from kernels.models.minilm.tokenize)")
    for b in batches:
        if not isinstance(b, dict) or "input_ids" not in b or "attention_mask" not in b:
            raise ValueError(f"{name} must hold dicts with input_ids and attention_mask (minilm.tokenize's output)")
    return list(batches)


def _check_blocks(blocks, n_blocks) -> list[int]:
    if blocks is None:
        return list(range(n_blocks))
    if is_int(blocks):
        blocks = range(blocks)
    blocks = list(blocks)
    if (not blocks or any(not is_int(b) for b in blocks) or blocks[0] < 0 or blocks[-1] >= n_blocks
            or blocks != list(range(blocks[0], blocks[0] + len(blocks)))):
        raise ValueError(f"blocks must be consecutive block indices in 0..{n_blocks - 1} (or a count of leading "
                         f"blocks), got {blocks!r}")
    return blocks


@torch.no_grad()
def _embed_input(model, batch) -> tuple[torch.Tensor, torch.Tensor]:
    """(hidden states entering block 0, additive key mask), as MiniLM.forward computes them."""
    ids, mask = batch["input_ids"], batch["attention_mask"]
    tt = batch.get("token_type_ids")
    tt = torch.zeros_like(ids) if tt is None else tt
    pos = torch.arange(ids.shape[1], device=ids.device)
    x = model.ln_embed(model.word(ids) + model.position(pos) + model.token_type(tt))
    key_bias = (1.0 - mask[:, None, None, :].to(x.dtype)) * torch.finfo(x.dtype).min
    return x, key_bias


def _objective(y_q: torch.Tensor, y: torch.Tensor, mask: torch.Tensor, cos_weight: float) -> torch.Tensor:
    m = mask.bool()
    a, b = y_q[m], y[m]
    l2 = (a - b).pow(2).sum() / b.pow(2).sum().clamp_min(1e-30)
    return l2 + cos_weight * (1 - F.cosine_similarity(a, b, dim=-1)).mean()


@torch.no_grad()
def layer_stats(model, batches, names: Sequence[str], hessian: bool = False) -> dict[str, dict[str, torch.Tensor]]:
    """Per named projection, over the real tokens of ``batches`` run through ``model``: ``max`` (K,)
    max |x| per input channel, ``ms`` (K,) mean x^2, and with ``hessian`` ``H`` = X^T X (K, K) float64."""
    mods = dict(model.named_modules())
    stats = {n: {} for n in names}
    mask_now: list[torch.Tensor] = []

    def hook(name):
        def record(_m, args):
            x = args[0].detach()[mask_now[0]].float()
            st = stats[name]
            mx = x.abs().amax(dim=0)
            st["max"] = mx if "max" not in st else torch.maximum(st["max"], mx)
            st["sq"] = st.get("sq", 0) + x.pow(2).sum(dim=0)
            st["n"] = st.get("n", 0) + x.shape[0]
            if hessian:
                xd = x.double()
                st["H"] = st.get("H", 0) + xd.T @ xd
        return record

    handles = [mods[n].register_forward_pre_hook(hook(n)) for n in names]
    try:
        for b in batches:
            mask_now[:] = [b["attention_mask"].bool()]
            model(**b)
    finally:
        for h in handles:
            h.remove()
    for st in stats.values():
        st["ms"] = st.pop("sq") / st.pop("n")
    return stats


def _swap(block: nn.Module, kind: str, new: nn.Module) -> None:
    setattr(block, kind, new)


def _windows(n: int, window: int, overlap: int) -> list[list[int]]:
    """Window starts 0, stride, 2 stride, ... (stride = window - overlap) until the last block is covered."""
    stride = window - overlap
    out, start = [], 0
    while True:
        out.append(list(range(start, min(start + window, n))))
        if start + window >= n:
            return out
        start += stride


@dataclass
class CBQResult:
    """What :func:`quantize_` did: per window the reconstruction objective of the first and the
    last step's calibration batch (soft weights), CFP counts per layer, seconds."""

    config: CBQConfig
    blocks: list[int]
    windows: list[dict] = field(default_factory=list)
    smoothed_channels: dict[str, int] = field(default_factory=dict)
    truncated_weights: dict[str, int] = field(default_factory=dict)
    seconds: float = 0.0


def quantize_(model, config: CBQConfig, calibration, *, blocks=None,
              progress: Callable[[str], None] | None = None) -> CBQResult:
    """CBQ on ``model`` (MiniLM's structure) in place: every projection of ``blocks`` (default all;
    consecutive indices, or a count of leading blocks) becomes a :class:`QuantLinear`.
    ``calibration``: token batches (kernels.models.minilm.tokenize); one batch per Adam step."""
    if not isinstance(config, CBQConfig):
        raise TypeError(f"config must be a CBQConfig, got {type(config).__name__}")
    n_blocks = _check_model(model)
    batches = _check_batches("calibration", calibration)
    blocks = _check_blocks(blocks, n_blocks)
    for i in blocks:
        for kind in _KINDS:
            lin = getattr(model.blocks[i], kind)
            check_group_size(config.group_size, lin.in_features, where=f" (in_features of blocks.{i}.{kind})")
            if config.rank > min(lin.weight.shape):
                raise ValueError(f"rank must be at most min(N, K) = {min(lin.weight.shape)} (blocks.{i}.{kind}), "
                                 f"got {config.rank}")
    t_start = time.perf_counter()
    say = progress or (lambda _s: None)
    model.eval()
    for p in model.parameters():
        p.requires_grad_(False)
    result = CBQResult(config, blocks)
    gen = torch.Generator().manual_seed(config.seed)
    order_rng = random.Random(config.seed)

    # fp32 hidden states at every block boundary (targets), layer statistics (CFP, grid init)
    names = [f"blocks.{i}.{k}" for i in blocks for k in _KINDS]
    stats = layer_stats(model, batches, names)
    embedded = [_embed_input(model, b) for b in batches]
    masks = [b["attention_mask"] for b in batches]
    fp_out: dict[int, list[torch.Tensor]] = {}
    with torch.no_grad():
        h = [e[0] for e in embedded]
        for i in range(blocks[-1] + 1):
            h = [model.blocks[i](x, kb) for x, (_, kb) in zip(h, embedded)]
            if i in blocks:
                fp_out[i] = h
        # the quantised model's input to the first quantised block: the fp prefix (blocks before it stay fp)
        x_in = [e[0] for e in embedded]
        for i in range(blocks[0]):
            x_in = [model.blocks[i](x, kb) for x, (_, kb) in zip(x_in, embedded)]

    # every block's trainable layers
    train: dict[int, dict[str, _CBQLinear]] = {}
    for i in blocks:
        train[i] = {}
        for kind in _KINDS:
            n = f"blocks.{i}.{kind}"
            layer = _CBQLinear(getattr(model.blocks[i], kind), config, stats[n]["max"], stats[n]["ms"], gen)
            train[i][kind] = layer
            result.smoothed_channels[n] = layer.n_smoothed
            result.truncated_weights[n] = layer.n_truncated
            _swap(model.blocks[i], kind, layer)

    windows = [[blocks[j] for j in w] for w in _windows(len(blocks), config.window, config.overlap)]
    visits = {i: sum(i in w for w in windows) for i in blocks}
    done_steps = dict.fromkeys(blocks, 0)
    total_steps = {i: max(1, visits[i] * config.steps) for i in blocks}
    frozen: set[int] = set()

    def schedule(i):
        p = done_steps[i] / total_steps[i]
        tau = config.tau_end ** p
        if p < config.warmup:
            return tau, None
        q = (p - config.warmup) / (1 - config.warmup)
        return tau, config.beta[0] + (config.beta[1] - config.beta[0]) * q

    def run(ws, xs, k):
        x = xs[k]
        for i in ws:
            x = model.blocks[i](x, embedded[k][1])
        return x

    for wi, ws in enumerate(windows):
        t0 = time.perf_counter()
        params = []
        for i in ws:
            for layer in train[i].values():
                params.append({"params": [layer.A, layer.B], "lr": config.lr_round})
                params.append({"params": [layer.t], "lr": config.lr_scale})
                for p in (layer.A, layer.B, layer.t):
                    p.requires_grad_(True)
        opt = torch.optim.Adam(params)
        last = ws[-1]
        first_loss = last_loss = math.nan
        order: list[int] = []
        for step in range(config.steps):
            if not order:
                order = list(range(len(batches)))
                order_rng.shuffle(order)
            k = order.pop()
            for i in ws:
                tau, beta = schedule(i)
                for layer in train[i].values():
                    layer.tau, layer.beta = tau, (beta if config.round_reg > 0 else None)
                    layer.reg = None
            y = run(ws, x_in, k)
            rec = _objective(y, fp_out[last][k], masks[k], config.cos_weight)
            regs = [layer.reg for i in ws for layer in train[i].values() if layer.reg is not None]
            loss = rec + config.round_reg * sum(regs) / len(_KINDS) if regs else rec
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            for i in ws:
                done_steps[i] += 1
            if step == 0:
                first_loss = float(rec.detach())
            last_loss = float(rec.detach())
        for i in ws:
            for layer in train[i].values():
                for p in (layer.A, layer.B, layer.t):
                    p.requires_grad_(False)
                layer.beta, layer.reg = None, None
        # freeze the blocks no later window covers; move the input past them
        later = set().union(*windows[wi + 1:]) if wi + 1 < len(windows) else set()
        for i in ws:
            if i not in later and i not in frozen:
                for kind, layer in train[i].items():
                    _swap(model.blocks[i], kind, layer.finalize())
                frozen.add(i)
        with torch.no_grad():
            nxt = windows[wi + 1][0] if wi + 1 < len(windows) else None
            if nxt is not None:
                for i in range(ws[0], nxt):
                    x_in = [model.blocks[i](x, kb) for x, (_, kb) in zip(x_in, embedded)]
        secs = time.perf_counter() - t0
        result.windows.append({"window": wi, "blocks": tuple(ws), "first_loss": first_loss, "last_loss": last_loss,
                               "seconds": secs})
        say(f"cbq {config.label}: window {wi} blocks {tuple(ws)}: loss {first_loss:.4f} -> {last_loss:.4f} "
            f"({config.steps} steps, {secs:.1f} s)")
    result.seconds = time.perf_counter() - t_start
    return result


# %%
# Baselines in the same formats
# -----------------------------


def quantize_baseline_(model, method: str, config: CBQConfig, calibration=None, *, blocks=None,
                       hessians: dict | None = None) -> dict[str, QuantLinear]:
    """RTN or GPTQ (kernels/lowbit.py) of every projection of ``blocks``, in ``config``'s format
    (w_bits, group_size, a_bits: the same per-token int8 activations for a_bits = 8; no CFP), in
    place. GPTQ's X^T X: ``hessians`` {name: (K, K)} or from ``calibration`` (fp model, real tokens)."""
    if method not in ("rtn", "gptq"):
        raise ValueError(f"method must be 'rtn' or 'gptq', got {method!r}")
    if not isinstance(config, CBQConfig):
        raise TypeError(f"config must be a CBQConfig, got {type(config).__name__}")
    n_blocks = _check_model(model)
    blocks = _check_blocks(blocks, n_blocks)
    names = [f"blocks.{i}.{k}" for i in blocks for k in _KINDS]
    if method == "gptq" and hessians is None:
        batches = _check_batches("calibration", calibration)
        hessians = {n: st["H"] for n, st in layer_stats(model, batches, names, hessian=True).items()}
    out = {}
    for i in blocks:
        for kind in _KINDS:
            n = f"blocks.{i}.{kind}"
            lin = getattr(model.blocks[i], kind)
            if method == "rtn":
                qw = rtn_quantize(lin.weight, config.w_bits, config.group_size)
            else:
                qw = gptq_quantize(lin.weight, hessians[n], config.w_bits, config.group_size)
            out[n] = QuantLinear.from_quantized(qw, lin.bias, config.a_bits)
            _swap(model.blocks[i], kind, out[n])
    return out


@torch.no_grad()
def window_objective(model_q, model_fp, batches, last_block: int, cos_weight: float = 1.0) -> float:
    """CBQ's reconstruction objective (relative L2 + cos_weight (1 - cos), real tokens, pooled over
    the batches) of the hidden states after block ``last_block``: ``model_q`` (its quantised
    prefix) against ``model_fp``, on ``batches`` (e.g. held-out sentences)."""
    batches = _check_batches("batches", batches)
    num = den = cos_sum = 0.0
    n_tok = 0
    for b in batches:
        outs = []
        for m in (model_q, model_fp):
            x, kb = _embed_input(m, b)
            for i in range(last_block + 1):
                x = m.blocks[i](x, kb)
            outs.append(x)
        mask = b["attention_mask"].bool()
        a, r = outs[0][mask], outs[1][mask]
        num += float((a - r).pow(2).sum())
        den += float(r.pow(2).sum())
        cos_sum += float(F.cosine_similarity(a, r, dim=-1).sum())
        n_tok += a.shape[0]
    return num / den + cos_weight * (1 - cos_sum / n_tok)
