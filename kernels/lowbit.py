"""
Weight-only INT4 / INT3 / INT2 quantisation: RTN, GPTQ and OWQ
==============================================================

Every weight matrix W (N x K: output rows x input columns, ``nn.Linear.weight``) is stored as
unsigned ``bits``-bit codes with one scale and one zero point per output row and per group of
``group_size`` consecutive input columns (asymmetric, "uniform" quantisation; the packed layout
is kernels/lowbit_format.py's):

    W[n, k] ~ (code[n, k] - zero[n, g]) * scale[n, g],   g = k // group_size,
    code in 0 .. 2^bits - 1,   zero in 0 .. 2^bits - 1 (an integer),   scale fp16.

The grid of a group spans [min(w, 0), max(w, 0)] (as GPTQ's quantiser does), so 0 is always on
the grid exactly; the scale is rounded to fp16 *before* codes are chosen, so the stored scale is
the one the codes were fitted to and dequantisation reproduces the quantiser's own values.

Three ways to choose the codes:

* **RTN** (round to nearest), per weight, no data needed.
* **GPTQ** (Frantar et al., "GPTQ: Accurate Post-Training Quantization for Generative
  Pre-trained Transformers", ICLR 2023, Algorithm 1). With calibration inputs X (n x K) the layer
  error ||X W^T - X Q^T||^2 has Hessian H = 2 X^T X. Columns are quantised left to right; the
  error of column k, divided by [H^-1]_kk, is spread onto the not yet quantised columns through
  row k of the upper Cholesky factor of H^-1 (the Optimal Brain Surgeon update, computed once).
  "Lazy batch" updates: inside a block of ``block_size`` columns only the block is updated;
  the rest of W gets the block's accumulated update in one matrix product at the block's end.
  Damping: ``damp_percent`` x mean(diag H) is added to the diagonal. Group parameters are fitted
  when a group's first column comes up, to the *updated* weights of that group; blocks are
  aligned to groups so that those weights are current (the reference code reads them from the
  outer matrix, which inside a block is stale).
  Inputs never seen in calibration (H_kk = 0) get H_kk = 1 and keep their RTN codes, not the
  reference code's zeroed weights: a model used on other data still sees them.
* **OWQ** (Lee et al., "OWQ: Outlier-Aware Weight Quantization", AAAI 2024): some input columns
  are "weak": quantising them costs most. Sensitivity of column k is H_kk x ||W[:, k] - Q[:, k]||^2
  (the second moment of input k over the calibration data, times column k's RTN error: the
  diagonal term of the layer's output error). The ``outlier_columns`` most sensitive columns are
  kept in fp16 (``outlier_weight``, N x n_out, with their indices) and the rest are quantised
  (RTN, or GPTQ, which leaves the fp16 columns unquantised but still folds the earlier columns'
  error into them). Their codes are set equal to the zero point, so the dense part contributes
  exactly 0 there and the kernel adds the fp16 columns in a second, small dot product.
  Group parameters are fitted to a group's non-outlier columns only.

:meth:`QuantizedWeight.pack` packs the codes into the kernel's operands (the layout of
kernels/lowbit_format.py, read by kernels/wonly_gemm.py). The drop-in ``LowBitLinear`` and the
model-level ``quantize_`` / ``prepare_lowbit_`` that use these quantisers and that kernel are in
kernels/lowbit_linear.py.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from kernels.lowbit_format import check_bits, check_group_size, is_int, pack_codes

__all__ = [
    "FLOAT_WEIGHTS",
    "QuantizedWeight",
    "gptq_quantize",
    "owq_select_columns",
    "rtn_quantize",
]

FLOAT_WEIGHTS = (torch.float16, torch.bfloat16, torch.float32)


def _check_weight(w) -> None:
    if not isinstance(w, torch.Tensor):
        raise TypeError(f"weight must be a torch.Tensor, got {type(w).__name__}")
    if w.dtype not in FLOAT_WEIGHTS:
        raise TypeError(f"weight must be float16, bfloat16 or float32, got {w.dtype}")
    if w.dim() != 2 or 0 in w.shape:
        raise ValueError(f"weight must be a non-empty 2-D (N, K) matrix, got shape {tuple(w.shape)}")


# %%
# The quantised weight
# --------------------


@dataclass(frozen=True)
class QuantizedWeight:
    """Codes, group parameters and OWQ's fp16 columns of one (N, K) weight, unpacked.

    ``codes`` (N, K) uint8, ``scales`` (N, G) fp16, ``zeros`` (N, G) uint8, ``outlier_idx``
    (n_out,) int64 sorted, ``outlier_weight`` (N, n_out) fp16. At outlier columns code == zero.
    """

    codes: torch.Tensor
    scales: torch.Tensor
    zeros: torch.Tensor
    outlier_idx: torch.Tensor
    outlier_weight: torch.Tensor
    bits: int
    group_size: int

    @property
    def shape(self) -> tuple[int, int]:
        return tuple(self.codes.shape)

    def dequantize(self) -> torch.Tensor:
        """The float32 (N, K) matrix the codes stand for, fp16 outlier columns included."""
        g = self.group_size
        scale = self.scales.float().repeat_interleave(g, dim=1)
        zero = self.zeros.float().repeat_interleave(g, dim=1)
        w = (self.codes.float() - zero) * scale
        if self.outlier_idx.numel():
            w[:, self.outlier_idx] = self.outlier_weight.float()
        return w

    def pack(self) -> dict[str, torch.Tensor]:
        """The kernel's operands (kernels/wonly_gemm.py) in the layout of kernels/lowbit_format.py."""
        return {
            "qweight": pack_codes(self.codes, self.bits),
            "scales": self.scales.T.contiguous(),
            "zeros": self.zeros.T.contiguous(),
            "outlier_idx": self.outlier_idx.to(torch.int32),
            "outlier_weight": self.outlier_weight.T.contiguous(),
        }


# %%
# Round to nearest
# ----------------


def _group_params(w: torch.Tensor, bits: int, keep: torch.Tensor | None = None):
    """Scale (fp16-representable, float32) and zero (float32 integer) per row of ``w`` (N, g).

    ``keep`` (g,) bool excludes columns (OWQ's fp16 ones) from the range.
    """
    qmax = (1 << bits) - 1
    if keep is not None:
        lo = torch.where(keep, w, torch.inf).amin(dim=1)
        hi = torch.where(keep, w, -torch.inf).amax(dim=1)
    else:
        lo, hi = w.amin(dim=1), w.amax(dim=1)
    lo, hi = lo.clamp(max=0), hi.clamp(min=0)  # 0 on the grid, exactly
    scale = ((hi - lo) / qmax).to(torch.float16).float()
    scale = torch.where(scale > 0, scale, torch.ones_like(scale))  # an all-zero group
    zero = torch.round(-lo / scale).clamp(0, qmax)
    return scale, zero


def _quantize_column(w: torch.Tensor, scale: torch.Tensor, zero: torch.Tensor, bits: int) -> torch.Tensor:
    return torch.clamp(torch.round(w / scale) + zero, 0, (1 << bits) - 1)


def _finish(w_codes, scales, zeros, outlier_idx, outlier_cols, bits, g) -> QuantizedWeight:
    return QuantizedWeight(
        codes=w_codes.to(torch.uint8),
        scales=scales.to(torch.float16),
        zeros=zeros.to(torch.uint8),
        outlier_idx=outlier_idx,
        outlier_weight=outlier_cols.to(torch.float16),
        bits=bits,
        group_size=g,
    )


def _outlier_mask(K: int, outlier_idx, device) -> tuple[torch.Tensor, torch.Tensor]:
    idx = torch.zeros(0, dtype=torch.int64, device=device) if outlier_idx is None else outlier_idx.to(torch.int64)
    if idx.numel() and (int(idx.min()) < 0 or int(idx.max()) >= K or idx.unique().numel() != idx.numel()):
        raise ValueError(f"outlier_idx must hold distinct column indices in 0..{K - 1}")
    idx = idx.sort().values
    mask = torch.zeros(K, dtype=torch.bool, device=device)
    mask[idx] = True
    return idx, mask


def rtn_quantize(weight: torch.Tensor, bits: int, group_size: int | None,
                 outlier_idx: torch.Tensor | None = None) -> QuantizedWeight:
    """Round-to-nearest group-wise asymmetric quantisation; ``outlier_idx`` columns kept in fp16."""
    _check_weight(weight)
    check_bits(bits)
    N, K = weight.shape
    g = check_group_size(group_size, K)
    w = weight.detach().float()
    idx, is_out = _outlier_mask(K, outlier_idx, w.device)
    G = K // g
    wg = w.reshape(N, G, g)
    keep = ~is_out.reshape(G, g)
    scales, zeros = torch.empty(N, G, device=w.device), torch.empty(N, G, device=w.device)
    codes = torch.empty(N, G, g, device=w.device)
    for j in range(G):
        s, z = _group_params(wg[:, j], bits, keep[j])
        scales[:, j], zeros[:, j] = s, z
        codes[:, j] = _quantize_column(wg[:, j], s[:, None], z[:, None], bits)
    codes = codes.reshape(N, K)
    codes[:, is_out] = zeros.repeat_interleave(g, dim=1)[:, is_out]  # dense part is 0 there
    return _finish(codes, scales, zeros, idx, w[:, idx], bits, g)


# %%
# GPTQ
# ----


def _gptq_block(group_size: int, block_size: int) -> int:
    """A block size whose blocks start at every group start (see the module docstring)."""
    if group_size <= block_size:
        return (block_size // group_size) * group_size
    return max(d for d in range(1, block_size + 1) if group_size % d == 0)


def gptq_quantize(weight: torch.Tensor, hessian: torch.Tensor, bits: int, group_size: int | None, *,
                  damp_percent: float = 0.01, block_size: int = 128,
                  outlier_idx: torch.Tensor | None = None) -> QuantizedWeight:
    """GPTQ (Algorithm 1, lazy batches, Cholesky form) with group-wise asymmetric grids.

    ``hessian`` (K, K) is X^T X (any positive multiple; damping is relative to its diagonal).
    ``outlier_idx`` columns are not quantised (OWQ); they absorb earlier columns' error updates
    and are returned in fp16.
    """
    _check_weight(weight)
    check_bits(bits)
    N, K = weight.shape
    g = check_group_size(group_size, K)
    if not isinstance(hessian, torch.Tensor) or hessian.shape != (K, K) or not hessian.dtype.is_floating_point:
        raise ValueError(f"hessian must be a float (K, K) = ({K}, {K}) tensor, got "
                         f"{getattr(hessian, 'shape', type(hessian).__name__)}")
    W = weight.detach().float().clone()
    idx, is_out = _outlier_mask(K, outlier_idx, W.device)
    H = hessian.detach().to(device=W.device, dtype=torch.float64).clone()
    dead = torch.diag(H) == 0
    H[dead, dead] = 1.0
    H += damp_percent * torch.mean(torch.diag(H)) * torch.eye(K, dtype=H.dtype, device=H.device)
    # U: upper Cholesky factor of H^-1. Row k of U, divided by U_kk, is the OBS update that
    # quantising column k (after columns < k) applies to columns > k; U_kk^2 = [H_k^-1]_kk.
    Hinv = torch.cholesky_inverse(torch.linalg.cholesky(H))
    U = torch.linalg.cholesky(Hinv, upper=True).float()

    G = K // g
    codes = torch.zeros(N, K, device=W.device)
    scales, zeros = torch.empty(N, G, device=W.device), torch.empty(N, G, device=W.device)
    block = _gptq_block(g, block_size)
    for b0 in range(0, K, block):
        b1 = min(b0 + block, K)
        W1 = W[:, b0:b1].clone()
        Err1 = torch.zeros_like(W1)
        U1 = U[b0:b1, b0:b1]
        for i in range(b1 - b0):
            k = b0 + i
            if k % g == 0:
                # the group's columns: those in this block are updated in W1, any beyond the
                # block are in W, current because groups start at block starts (_gptq_block)
                cur = torch.cat([W1[:, i:], W[:, b1:k + g]], dim=1)[:, :g]
                s, z = _group_params(cur, bits, ~is_out[k:k + g])
                scales[:, k // g], zeros[:, k // g] = s, z
            s, z = scales[:, k // g], zeros[:, k // g]
            w = W1[:, i]
            if is_out[k]:
                codes[:, k] = z  # dense part 0; the column itself is kept (updated) in fp16
                W[:, k] = w
                continue  # not quantised: no error to spread
            q = _quantize_column(w, s, z, bits)
            codes[:, k] = q
            err = (w - (q - z) * s) / U1[i, i]
            W1[:, i:] -= err[:, None] * U1[i, i:][None, :]
            Err1[:, i] = err
        # lazy batch update: the rest of W gets this block's error in one product
        W[:, b1:] -= Err1 @ U[b0:b1, b1:]
    return _finish(codes, scales, zeros, idx, W[:, idx], bits, g)


# %%
# OWQ: which columns stay in fp16
# -------------------------------


def owq_select_columns(weight: torch.Tensor, hessian_diag: torch.Tensor, bits: int, group_size: int | None,
                       n_columns: int) -> torch.Tensor:
    """The ``n_columns`` input columns with the largest H_kk * ||W[:, k] - RTN(W)[:, k]||^2, sorted."""
    _check_weight(weight)
    N, K = weight.shape
    if not is_int(n_columns) or not 0 <= n_columns <= K:
        raise ValueError(f"outlier columns must be an integer in 0..K = {K}, got {n_columns!r}")
    if not isinstance(hessian_diag, torch.Tensor) or hessian_diag.shape != (K,):
        raise ValueError(f"hessian_diag must be a (K,) = ({K},) tensor")
    err = (rtn_quantize(weight, bits, group_size).dequantize() - weight.float()).pow(2).sum(dim=0)
    sensitivity = hessian_diag.float() * err
    return torch.topk(sensitivity, n_columns).indices.sort().values
