"""
Binary-coded GEMM on the tensor cores: unpack the sign planes, ``tl.dot``, fp32 accumulation
============================================================================================

The same weight format as kernels/lut_gemm.py (kernels/bcq.py: q sign planes packed 8 columns to a
byte, bit t of byte kb is column 8*kb + t, 1 = +1; scales alpha (q, N, K/g)), the same answer
(:func:`kernels.lut_gemm.lut_gemm_reference`), a different machine. The LUT kernel replaces
multiplications by table reads, one per activation row, plane, output row and weight byte: its
work grows with the batch M, while the weights are streamed once. The tensor cores do a dense
M x N x K product at hundreds of TFLOP/s, so once the batch is large enough to make the GEMM
compute bound, unpacking the bits into +-1 and running a real matmul wins. This file is that path;
kernels/bcq_gemm.py picks between the two by batch size, and bench/test_bench_bcq_paths.py
measures where the tensor cores overtake the tables.

The kernel
----------
A program owns a BLOCK_M x BLOCK_N tile of y and walks K in steps of BLOCK_K. Per step it loads
the activation tile and, per plane, the BLOCK_K / 8 bytes of each of BLOCK_N output rows (each
byte loaded once), spreads each byte's 8 bits along a new axis and reshapes, so that row k of the
tile is bit k % 8 of byte k // 8: the format's column order, matching x's. Then one of two things,
chosen at compile time:

* **dequantise** (float activations, the default): w[k, n] = sum_i (bit ? +alpha_i : -alpha_i)
  in fp32 registers, rounded once to the activation dtype, and ONE ``tl.dot`` per step with an
  fp32 accumulator. The tensor cores do exactly the work of a dense GEMM of that shape; the
  unpacking costs q selects and adds per weight per BLOCK_M rows of activations.
* **plane dots** (int8 activations always; float on request): per plane, ``tl.dot`` of the
  activations with the +-1 plane itself (exact operands: int8 +-1 for int8 x, x's dtype for float
  x), and the partial product scaled by that plane's alpha of the current group:
  acc += (x @ B_i) * alpha_i. A step must then lie inside one group (BLOCK_K divides group_size)
  and the tensor cores do q times a dense GEMM's work: the price of exactness. For int8 x with
  int32 scales everything is int32 and the result equals the reference bit for bit. (sm_90's int8
  MMA needs 32 columns per dot; a 16-column step, for groups that are an odd multiple of 16, dots
  the int8 values and the +-1 signs as fp16 instead: both exact, and each dot's 16-term sum,
  at most 2048 in magnitude, is exact in its fp32 result.)

Exactness and tolerance (kernel vs :func:`kernels.lut_gemm.lut_gemm_reference`)
--------------------------------------------------------------------------------
Integer path: int8 x int8 products, int32 dot accumulation, int32 scale products and sums. Every
partial sum is bounded by q * K * 128 * max|alpha|, which the launcher requires to fit in int32
(the LUT launcher's bound and message); integer addition is associative, so below it the result is
exact whatever the tile order.

Float path, elementwise, with A = |x| @ (sum_i |alpha_i|)^T the magnitude of the terms:

    |y - ref| <= (u_in + (K + q + 2) * 2**-24) * A

u_in is the rounding of the dequantised weight to the dot's input dtype (fp16 2**-11, bf16 2**-8;
0 for plane dots, where +-1 and x are exact in that dtype, and for fp32 x, which is dotted in
"ieee" fp32); K + q + 2 covers the fp32 sums of the dot, of the q planes in w, and the scale
product (the gamma_n bound, n additions at unit roundoff 2**-24). :func:`bcq_tc_tolerance`
computes it. In Triton's interpreter bf16 ``tl.dot`` is unreliable (DESIGN.md), so there 16-bit
tiles are widened to fp32 and dotted in ieee fp32 (the rounding of w to the 16-bit dtype still
happens first, so u_in still covers it); the interpreter also casts fp32 -> bf16 by truncation,
so there bf16's u_in is doubled (as in kernels/wonly_gemm.py).

Operation and byte count: :func:`count_bcq_tc_ops` (end of file), for the energy model.
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass

import torch

from kernels._triton_env import CPU_LAUNCH_OK, TRITON_INTERPRET, tl, triton
from kernels._validate import max_element_offset
from kernels.bcq import MAX_Q, check_group_size
from kernels.lut_gemm import check_bcq_operands, check_int32_range

__all__ = [
    "TC_ACTIVATIONS",
    "BcqTcOps",
    "bcq_tc_gemm",
    "bcq_tc_tolerance",
    "check_bcq_tc_operands",
    "count_bcq_tc_ops",
    "tc_config",
]

#: activation dtypes of the tensor-core path (int8 -> exact integer path)
TC_ACTIVATIONS = (torch.int8, torch.float16, torch.bfloat16, torch.float32)
TC_FLOAT_SCALES = (torch.float16, torch.bfloat16, torch.float32)
#: unit roundoff (half an ulp at 1) of the dot's input dtype
UNIT_ROUNDOFF = {torch.float16: 2.0**-11, torch.bfloat16: 2.0**-8, torch.float32: 0.0}
#: tl.dot needs K >= 16 per step; a plane-dot step lies inside one group, so group_size % 16 == 0
MIN_DOT_K = 16
#: sm_90's int8 MMA needs K >= 32 per dot; integer plane dots with a 16-column step dot in fp16 (exact)
INT8_DOT_MIN_K = 32

# %%
# The compute kernel
# ------------------


@triton.jit
def _plane_bits(plane_ptr, offs_kb, kb_mask, offs_n, n_mask, stride_pk, stride_pn):
    """(BLOCK_K // 8, 8, BLOCK_N) int32 0/1: bit t of byte kb of each output row's plane.

    Each byte is loaded once and its 8 bits are spread along a new middle axis; reshaped to
    (BLOCK_K, BLOCK_N) that is row k = 8 kb + t, the format's column order."""
    byte = tl.load(plane_ptr + offs_kb[:, None] * stride_pk + offs_n[None, :] * stride_pn,
                   mask=kb_mask[:, None] & n_mask[None, :], other=0)
    return (byte.to(tl.int32)[:, None, :] >> tl.arange(0, 8)[None, :, None]) & 1


@triton.jit
def bcq_tc_gemm_kernel(
    x_ptr, p_ptr, s_ptr, y_ptr,
    M, N, K,
    stride_xm, stride_xk,
    stride_pq, stride_pn, stride_pk,
    stride_sq, stride_sn, stride_sg,
    stride_ym, stride_yn,
    GROUP: tl.constexpr, Q: tl.constexpr, PLANE_DOTS: tl.constexpr, INTEGER: tl.constexpr,
    DOT_FP32: tl.constexpr, INT_DOT_F16: tl.constexpr,
    BLOCK_M: tl.constexpr, BLOCK_N: tl.constexpr, BLOCK_K: tl.constexpr,
):
    # INTEGER: int8 x, int32 scales, int32 accumulation (always PLANE_DOTS). DOT_FP32: widen the
    # tiles to fp32 and dot in ieee fp32 (fp32 x, or any float x in the interpreter).
    # INT_DOT_F16 (integer, BLOCK_K = 16, compiled): sm_90's int8 MMA needs K >= 32, so a 16-column
    # step dots int8 x and +-1 as fp16 (both exact in fp16) into fp32: each dot sums 16 integers of
    # magnitude <= 128, at most 2048 < 2**24, so the fp32 result is the exact integer.
    ONE_GROUP: tl.constexpr = GROUP % BLOCK_K == 0  # each K step lies inside one group
    KB: tl.constexpr = BLOCK_K // 8  # bytes of sign bits per row, plane and step
    tl.static_assert(ONE_GROUP or not PLANE_DOTS, "plane dots need BLOCK_K to divide the group size")
    pid_m = tl.program_id(axis=0)
    pid_n = tl.program_id(axis=1)
    offs_m = pid_m * BLOCK_M + tl.arange(0, BLOCK_M)
    offs_n = pid_n * BLOCK_N + tl.arange(0, BLOCK_N)
    m_mask = offs_m < M
    n_mask = offs_n < N  # rows past N read byte 0 and scale 0, and are not stored
    if INTEGER:
        acc = tl.zeros((BLOCK_M, BLOCK_N), dtype=tl.int32)
    else:
        acc = tl.zeros((BLOCK_M, BLOCK_N), dtype=tl.float32)

    for k0 in range(0, K, BLOCK_K):
        offs_k = k0 + tl.arange(0, BLOCK_K)
        k_mask = offs_k < K  # a tail step: x is 0 there, so whatever sign the weight takes adds 0
        offs_kb = k0 // 8 + tl.arange(0, KB)
        kb_mask = offs_kb < K // 8
        x = tl.load(x_ptr + offs_m[:, None] * stride_xm + offs_k[None, :] * stride_xk,
                    mask=m_mask[:, None] & k_mask[None, :], other=0)
        if DOT_FP32:
            x = x.to(tl.float32)

        if PLANE_DOTS:
            grp = k0 // GROUP
            for i in tl.static_range(Q):
                bits = _plane_bits(p_ptr + i * stride_pq, offs_kb, kb_mask, offs_n, n_mask, stride_pk, stride_pn)
                alpha = tl.load(s_ptr + i * stride_sq + grp * stride_sg + offs_n * stride_sn, mask=n_mask, other=0)
                if INTEGER:
                    signs = tl.reshape((bits * 2 - 1).to(tl.int8), (BLOCK_K, BLOCK_N))
                    if INT_DOT_F16:
                        part = tl.dot(x.to(tl.float16), signs.to(tl.float16)).to(tl.int32)  # exact (above)
                    else:
                        part = tl.dot(x, signs)  # int32, exact
                    acc += part * alpha[None, :]
                else:
                    signs = tl.reshape((bits * 2 - 1).to(x.dtype), (BLOCK_K, BLOCK_N))  # +-1: exact
                    if DOT_FP32:
                        part = tl.dot(x, signs, input_precision="ieee")
                    else:
                        part = tl.dot(x, signs)
                    acc += part * alpha.to(tl.float32)[None, :]
        else:
            w = tl.zeros((KB, 8, BLOCK_N), dtype=tl.float32)
            for i in tl.static_range(Q):
                bits = _plane_bits(p_ptr + i * stride_pq, offs_kb, kb_mask, offs_n, n_mask, stride_pk, stride_pn)
                if ONE_GROUP:
                    alpha = tl.load(s_ptr + i * stride_sq + (k0 // GROUP) * stride_sg + offs_n * stride_sn,
                                    mask=n_mask, other=0).to(tl.float32)[None, None, :]
                else:  # a step spans several groups: each byte reads its own group's scale
                    alpha = tl.load(s_ptr + i * stride_sq + (offs_kb // (GROUP // 8))[:, None] * stride_sg
                                    + offs_n[None, :] * stride_sn,
                                    mask=kb_mask[:, None] & n_mask[None, :], other=0).to(tl.float32)[:, None, :]
                w += tl.where(bits != 0, alpha, -alpha)
            if DOT_FP32:
                # round w to x's own dtype first (what a 16-bit dot sees), then an exact-input dot
                w = tl.reshape(w.to(x_ptr.dtype.element_ty).to(tl.float32), (BLOCK_K, BLOCK_N))
                acc = tl.dot(x, w, acc, input_precision="ieee")
            else:
                acc = tl.dot(x, tl.reshape(w.to(x.dtype), (BLOCK_K, BLOCK_N)), acc)

    y_ptrs = y_ptr + offs_m[:, None] * stride_ym + offs_n[None, :] * stride_yn
    tl.store(y_ptrs, acc, mask=m_mask[:, None] & n_mask[None, :])


# %%
# Tuning
# ------
# One config per batch bucket, not an autotuner: the benchmark runs 18 (batch, q) cases inside a
# shared GPU time budget, and autotuning each would compile every candidate for each. Reasoning,
# not yet measurement (no GPU was at hand when this was written; retune TC_CONFIGS on one), held
# to what compiles for sm_90 without spills at q = 1..4 (bench/sm90.py, ptxas -v):
#
# * M <= 16 (decode): memory bound; BLOCK_M = 16 is tl.dot's minimum, BLOCK_N small so that
#   N = 28672 gives 448 programs to keep every SM streaming, BLOCK_K = 128 (16 bytes per row, plane
#   and step: one vector load), 8 warps and 3 stages. The dequantised (BLOCK_K, BLOCK_N) fp32
#   tile lives in registers: at BLOCK_K = 256 with 4 warps it took 255 registers and spilled
#   12-200 B (q = 2..4); at 128 with 8 warps it takes 73-128 registers for q = 1..4, int8 and
#   float, plane dots or not (4 warps: up to 184, and ptxas capped q = 2 plane dots at 128
#   registers with an 8 B spill).
# * M <= 64: 64 x 128 x 128 with 8 warps (139-145 registers; 4 warps at BLOCK_K = 64 reached 255).
# * larger: 128 x 128 x 64 with 8 warps, 131 KB -> 65 KB of shared memory (128 x 256 spilled
#   4-108 B at 255 registers: a 128 x 256 fp32 accumulator is 128 registers per thread already).
# * plane dots (int8 x always; float x on request) keep a second (BLOCK_M, BLOCK_N) tile, each
#   plane's partial product, beside the accumulator: above 16 rows they take TC_CONFIG_PLANE_DOTS
#   (128-row tiles spilled 572-964 B at 255 registers, 64 x 128 tiles 40-112 B at q = 4).
#
# (max batch of the bucket, BLOCK_M, BLOCK_N, BLOCK_K, num_warps, num_stages)
TC_CONFIGS = [
    (16, 16, 64, 128, 8, 3),
    (64, 64, 128, 128, 8, 3),
    (None, 128, 128, 64, 8, 3),
]
#: plane dots above 16 rows: (BLOCK_M, BLOCK_N, BLOCK_K, num_warps, num_stages); 94-180 registers, q = 1..4
TC_CONFIG_PLANE_DOTS = (64, 64, 128, 8, 3)

# fp32 activations take the ieee fp32 dot, which Triton lowers to FMA loops staged through shared
# memory: the tiles above would need 0.5 MB of it (measured by compiling for sm_90), so fp32 gets
# one small tile, (BLOCK_M, BLOCK_N, BLOCK_K, num_warps, num_stages), ~7 KB of shared memory and
# 147-168 registers (64 x 64 x 32 spilled 480-9,056 B).
TC_CONFIG_FP32 = (32, 64, 16, 4, 2)

# The interpreter runs each program in Python: small tiles, still crossing tile edges in tests.
INTERPRETER_TILE = (16, 16, 32)


def _next_pow2(n: int) -> int:
    return 1 << max(0, (n - 1).bit_length())


def tc_config(M: int, K: int, group_size: int, plane_dots: bool, interpret: bool = TRITON_INTERPRET,
              fp32: bool = False) -> dict:
    """The launch config for a batch of M rows: BLOCK_M/N/K (+ num_warps/num_stages on a GPU).

    ``fp32``: fp32 activations (the ieee fp32 dot) take TC_CONFIG_FP32 whatever the batch; plane
    dots above the decode bucket take TC_CONFIG_PLANE_DOTS.

    BLOCK_K is clamped to K (rounded up to a power of two, at least 16) and, for plane dots, halved
    until it divides the group size: each K step must then lie inside one group.
    """
    if interpret:
        bm, bn, bk = INTERPRETER_TILE
        cfg = {}
    elif fp32:
        bm, bn, bk, warps, stages = TC_CONFIG_FP32
        cfg = {"num_warps": warps, "num_stages": stages}
    else:
        for max_m, bm, bn, bk, warps, stages in TC_CONFIGS:
            if max_m is None or M <= max_m:
                break
        if plane_dots and M > TC_CONFIGS[0][0]:
            bm, bn, bk, warps, stages = TC_CONFIG_PLANE_DOTS
        cfg = {"num_warps": warps, "num_stages": stages}
    bk = min(bk, max(MIN_DOT_K, _next_pow2(K)))
    if plane_dots:
        while group_size % bk:
            bk //= 2
    return {"BLOCK_M": bm, "BLOCK_N": bn, "BLOCK_K": bk, **cfg}


# %%
# The launcher
# ------------


def check_bcq_tc_operands(x, packed, scales, group_size, plane_dots: bool = False,
                          tensor_cores: bool = True) -> tuple[int, int, int, int, bool]:
    """Check the operands (kernels/bcq.py layout); return (M, N, K, q, integer_path).

    ``tensor_cores=False`` checks the format only (for the other kernels of the same format):
    without it, plane dots (int8 x, or ``plane_dots``) also need group_size % 16 == 0.
    """
    def tensor_core_rule(integer: bool) -> None:
        if tensor_cores and (integer or plane_dots) and group_size % MIN_DOT_K:
            raise ValueError(
                f"group_size {group_size} must be a multiple of {MIN_DOT_K} for the tensor-core plane dots "
                f"({'int8 x always uses them' if integer else 'plane_dots=True'}): a tl.dot step spans at least "
                f"{MIN_DOT_K} columns of one group; use the LUT path (kernels.lut_gemm) for this group size"
            )

    return check_bcq_operands(x, packed, scales, group_size, float_activations=TC_ACTIVATIONS[1:],
                              float_scales=TC_FLOAT_SCALES, extra_check=tensor_core_rule)


def bcq_tc_gemm(x: torch.Tensor, packed: torch.Tensor, scales: torch.Tensor, group_size: int, *,
                plane_dots: bool = False, check_range: bool = True) -> torch.Tensor:
    """y = x W^T for binary-coded W on the tensor cores: int32 for int8 ``x``, fp32 otherwise.

    ``x`` (M, K) int8 / float16 / bfloat16 / float32; ``packed`` (q, N, K/8) uint8; ``scales``
    (q, N, K/g): int32 for int8 ``x`` (exact, plane dots), float16/bfloat16/float32 otherwise.
    ``plane_dots`` (float x): one dot per plane with exact +-1 operands instead of one dot on the
    dequantised weight (tighter tolerance, q times the tensor-core work). ``check_range`` (integer
    path) reads max|scales| to prove the int32 bound; pass False in timing loops where it is known.
    """
    M, N, K, q, integer = check_bcq_tc_operands(x, packed, scales, group_size, plane_dots)
    if not isinstance(plane_dots, bool):
        raise TypeError(f"plane_dots must be a bool, got {type(plane_dots).__name__}")
    kind = x.device.type
    if kind == "cpu" and not CPU_LAUNCH_OK:
        raise RuntimeError(
            "the operands are on cpu but TRITON_INTERPRET=1 is not set: the compiled Triton kernel "
            "needs CUDA tensors; move them to CUDA, or set TRITON_INTERPRET=1 before triton is imported"
        )
    if kind not in ("cuda", "cpu"):
        raise ValueError(f"the operands are on {x.device}; bcq_tc_gemm runs on cuda (or on cpu under TRITON_INTERPRET=1)")
    if integer and check_range:
        check_int32_range(q, K, scales)
    y = torch.empty((M, N), dtype=torch.int32 if integer else torch.float32, device=x.device)
    for name, t in (("x", x), ("packed", packed), ("scales", scales), ("y", y)):
        if max_element_offset(t) > 2**31 - 1:
            raise ValueError(f"{name} spans more than 2**31-1 elements; bcq_tc_gemm indexes with int32 offsets")
    if M == 0 or N == 0:
        return y

    plane = integer or plane_dots
    cfg = tc_config(M, K, group_size, plane, fp32=x.dtype == torch.float32)
    consts = {"GROUP": group_size, "Q": q, "PLANE_DOTS": plane, "INTEGER": integer,
              "DOT_FP32": (not integer) and (TRITON_INTERPRET or x.dtype == torch.float32),
              "INT_DOT_F16": integer and not TRITON_INTERPRET and cfg["BLOCK_K"] < INT8_DOT_MIN_K}
    args = (
        x, packed, scales, y, M, N, K,
        x.stride(0), x.stride(1),
        packed.stride(0), packed.stride(1), packed.stride(2),
        scales.stride(0), scales.stride(1), scales.stride(2),
        y.stride(0), y.stride(1),
    )
    grid = (triton.cdiv(M, cfg["BLOCK_M"]), triton.cdiv(N, cfg["BLOCK_N"]))
    if TRITON_INTERPRET:
        bcq_tc_gemm_kernel[grid](*args, **consts, **cfg)
    else:
        with torch.cuda.device(x.device) if x.is_cuda else contextlib.nullcontext():  # CPU: compile-only
            bcq_tc_gemm_kernel[grid](*args, **consts, **cfg)
    return y


# %%
# Tolerance
# ---------


def _unit_roundoff(dtype: torch.dtype) -> float:
    # Triton 3.6's interpreter casts fp32 -> bf16 by truncation, not round-to-nearest: one full
    # bf16 ulp (2^-7 relative) instead of half, measured in kernels/wonly_gemm.py's tests.
    if dtype == torch.bfloat16 and TRITON_INTERPRET:
        return 2 * UNIT_ROUNDOFF[dtype]
    return UNIT_ROUNDOFF[dtype]


def bcq_tc_tolerance(x: torch.Tensor, packed: torch.Tensor, scales: torch.Tensor, group_size: int, *,
                     plane_dots: bool = False) -> torch.Tensor:
    """Elementwise bound on |bcq_tc_gemm - lut_gemm_reference| for float x (module docstring): float64 (M, N)."""
    M, N, K, q, integer = check_bcq_tc_operands(x, packed, scales, group_size, plane_dots)
    if integer:
        return torch.zeros((M, N), dtype=torch.float64, device=x.device)  # exact
    w_abs = scales.to(torch.float64).abs().sum(0).repeat_interleave(group_size, dim=-1)  # (N, K)
    mag = x.to(torch.float64).abs() @ w_abs.T
    u_in = 0.0 if plane_dots else _unit_roundoff(x.dtype)
    return (u_in + (K + q + 2) * 2.0**-24) * mag


# %%
# Operation and byte count
# ------------------------
# What one GEMM does on this path, for the energy model and the benchmark's bandwidth figure. The
# unpacking is counted once per weight bit and BLOCK_M-row tile of activations (each program
# unpacks its own tile: M_tiles = ceil(M / block_m)); ``block_m`` defaults to the GPU config's.
# Ideal traffic: every operand moved once (x, the packed bits, the scales, y).


@dataclass(frozen=True)
class BcqTcOps:
    """Work and ideal traffic of one binary-coded GEMM on the tensor-core path."""

    M: int
    N: int
    K: int
    q: int
    group_size: int
    plane_dots: bool
    block_m: int
    bit_extracts: int  # shift + mask of one weight bit, per plane and activation tile
    dequant_selects: int  # +alpha or -alpha per bit (dequantise) / sign -> +-1 (plane dots)
    dequant_adds: int  # the q-term sums building w (dequantise only)
    dot_macs: int  # tensor-core multiply-accumulates: M N K (dequantise) or q M N K (plane dots)
    scale_muls: int  # plane dots: one per plane, output and K step (part * alpha)
    scale_adds: int  # ... each added into the accumulator
    bytes_moved: int

    @property
    def adds(self) -> int:
        return self.dequant_adds + self.scale_adds

    @property
    def dense_equivalent_flops(self) -> int:
        """2 M N K: what the same layer costs as a dense GEMM, for throughput figures."""
        return 2 * self.M * self.N * self.K


def count_bcq_tc_ops(M: int, N: int, K: int, q: int, group_size: int, *, plane_dots: bool = False,
                     block_m: int | None = None, block_k: int | None = None, act_bytes: int = 2,
                     scale_bytes: int = 2, out_bytes: int = 4) -> BcqTcOps:
    """Operation and byte counts of y = x W^T (x M x K, W N x K binary-coded, q planes) on this path.

    ``block_k`` (plane dots only: one scale multiply per K step) defaults to the GPU config's.
    """
    for name, v in (("M", M), ("N", N), ("K", K), ("q", q), ("act_bytes", act_bytes),
                    ("scale_bytes", scale_bytes), ("out_bytes", out_bytes)):
        if isinstance(v, bool) or not isinstance(v, int) or v < 0:
            raise ValueError(f"{name} must be a non-negative int, got {v!r}")
    if K % 8:
        raise ValueError(f"K = {K} must be a multiple of 8")
    if not 1 <= q <= MAX_Q:
        raise ValueError(f"q must be in 1..{MAX_Q}, got {q}")
    if K:
        check_group_size(group_size, K)
    cfg = tc_config(max(M, 1), max(K, 8), group_size, plane_dots, interpret=False)
    block_m = cfg["BLOCK_M"] if block_m is None else block_m
    block_k = cfg["BLOCK_K"] if block_k is None else block_k
    for name, v in (("block_m", block_m), ("block_k", block_k)):
        if isinstance(v, bool) or not isinstance(v, int) or v < 1:
            raise ValueError(f"{name} must be a positive int, got {v!r}")
    G = K // group_size if K else 0
    tiles = -(-M // block_m)
    bits = tiles * q * N * K  # each tile of activations unpacks every weight bit once
    steps = -(-K // block_k)
    return BcqTcOps(
        M=M, N=N, K=K, q=q, group_size=group_size, plane_dots=plane_dots, block_m=block_m,
        bit_extracts=bits,
        dequant_selects=bits,
        dequant_adds=0 if plane_dots else bits,
        dot_macs=(q if plane_dots else 1) * M * N * K,
        scale_muls=q * M * N * steps if plane_dots else 0,
        scale_adds=q * M * N * steps if plane_dots else 0,
        bytes_moved=M * K * act_bytes + q * N * (K // 8) + q * N * G * scale_bytes + M * N * out_bytes,
    )
