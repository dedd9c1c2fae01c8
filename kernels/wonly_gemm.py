"""
Weight-only W4 / W3 / W2 x A16 GEMM in Triton, with OWQ's fp16 outlier columns; and W8A8
=========================================================================================

y = x W^T for a weight in the packed format of kernels/lowbit_format.py (written by the
quantisers of kernels/lowbit.py): packed ``bits``-bit codes with a scale and a zero point per
output row and group of ``group_size`` input columns, plus (OWQ) a few input columns kept in
fp16. Activations are fp16, bf16 or fp32; accumulation is fp32. The file reads top to bottom:
why, the kernel, tuning, the launcher, the torch reference, W8A8, op/byte counts.

Why weight-only
---------------
At decode batch sizes (M = 1..16) a linear layer is bound by streaming its weights from memory:
bf16 costs 2 bytes per weight, W4 0.5 + group parameters (3 bytes per group of 128: 0.023), W3
0.375, W2 0.25. The arithmetic stays in 16-bit floats on the tensor cores; the weights are
unpacked and dequantised in registers, tile by tile, after the load. (Marlin reports close to the
ideal 3.87x over fp16 for W4 up to batch 16-32.)

The kernel
----------
A program owns a BLOCK_M x BLOCK_N tile of y and walks K in steps of BLOCK_K. Per step it loads
the activation tile, the packed words covering BLOCK_K codes of BLOCK_N outputs (word k*bits//32
of each code's stream, and for 3 bits the next word too, because codes 10 and 21 of every 32
straddle two words), shifts each code out, subtracts the group's zero point, multiplies by its
scale, casts to the activation dtype and feeds ``tl.dot`` with an fp32 accumulator. When BLOCK_K
divides the group size a step lies inside one group and reads one row of scales and zeros;
otherwise each k reads its own group's.

OWQ's fp16 columns: their codes equal the zero point, so the dense loop adds exactly 0 for them;
after it, a second small loop gathers the activations at the outlier indices (BLOCK_O at a time)
and adds x[:, idx] @ outlier_weight, an fp32 dot, into the same accumulator, in the same
program: the outliers cost n_out * N * 2 bytes more and no second launch.

Tolerances (kernel vs :func:`wonly_gemm_reference`, float64 over the dequantised weights)
-----------------------------------------------------------------------------------------
Dequantised weights (code - zero) * scale are exact in fp32 (|code - zero| < 16, fp16 scale). The
kernel then rounds them to the activation dtype for the tensor cores (relative u_in: fp16 2^-11,
bf16 2^-8, fp32 0: the fp32 path keeps them and uses ``input_precision="ieee"``); products and
sums are fp32 in an order different from the reference's (gamma_n with n ~ K + n_out + 2, u =
2^-24); the output is rounded once to its dtype (u_out). So, elementwise,

    |y - ref| <= (u_in + (K + n_out + 2) 2^-24) * (|x| @ |W_dq|^T) + u_out * |ref|

which :func:`wonly_tolerance` computes and the tests assert. (In the interpreter bf16 ``tl.dot``
is unreliable (DESIGN.md), so there 16-bit tiles are widened to fp32 and dotted in ieee fp32:
the u_in term still covers the weight rounding, which happens before the widening. The
interpreter also casts fp32 -> bf16 by truncation, not rounding, so there u for bf16 is doubled.)

W8A8
----
:func:`w8a8_gemm`: int8 activations with one scale per row (token), int8 weights with one scale
per output channel; the integer product is kernels.int8_gemm (exact int32), then
y = acc * x_scale[m] * w_scale[n] in fp32. The reference does the same scaling on
int8_gemm_reference's exact product, in the same order, so the two agree exactly.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from kernels._triton_env import CPU_LAUNCH_OK, TRITON_INTERPRET, tl, triton
from kernels._validate import max_element_offset
from kernels.int8_gemm import int8_gemm, int8_gemm_reference
from kernels.lowbit_format import check_bits, check_group_size, packed_words, unpack_codes

__all__ = [
    "W8A8Ops",
    "WonlyGemmOps",
    "count_w8a8_ops",
    "count_wonly_ops",
    "quantize_per_row_int8",
    "w8a8_gemm",
    "w8a8_gemm_reference",
    "wonly_gemm",
    "wonly_gemm_reference",
    "wonly_tolerance",
]

ACTIVATIONS = (torch.float16, torch.bfloat16, torch.float32)
#: unit roundoff of the tensor-core input / output dtypes (half an ulp at 1)
UNIT_ROUNDOFF = {torch.float16: 2.0**-11, torch.bfloat16: 2.0**-8, torch.float32: 2.0**-24}

# %%
# The compute kernel
# ------------------


@triton.jit
def wonly_gemm_kernel(
    x_ptr, q_ptr, s_ptr, z_ptr, oi_ptr, ow_ptr, y_ptr,
    M, N, K, N_OUT, GROUP, QWORDS,
    stride_xm, stride_xk,
    stride_qw, stride_qn,
    stride_sg, stride_sn,
    stride_zg, stride_zn,
    stride_owo, stride_own,
    stride_ym, stride_yn,
    BITS: tl.constexpr, ONE_GROUP_PER_STEP: tl.constexpr, DOT_FP32: tl.constexpr,
    BLOCK_M: tl.constexpr, BLOCK_N: tl.constexpr, BLOCK_K: tl.constexpr, BLOCK_O: tl.constexpr,
):
    pid_m = tl.program_id(axis=0)
    pid_n = tl.program_id(axis=1)
    offs_m = pid_m * BLOCK_M + tl.arange(0, BLOCK_M)
    offs_n = pid_n * BLOCK_N + tl.arange(0, BLOCK_N)
    m_mask = offs_m < M
    n_mask = offs_n < N
    MASK: tl.constexpr = (1 << BITS) - 1
    # straddling codes exist only when BITS does not divide 32 (3 bits)
    STRADDLE: tl.constexpr = (32 % BITS) != 0

    acc = tl.zeros((BLOCK_M, BLOCK_N), dtype=tl.float32)
    for k0 in range(0, K, BLOCK_K):
        offs_k = k0 + tl.arange(0, BLOCK_K)
        k_mask = offs_k < K
        x = tl.load(x_ptr + offs_m[:, None] * stride_xm + offs_k[None, :] * stride_xk,
                    mask=m_mask[:, None] & k_mask[None, :], other=0.0)

        # -- unpack: code k of output n is bits [k*BITS, (k+1)*BITS) of column n's bit stream --
        pos = offs_k * BITS
        word = pos // 32
        shift = (pos % 32).to(tl.uint32)
        wq_mask = k_mask[:, None] & n_mask[None, :]
        lo = tl.load(q_ptr + word[:, None] * stride_qw + offs_n[None, :] * stride_qn, mask=wq_mask, other=0)
        code = (lo.to(tl.uint32, bitcast=True) >> shift[:, None]) & MASK
        if STRADDLE:
            # the high bits of a code crossing a word edge come from the next word's low bits
            spill = (pos % 32) > (32 - BITS)
            hi = tl.load(q_ptr + (word[:, None] + 1) * stride_qw + offs_n[None, :] * stride_qn,
                         mask=wq_mask & spill[:, None] & ((word[:, None] + 1) < QWORDS), other=0)
            up = tl.where(spill, 32 - shift, 0).to(tl.uint32)
            code = code | ((hi.to(tl.uint32, bitcast=True) << up[:, None]) & MASK)

        # -- dequantise with the group's scale and zero point -----------------------------------
        if ONE_GROUP_PER_STEP:
            grp = k0 // GROUP
            scale = tl.load(s_ptr + grp * stride_sg + offs_n * stride_sn, mask=n_mask, other=0.0).to(tl.float32)
            zero = tl.load(z_ptr + grp * stride_zg + offs_n * stride_zn, mask=n_mask, other=0).to(tl.float32)
            w = (code.to(tl.float32) - zero[None, :]) * scale[None, :]
        else:
            grp = offs_k // GROUP
            scale = tl.load(s_ptr + grp[:, None] * stride_sg + offs_n[None, :] * stride_sn,
                            mask=wq_mask, other=0.0).to(tl.float32)
            zero = tl.load(z_ptr + grp[:, None] * stride_zg + offs_n[None, :] * stride_zn,
                           mask=wq_mask, other=0).to(tl.float32)
            w = (code.to(tl.float32) - zero) * scale

        if DOT_FP32:
            # fp32 activations, or the interpreter: round w to x's dtype first (what the GPU's
            # 16-bit dot sees), then an exact-input fp32 dot
            w = w.to(x.dtype).to(tl.float32)
            acc = tl.dot(x.to(tl.float32), w, acc, input_precision="ieee")
        else:
            acc = tl.dot(x, w.to(x.dtype), acc)

    # -- OWQ: the fp16 outlier columns, a second small dot into the same accumulator -----------
    for o0 in range(0, N_OUT, BLOCK_O):
        offs_o = o0 + tl.arange(0, BLOCK_O)
        o_mask = offs_o < N_OUT
        idx = tl.load(oi_ptr + offs_o, mask=o_mask, other=0)
        xo = tl.load(x_ptr + offs_m[:, None] * stride_xm + idx[None, :] * stride_xk,
                     mask=m_mask[:, None] & o_mask[None, :], other=0.0).to(tl.float32)
        wo = tl.load(ow_ptr + offs_o[:, None] * stride_owo + offs_n[None, :] * stride_own,
                     mask=o_mask[:, None] & n_mask[None, :], other=0.0).to(tl.float32)
        acc = tl.dot(xo, wo, acc, input_precision="ieee")

    y_ptrs = y_ptr + offs_m[:, None] * stride_ym + offs_n[None, :] * stride_yn
    tl.store(y_ptrs, acc.to(y_ptr.dtype.element_ty), mask=m_mask[:, None] & n_mask[None, :])


# %%
# Tuning
# ------
# Decode batches want a small BLOCK_M (tl.dot needs >= 16) and many programs along N to keep
# every SM streaming weights; larger batches want bigger tiles. Untuned on hardware: no GPU was
# at hand when this was written; the autotuner picks among these per (M, N, K, BITS).


def _gpu_configs() -> list:
    def cfg(bm, bn, bk, stages, warps):
        return triton.Config({"BLOCK_M": bm, "BLOCK_N": bn, "BLOCK_K": bk}, num_stages=stages, num_warps=warps)

    return [
        cfg(16, 64, 128, 4, 4), cfg(16, 128, 128, 4, 4), cfg(16, 256, 64, 3, 8),
        cfg(32, 128, 128, 4, 4), cfg(64, 128, 64, 4, 4), cfg(128, 128, 64, 3, 8),
        cfg(128, 256, 64, 3, 8),
    ]


def _prune_configs(configs, named_args, **kwargs):
    M = named_args["M"]
    kept = [c for c in configs if c.kwargs["BLOCK_M"] <= max(16, 2 * M)]
    return kept or configs


def _quick_bench(kernel_call, quantiles):
    from triton.testing import do_bench

    return do_bench(kernel_call, warmup=5, rep=25, quantiles=quantiles)


wonly_gemm_kernel_autotuned = triton.autotune(
    configs=_gpu_configs(), key=["M", "N", "K", "N_OUT", "GROUP", "BITS"],
    prune_configs_by={"early_config_prune": _prune_configs}, do_bench=_quick_bench,
)(wonly_gemm_kernel)

# Small fixed tiles in the interpreter (every program is Python): still crosses tile edges.
INTERPRETER_CONFIG = {"BLOCK_M": 16, "BLOCK_N": 16, "BLOCK_K": 32}

# As in kernels/int8_gemm.py: small problems are bound by launch latency, and autotuning each new
# small shape (a compilation per config) would dominate a test suite of odd shapes.
SMALL_PROBLEM_MACS = 2**24
SMALL_GPU_CONFIG = {"BLOCK_M": 16, "BLOCK_N": 64, "BLOCK_K": 64, "num_warps": 4, "num_stages": 2}
BLOCK_O = 16


# %%
# The launcher
# ------------


def check_wonly_operands(x, qweight, scales, zeros, bits, group_size, outlier_idx=None, outlier_weight=None):
    """Check the operands (layout of kernels/lowbit_format.py); return (M, N, K, n_out)."""
    for name, t in (("x", x), ("qweight", qweight), ("scales", scales), ("zeros", zeros)):
        if not isinstance(t, torch.Tensor):
            raise TypeError(f"{name} must be a torch.Tensor, got {type(t).__name__}")
    if x.dtype not in ACTIVATIONS:
        raise TypeError(f"x must be float16, bfloat16 or float32, got {x.dtype}")
    if x.dim() != 2:
        raise ValueError(f"x must be a 2-D (M, K) matrix, got shape {tuple(x.shape)}")
    check_bits(bits)
    M, K = x.shape
    if K == 0:
        raise ValueError("K (x's columns) must be positive")
    g = check_group_size(group_size, K)
    if qweight.dtype != torch.int32 or qweight.dim() != 2:
        raise TypeError(f"qweight must be a 2-D int32 (words, N) tensor, got {qweight.dtype} of shape {tuple(qweight.shape)}")
    words, N = qweight.shape
    if words != packed_words(K, bits):
        raise ValueError(f"qweight has {words} words per output, K = {K} at {bits} bits needs {packed_words(K, bits)}")
    G = K // g
    if scales.dtype != torch.float16 or tuple(scales.shape) != (G, N):
        raise ValueError(f"scales must be float16 of shape (K/group_size, N) = {(G, N)}, got {scales.dtype} {tuple(scales.shape)}")
    if zeros.dtype != torch.uint8 or tuple(zeros.shape) != (G, N):
        raise ValueError(f"zeros must be uint8 of shape (K/group_size, N) = {(G, N)}, got {zeros.dtype} {tuple(zeros.shape)}")
    if (outlier_idx is None) != (outlier_weight is None):
        raise ValueError("outlier_idx and outlier_weight go together: give both or neither")
    n_out = 0
    if outlier_idx is not None:
        if not isinstance(outlier_idx, torch.Tensor) or outlier_idx.dtype != torch.int32 or outlier_idx.dim() != 1:
            raise TypeError("outlier_idx must be a 1-D int32 tensor of input-column indices")
        n_out = outlier_idx.numel()
        if not isinstance(outlier_weight, torch.Tensor) or outlier_weight.dtype != torch.float16 \
                or tuple(outlier_weight.shape) != (n_out, N):
            raise ValueError(f"outlier_weight must be float16 of shape (n_out, N) = {(n_out, N)}")
        if n_out and (int(outlier_idx.min()) < 0 or int(outlier_idx.max()) >= K):
            raise ValueError(f"outlier_idx must lie in 0..K-1 = 0..{K - 1}")
    tensors = [x, qweight, scales, zeros] + ([outlier_idx, outlier_weight] if outlier_idx is not None else [])
    if len({t.device for t in tensors}) != 1:
        raise ValueError(f"all operands must be on one device, got {sorted({str(t.device) for t in tensors})}")
    return M, N, K, n_out


def _check_device(x: torch.Tensor, fn: str) -> None:
    kind = x.device.type
    if kind == "cpu" and not CPU_LAUNCH_OK:
        raise RuntimeError(
            "the operands are on cpu but TRITON_INTERPRET=1 is not set: the compiled Triton kernel "
            "needs CUDA tensors; move them to CUDA, or set TRITON_INTERPRET=1 before triton is imported"
        )
    if kind not in ("cuda", "cpu"):
        raise ValueError(f"the operands are on {x.device}; {fn} runs on cuda (or on cpu under TRITON_INTERPRET=1)")


def wonly_gemm(x: torch.Tensor, qweight: torch.Tensor, scales: torch.Tensor, zeros: torch.Tensor,
               bits: int, group_size: int | None, outlier_idx: torch.Tensor | None = None,
               outlier_weight: torch.Tensor | None = None, *, out_dtype: torch.dtype | None = None) -> torch.Tensor:
    """y = x W^T (M, N) for low-bit W in kernels/lowbit_format.py's packed layout; fp32 accumulation.

    ``x`` (M, K) fp16/bf16/fp32; output dtype ``out_dtype`` (default x.dtype; float32 keeps the
    accumulator's precision). OWQ's ``outlier_idx`` (n_out,) int32 / ``outlier_weight``
    (n_out, N) fp16 are optional.
    """
    M, N, K, n_out = check_wonly_operands(x, qweight, scales, zeros, bits, group_size, outlier_idx, outlier_weight)
    g = check_group_size(group_size, K)
    _check_device(x, "wonly_gemm")
    out_dtype = x.dtype if out_dtype is None else out_dtype
    if out_dtype not in ACTIVATIONS:
        raise TypeError(f"out_dtype must be float16, bfloat16 or float32, got {out_dtype}")
    y = torch.empty((M, N), dtype=out_dtype, device=x.device)
    if outlier_idx is None or n_out == 0:
        # a valid pointer for the (never executed) outlier loop
        outlier_idx = torch.zeros(1, dtype=torch.int32, device=x.device)
        outlier_weight = torch.zeros((1, max(N, 1)), dtype=torch.float16, device=x.device)
    for name, t in (("x", x), ("qweight", qweight), ("y", y)):
        if max_element_offset(t) > 2**31 - 1:
            raise ValueError(f"{name} spans more than 2**31-1 elements; wonly_gemm indexes with int32 offsets")
    if M == 0 or N == 0:
        return y
    args = (
        x, qweight, scales, zeros, outlier_idx, outlier_weight, y,
        M, N, K, n_out, g, qweight.shape[0],
        x.stride(0), x.stride(1), qweight.stride(0), qweight.stride(1),
        scales.stride(0), scales.stride(1), zeros.stride(0), zeros.stride(1),
        outlier_weight.stride(0), outlier_weight.stride(1), y.stride(0), y.stride(1),
    )

    def grid(meta):
        return (triton.cdiv(M, meta["BLOCK_M"]), triton.cdiv(N, meta["BLOCK_N"]))

    if TRITON_INTERPRET:
        cfg = INTERPRETER_CONFIG
        wonly_gemm_kernel[grid](*args, BITS=bits, ONE_GROUP_PER_STEP=g % cfg["BLOCK_K"] == 0, DOT_FP32=True,
                                BLOCK_O=BLOCK_O, **cfg)
    else:
        # ONE_GROUP_PER_STEP depends on BLOCK_K, which the autotuner picks: the configs' BLOCK_K
        # are 64 and 128, so a group size divisible by 128 qualifies for all of them
        consts = {"BITS": bits, "DOT_FP32": x.dtype == torch.float32, "BLOCK_O": BLOCK_O}
        with torch.cuda.device(x.device):
            if M * N * K <= SMALL_PROBLEM_MACS:
                wonly_gemm_kernel[grid](*args, **consts, ONE_GROUP_PER_STEP=g % SMALL_GPU_CONFIG["BLOCK_K"] == 0,
                                        **SMALL_GPU_CONFIG)
            else:
                wonly_gemm_kernel_autotuned[grid](*args, **consts, ONE_GROUP_PER_STEP=g % 128 == 0)
    return y


# %%
# The reference
# -------------


def dequantize_packed(qweight, scales, zeros, bits, group_size, K, outlier_idx=None, outlier_weight=None):
    """The (N, K) float32 weight the packed operands stand for (outlier columns included)."""
    g = check_group_size(group_size, K)
    codes = unpack_codes(qweight, bits, K).float()
    w = (codes - zeros.T.float().repeat_interleave(g, dim=1)) * scales.T.float().repeat_interleave(g, dim=1)
    if outlier_idx is not None and outlier_idx.numel():
        w[:, outlier_idx.long()] += outlier_weight.T.float()  # their dense part is 0
    return w


def wonly_gemm_reference(x, qweight, scales, zeros, bits, group_size, outlier_idx=None, outlier_weight=None):
    """y = x W^T in float64 over the dequantised weight, returned as float32 (the kernel's target)."""
    M, N, K, _ = check_wonly_operands(x, qweight, scales, zeros, bits, group_size, outlier_idx, outlier_weight)
    w = dequantize_packed(qweight, scales, zeros, bits, group_size, K, outlier_idx, outlier_weight)
    return (x.to(torch.float64) @ w.to(torch.float64).T).to(torch.float32)


def _unit_roundoff(dtype: torch.dtype) -> float:
    # Triton 3.6's interpreter casts fp32 -> bf16 by truncation, not round-to-nearest (measured:
    # relative error up to 2^-7 = one full bf16 ulp), so there its bf16 roundings cost twice u.
    if dtype == torch.bfloat16 and TRITON_INTERPRET:
        return 2 * UNIT_ROUNDOFF[dtype]
    return UNIT_ROUNDOFF[dtype]


def wonly_tolerance(x, qweight, scales, zeros, bits, group_size, outlier_idx=None, outlier_weight=None,
                    out_dtype=None) -> torch.Tensor:
    """Elementwise bound on |wonly_gemm - reference| (module docstring): float64 (M, N)."""
    M, N, K, n_out = check_wonly_operands(x, qweight, scales, zeros, bits, group_size, outlier_idx, outlier_weight)
    w = dequantize_packed(qweight, scales, zeros, bits, group_size, K, outlier_idx, outlier_weight)
    mag = x.to(torch.float64).abs() @ w.to(torch.float64).abs().T
    ref = (x.to(torch.float64) @ w.to(torch.float64).T).abs()
    u_in = _unit_roundoff(x.dtype) if x.dtype != torch.float32 else 0.0
    u_out = _unit_roundoff(out_dtype or x.dtype)
    return (u_in + (K + n_out + 2) * 2.0**-24) * mag + u_out * ref


# %%
# W8A8: int8 x int8 with per-row and per-channel scales
# -----------------------------------------------------


def quantize_per_row_int8(t: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Symmetric int8 per row: (q (R, C) int8, scale (R,) float32) with t ~ q * scale[:, None]."""
    if not isinstance(t, torch.Tensor) or not t.dtype.is_floating_point or t.dim() != 2:
        raise TypeError("t must be a 2-D floating-point tensor")
    amax = t.detach().float().abs().amax(dim=1)
    scale = torch.where(amax > 0, amax / 127, torch.ones_like(amax))
    q = torch.clamp(torch.round(t.float() / scale[:, None]), -127, 127).to(torch.int8)
    return q, scale


def _check_w8a8_scales(x_scale, w_scale, M, N, device):
    for name, s, n in (("x_scale", x_scale, M), ("w_scale", w_scale, N)):
        if not isinstance(s, torch.Tensor) or s.dtype != torch.float32 or tuple(s.shape) != (n,):
            raise ValueError(f"{name} must be a float32 tensor of shape ({n},)")
        if s.device != device:
            raise ValueError(f"{name} must be on the operands' device {device}, got {s.device}")


def w8a8_gemm(x_q: torch.Tensor, w_q: torch.Tensor, x_scale: torch.Tensor, w_scale: torch.Tensor) -> torch.Tensor:
    """y = (x_q @ w_q) * x_scale[:, None] * w_scale[None, :], float32 (M, N).

    ``x_q`` (M, K) int8 with a scale per row (token), ``w_q`` (K, N) int8 with a scale per output
    channel; the integer product is kernels.int8_gemm (exact int32).
    """
    acc = int8_gemm(x_q, w_q)
    _check_w8a8_scales(x_scale, w_scale, *acc.shape, acc.device)
    return acc.to(torch.float32) * x_scale[:, None] * w_scale[None, :]


def w8a8_gemm_reference(x_q, w_q, x_scale, w_scale) -> torch.Tensor:
    acc = int8_gemm_reference(x_q, w_q)
    _check_w8a8_scales(x_scale, w_scale, *acc.shape, acc.device)
    return acc.to(torch.float32) * x_scale[:, None] * w_scale[None, :]


# %%
# Operation and byte counts
# -------------------------
# For the energy model and the benchmark's bandwidth figure. Ideal traffic: every operand read
# once, the output written once. Dequantisation is counted once per weight (unpack, subtract the
# zero point, multiply by the scale); a tiled kernel repeats it per BLOCK_M tile of activations.


@dataclass(frozen=True)
class WonlyGemmOps:
    M: int
    N: int
    K: int
    bits: int
    group_size: int
    n_outliers: int
    macs: int  # dense M N K plus M N n_out outlier MACs
    dequant_ops: int  # N K x (unpack, subtract, multiply)
    weight_bytes: int  # packed codes
    group_param_bytes: int  # fp16 scale + uint8 zero per group and output
    outlier_bytes: int  # fp16 columns + int32 indices
    bytes_moved: int

    @property
    def flops(self) -> int:
        return 2 * self.macs

    @property
    def bits_per_weight(self) -> float:
        return 8 * (self.weight_bytes + self.group_param_bytes + self.outlier_bytes) / (self.N * self.K)


def count_wonly_ops(M: int, N: int, K: int, bits: int, group_size: int, n_outliers: int = 0,
                    act_bytes: int = 2, out_bytes: int = 2) -> WonlyGemmOps:
    for name, v in (("M", M), ("N", N), ("K", K), ("n_outliers", n_outliers), ("act_bytes", act_bytes),
                    ("out_bytes", out_bytes)):
        if isinstance(v, bool) or not isinstance(v, int) or v < 0:
            raise ValueError(f"{name} must be a non-negative int, got {v!r}")
    check_bits(bits)
    g = check_group_size(group_size, K) if K else 1
    weight = 4 * N * packed_words(K, bits)
    params = (2 + 1) * N * (K // g if K else 0)
    outl = n_outliers * (2 * N + 4)
    return WonlyGemmOps(
        M=M, N=N, K=K, bits=bits, group_size=g, n_outliers=n_outliers,
        macs=M * N * (K + n_outliers), dequant_ops=3 * N * K,
        weight_bytes=weight, group_param_bytes=params, outlier_bytes=outl,
        bytes_moved=weight + params + outl + act_bytes * M * K + out_bytes * M * N,
    )


@dataclass(frozen=True)
class W8A8Ops:
    M: int
    N: int
    K: int
    macs: int
    scale_muls: int  # two per output
    bytes_moved: int

    @property
    def ops(self) -> int:
        return 2 * self.macs


def count_w8a8_ops(M: int, N: int, K: int) -> W8A8Ops:
    """int8 x int8 MACs, two scale multiplies per output, int8 operands + fp32 scales and output."""
    for name, v in (("M", M), ("N", N), ("K", K)):
        if isinstance(v, bool) or not isinstance(v, int) or v < 0:
            raise ValueError(f"{name} must be a non-negative int, got {v!r}")
    return W8A8Ops(M=M, N=N, K=K, macs=M * N * K, scale_muls=2 * M * N,
                   bytes_moved=M * K + K * N + 4 * (M + N) + 4 * M * N)


# %%
# A quick self-check: ``python -m kernels.wonly_gemm``.
if __name__ == "__main__":
    from kernels.lowbit_format import pack_codes

    torch.manual_seed(0)
    device = "cpu" if TRITON_INTERPRET else "cuda"
    codes, zeros = torch.randint(0, 8, (40, 96)), torch.randint(0, 8, (3, 40))  # W3, groups of 32
    codes[:, [5, 70]] = zeros[[0, 2]].T  # OWQ columns 5 and 70: dense part 0, kept in fp16
    ops = {"qweight": pack_codes(codes, 3), "scales": (torch.rand(3, 40) / 8 + 0.01).half(),
           "zeros": zeros.to(torch.uint8), "outlier_idx": torch.tensor([5, 70], dtype=torch.int32),
           "outlier_weight": torch.randn(2, 40).half()}
    ops = {k: v.to(device) for k, v in ops.items()}
    x = torch.randn(3, 96).to(device)
    args = (x, ops["qweight"], ops["scales"], ops["zeros"], 3, 32, ops["outlier_idx"], ops["outlier_weight"])
    ok = bool(((wonly_gemm(*args).double() - wonly_gemm_reference(*args).double()).abs() <= wonly_tolerance(*args)).all())
    print(f"wonly_gemm W3 3x40x96 on {device}: {'within tolerance of' if ok else 'DIFFERS FROM'} the reference")
