"""
Weight-only INT4 / INT3 / INT2 quantisation: RTN, GPTQ and OWQ, and the drop-in LowBitLinear
============================================================================================

Every weight matrix W (N x K: output rows x input columns, ``nn.Linear.weight``) is stored as
unsigned ``bits``-bit codes with one scale and one zero point per output row and per group of
``group_size`` consecutive input columns (asymmetric, "uniform" quantisation):

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

Packing (:func:`pack_codes`): each output row's K codes form one little-endian bit stream, code k
at stream bits [k*bits, (k+1)*bits); word w of the row is stream bits [32 w, 32 w + 32), padded
with zeros to whole int32 words. Stored transposed, ``qweight[w, n]`` (ceil(K*bits/32) x N, int32),
so a kernel reading a row of words reads N consecutive int32 (coalesced). For 4 and 2 bits this
is the usual 8 / 16 codes per int32 (code t of word w at bits bits*t); for 3 bits it is the
"32 codes in 3 words" layout: 3 bits per weight exactly (10-per-word would cost 3.2), at the price
of codes 10 and 21 of every 32 straddling two words, which the kernel reads as two words.
Scales are stored (G, N) fp16, zero points (G, N) uint8, both transposed the same way.

Model level (torchao-style): a frozen :class:`LowBitConfig`, ``quantize_(model, config,
calibration=...)`` swapping every ``nn.Linear`` for a :class:`LowBitLinear` whose forward runs the
Triton kernel (kernels/wonly_gemm.py), and ``prepare_lowbit_(model, config)`` which swaps in empty
modules of the right shapes so a saved ``state_dict`` can be loaded. Calibration is one pass: every
layer's H comes from the float model's activations (GPTQ quantises layer by layer, feeding each
layer the already quantised model's activations; that refinement is left out).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

__all__ = [
    "BITS",
    "LowBitConfig",
    "LowBitLinear",
    "PRESETS",
    "QuantizedWeight",
    "collect_hessians",
    "gptq_quantize",
    "owq_select_columns",
    "pack_codes",
    "prepare_lowbit_",
    "quantize_",
    "rtn_quantize",
    "unpack_codes",
]

#: Supported code widths.
BITS = (2, 3, 4)
METHODS = ("rtn", "gptq")
FLOAT_WEIGHTS = (torch.float16, torch.bfloat16, torch.float32)


# %%
# Configuration
# -------------


@dataclass(frozen=True)
class LowBitConfig:
    """How to quantise every ``nn.Linear`` of a model.

    ``group_size=None`` is one group per output row (per-channel). ``outlier_columns`` > 0 is
    OWQ; it and ``method="gptq"`` need calibration inputs.
    """

    bits: int = 4
    group_size: int | None = 128
    method: str = "rtn"
    outlier_columns: int = 0
    damp_percent: float = 0.01
    block_size: int = 128

    def __post_init__(self) -> None:
        check_bits(self.bits)
        if self.group_size is not None and (not _is_int(self.group_size) or self.group_size < 1):
            raise ValueError(f"group_size must be a positive integer or None (per-channel), got {self.group_size!r}")
        if self.method not in METHODS:
            raise ValueError(f"method must be one of {METHODS}, got {self.method!r}")
        if not _is_int(self.outlier_columns) or self.outlier_columns < 0:
            raise ValueError(f"outlier_columns must be a non-negative integer, got {self.outlier_columns!r}")
        if not isinstance(self.damp_percent, (int, float)) or not self.damp_percent > 0:
            raise ValueError(f"damp_percent must be a positive number, got {self.damp_percent!r}")
        if not _is_int(self.block_size) or self.block_size < 1:
            raise ValueError(f"block_size must be a positive integer, got {self.block_size!r}")

    @property
    def needs_calibration(self) -> bool:
        return self.method == "gptq" or self.outlier_columns > 0


def _is_int(v) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


def check_bits(bits) -> None:
    if not _is_int(bits) or bits not in BITS:
        raise ValueError(f"bits must be one of {BITS}, got {bits!r}")


def check_group_size(group_size, K: int, where: str = "") -> int:
    """The group size as an int (None -> K); raises unless it is positive and divides K."""
    g = K if group_size is None else group_size
    if not _is_int(g) or g < 1:
        raise ValueError(f"group_size must be a positive integer, got {group_size!r}")
    if K % g:
        raise ValueError(f"group_size {g} does not divide K = {K}{where}")
    return g


def _check_weight(w) -> None:
    if not isinstance(w, torch.Tensor):
        raise TypeError(f"weight must be a torch.Tensor, got {type(w).__name__}")
    if w.dtype not in FLOAT_WEIGHTS:
        raise TypeError(f"weight must be float16, bfloat16 or float32, got {w.dtype}")
    if w.dim() != 2 or 0 in w.shape:
        raise ValueError(f"weight must be a non-empty 2-D (N, K) matrix, got shape {tuple(w.shape)}")


#: Named presets (gpt-fast style). OWQ's paper keeps about 0.1-0.5% of columns; 32 of 4096 is ~0.8%.
PRESETS = {
    "w4-g128-rtn": LowBitConfig(bits=4, group_size=128),
    "w4-g128-gptq": LowBitConfig(bits=4, group_size=128, method="gptq"),
    "w3-g128-gptq": LowBitConfig(bits=3, group_size=128, method="gptq"),
    "w3-owq32-gptq": LowBitConfig(bits=3, group_size=128, method="gptq", outlier_columns=32),
    "w2-g64-gptq": LowBitConfig(bits=2, group_size=64, method="gptq"),
}


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
        """The kernel's operands (kernels/wonly_gemm.py): the layout of the module docstring."""
        return {
            "qweight": pack_codes(self.codes, self.bits),
            "scales": self.scales.T.contiguous(),
            "zeros": self.zeros.T.contiguous(),
            "outlier_idx": self.outlier_idx.to(torch.int32),
            "outlier_weight": self.outlier_weight.T.contiguous(),
        }


# %%
# Packing
# -------


def packed_words(K: int, bits: int) -> int:
    """int32 words per output row: ceil(K * bits / 32)."""
    return (K * bits + 31) // 32


def pack_codes(codes: torch.Tensor, bits: int) -> torch.Tensor:
    """(N, K) codes -> (ceil(K*bits/32), N) int32: row n's little-endian bit stream, transposed."""
    check_bits(bits)
    if not isinstance(codes, torch.Tensor) or codes.dtype not in (torch.uint8, torch.int32, torch.int64):
        raise TypeError(f"codes must be a uint8/int32/int64 tensor, got {getattr(codes, 'dtype', type(codes).__name__)}")
    if codes.dim() != 2:
        raise ValueError(f"codes must be 2-D (N, K), got shape {tuple(codes.shape)}")
    N, K = codes.shape
    c = codes.to(torch.int64)
    if c.numel() and (int(c.min()) < 0 or int(c.max()) >= 1 << bits):
        raise ValueError(f"codes must lie in 0..{(1 << bits) - 1} for {bits} bits, got {int(c.min())}..{int(c.max())}")
    W = packed_words(K, bits)
    pos = torch.arange(K, device=codes.device) * bits
    word, shift = pos // 32, pos % 32
    out = torch.zeros((N, W + 1), dtype=torch.int64, device=codes.device)  # +1: spill of a straddling code
    out.index_add_(1, word, (c << shift) & 0xFFFFFFFF)
    spill = (c >> (32 - shift)) * (shift > 32 - bits)  # high bits of a code that crosses a word edge
    out.index_add_(1, word + 1, spill)
    words = out[:, :W]  # codes never overlap, so the sums above are bitwise ORs
    words = torch.where(words >= 2**31, words - 2**32, words)  # uint32 bit pattern as int32
    return words.to(torch.int32).T.contiguous()


def unpack_codes(qweight: torch.Tensor, bits: int, K: int) -> torch.Tensor:
    """The inverse of :func:`pack_codes`: (W, N) int32 -> (N, K) uint8 codes."""
    check_bits(bits)
    if not isinstance(qweight, torch.Tensor) or qweight.dtype != torch.int32 or qweight.dim() != 2:
        raise TypeError("qweight must be a 2-D int32 tensor (words x N)")
    if qweight.shape[0] != packed_words(K, bits):
        raise ValueError(f"qweight has {qweight.shape[0]} words per row, K = {K} at {bits} bits needs {packed_words(K, bits)}")
    words = qweight.T.to(torch.int64) & 0xFFFFFFFF  # (N, W)
    words = torch.cat([words, torch.zeros_like(words[:, :1])], dim=1)
    pos = torch.arange(K, device=qweight.device) * bits
    word, shift = pos // 32, pos % 32
    stream = words[:, word] | (words[:, word + 1] << 32)  # 64 bits starting at the code's word
    return ((stream >> shift) & ((1 << bits) - 1)).to(torch.uint8)


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
    if not _is_int(n_columns) or not 0 <= n_columns <= K:
        raise ValueError(f"outlier columns must be an integer in 0..K = {K}, got {n_columns!r}")
    if not isinstance(hessian_diag, torch.Tensor) or hessian_diag.shape != (K,):
        raise ValueError(f"hessian_diag must be a (K,) = ({K},) tensor")
    err = (rtn_quantize(weight, bits, group_size).dequantize() - weight.float()).pow(2).sum(dim=0)
    sensitivity = hessian_diag.float() * err
    return torch.topk(sensitivity, n_columns).indices.sort().values


# %%
# The drop-in module
# ------------------


class LowBitLinear(nn.Module):
    """``nn.Linear`` with packed low-bit weights; forward = kernels.wonly_gemm.wonly_gemm (+ bias).

    Buffers (all in ``state_dict``): ``qweight`` (ceil(K*bits/32), N) int32, ``scales`` (G, N)
    fp16, ``zeros`` (G, N) uint8, ``outlier_idx`` (n_out,) int32, ``outlier_weight`` (n_out, N)
    fp16; ``bias`` a parameter as in nn.Linear. Output dtype = input dtype.
    """

    def __init__(self, in_features: int, out_features: int, bits: int, group_size: int | None,
                 outlier_columns: int = 0, bias: bool = True, dtype: torch.dtype = torch.float32,
                 device=None):
        super().__init__()
        check_bits(bits)
        g = check_group_size(group_size, in_features)
        self.in_features, self.out_features = in_features, out_features
        self.bits, self.group_size, self.outlier_columns = bits, g, outlier_columns
        K, N, G = in_features, out_features, in_features // g
        self.register_buffer("qweight", torch.zeros((packed_words(K, bits), N), dtype=torch.int32, device=device))
        self.register_buffer("scales", torch.ones((G, N), dtype=torch.float16, device=device))
        self.register_buffer("zeros", torch.zeros((G, N), dtype=torch.uint8, device=device))
        self.register_buffer("outlier_idx", torch.arange(outlier_columns, dtype=torch.int32, device=device))
        self.register_buffer("outlier_weight", torch.zeros((outlier_columns, N), dtype=torch.float16, device=device))
        self.bias = nn.Parameter(torch.zeros(N, dtype=dtype, device=device)) if bias else None

    @classmethod
    def from_quantized(cls, qw: QuantizedWeight, bias: torch.Tensor | None) -> "LowBitLinear":
        N, K = qw.shape
        device = qw.codes.device
        mod = cls(K, N, qw.bits, qw.group_size, qw.outlier_idx.numel(), bias is not None,
                  dtype=bias.dtype if bias is not None else torch.float32, device=device)
        for name, t in qw.pack().items():
            getattr(mod, name).copy_(t)
        if bias is not None:
            mod.bias.data.copy_(bias.detach())
        return mod

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        from kernels.wonly_gemm import wonly_gemm  # the kernel imports this module's layout

        lead = x.shape[:-1]
        y = wonly_gemm(x.reshape(-1, self.in_features), self.qweight, self.scales, self.zeros,
                       self.bits, self.group_size, self.outlier_idx, self.outlier_weight)
        if self.bias is not None:
            y = y + self.bias.to(y.dtype)
        return y.reshape(*lead, self.out_features)

    def extra_repr(self) -> str:
        return (f"in_features={self.in_features}, out_features={self.out_features}, bits={self.bits}, "
                f"group_size={self.group_size}, outlier_columns={self.outlier_columns}, bias={self.bias is not None}")


# %%
# Model level
# -----------


def _linears(model: nn.Module) -> list[tuple[str, nn.Linear]]:
    if not isinstance(model, nn.Module):
        raise TypeError(f"model must be a torch.nn.Module, got {type(model).__name__}")
    found = [(name, m) for name, m in model.named_modules() if type(m) is nn.Linear]
    if not found:
        raise ValueError(f"model has no nn.Linear layers to quantise ({type(model).__name__})")
    return found


def _swap(model: nn.Module, name: str, new: nn.Module) -> None:
    parent_name, _, child = name.rpartition(".")
    parent = model.get_submodule(parent_name) if parent_name else model
    setattr(parent, child, new)


def _check_layer(name: str, lin: nn.Linear, config: LowBitConfig) -> None:
    if lin.weight.dtype not in FLOAT_WEIGHTS:
        raise TypeError(f"layer {name!r}: weight must be float16, bfloat16 or float32, got {lin.weight.dtype}")
    K = lin.in_features
    check_group_size(config.group_size, K, where=f" (in_features of layer {name!r})")
    if config.outlier_columns > K:
        raise ValueError(f"layer {name!r}: outlier_columns = {config.outlier_columns} exceeds K = {K}")


@torch.no_grad()
def collect_hessians(model: nn.Module, calibration, names) -> dict[str, torch.Tensor]:
    """X^T X (float64, K x K) of every named nn.Linear's input over the calibration batches."""
    mods = dict(model.named_modules())
    H: dict[str, torch.Tensor] = {}

    def hook(name):
        def record(_module, args):
            x = args[0].detach().reshape(-1, args[0].shape[-1]).to(torch.float64)
            H[name] = H.get(name, 0) + x.T @ x
        return record

    handles = [mods[n].register_forward_pre_hook(hook(n)) for n in names]
    try:
        batches = [calibration] if isinstance(calibration, torch.Tensor) else list(calibration)
        if not batches:
            raise ValueError("calibration holds no batches")
        for batch in batches:
            model(*batch) if isinstance(batch, (tuple, list)) else model(batch)
    finally:
        for h in handles:
            h.remove()
    missing = [n for n in names if n not in H]
    if missing:
        raise ValueError(f"calibration never reached layers {missing}")
    return H


@torch.no_grad()
def quantize_(model: nn.Module, config: LowBitConfig, calibration=None) -> nn.Module:
    """Replace every ``nn.Linear`` of ``model`` (in place) by a :class:`LowBitLinear`; return it.

    ``calibration``: model inputs (a tensor, or an iterable of tensors / argument tuples), needed
    for GPTQ and OWQ. All layers' statistics are gathered before any layer is swapped.
    """
    if not isinstance(config, LowBitConfig):
        raise TypeError(f"config must be a LowBitConfig, got {type(config).__name__}")
    layers = _linears(model)
    for name, lin in layers:
        _check_layer(name, lin, config)
    H = {}
    if config.needs_calibration:
        if calibration is None:
            raise ValueError(f"method={config.method!r} with outlier_columns={config.outlier_columns} "
                             "needs calibration inputs")
        H = collect_hessians(model, calibration, [n for n, _ in layers])
    for name, lin in layers:
        w = lin.weight
        idx = None
        if config.outlier_columns:
            idx = owq_select_columns(w, torch.diag(H[name]), config.bits, config.group_size, config.outlier_columns)
        if config.method == "gptq":
            qw = gptq_quantize(w, H[name], config.bits, config.group_size, damp_percent=config.damp_percent,
                               block_size=config.block_size, outlier_idx=idx)
        else:
            qw = rtn_quantize(w, config.bits, config.group_size, outlier_idx=idx)
        new = LowBitLinear.from_quantized(qw, lin.bias).to(w.device)
        _swap(model, name, new)
    return model


def prepare_lowbit_(model: nn.Module, config: LowBitConfig) -> nn.Module:
    """Swap every ``nn.Linear`` for an empty LowBitLinear of the same shape, ready for load_state_dict."""
    if not isinstance(config, LowBitConfig):
        raise TypeError(f"config must be a LowBitConfig, got {type(config).__name__}")
    for name, lin in _linears(model):
        _check_layer(name, lin, config)
        new = LowBitLinear(lin.in_features, lin.out_features, config.bits, config.group_size,
                           config.outlier_columns, lin.bias is not None, dtype=lin.weight.dtype,
                           device=lin.weight.device)
        _swap(model, name, new)
    return model
