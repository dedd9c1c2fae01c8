"""
Weight-only W4 / W3 / W2 x A16 GEMM in Triton, with OWQ's fp16 outlier columns; and W8A8
=========================================================================================

y = x W^T for a weight in the packed format of kernels/lowbit_format.py (written by the
quantisers of kernels/lowbit.py): packed ``bits``-bit codes with a scale and a zero point per
output row and group of ``group_size`` input columns, plus (OWQ) a few input columns kept in
fp16. Activations are fp16, bf16 or fp32; accumulation is fp32. Two kernels: a GEMV / skinny
kernel for batches M <= 16 (decode), a tiled tensor-core GEMM for larger M; :func:`wonly_gemm`
dispatches, on the GPU and in the interpreter alike. The file reads top to bottom: why, the
tiled kernel and its tuning, the GEMV kernel and its plan, the launcher, the torch reference,
W8A8, op/byte counts.

Why weight-only
---------------
At decode batch sizes (M = 1..16) a linear layer is bound by streaming its weights from memory:
bf16 costs 2 bytes per weight, W4 0.5 + group parameters (3 bytes per group of 128: 0.023), W3
0.375, W2 0.25. The weights are unpacked and dequantised in registers after the load. (Marlin
reports close to the ideal 3.87x over fp16 for W4 up to batch 16-32.)

The small-batch path: the GEMV kernel (M <= 16)
-----------------------------------------------
As Marlin, GemLite and tinygemm do it: each packed word is loaded exactly once, unpacked in
registers, dequantised inside the multiply-add loop, and K is split across programs when N alone
does not fill the GPU.

* Units and loads. K is tiled in *units* of packed words: one int32 (8 W4 codes, 16 W2 codes)
  or, for W3, three words holding 32 codes (codes 10 and 21 straddle two words). A program owns
  BLOCK_N outputs and walks its K range BLOCK_U units per step; it loads each word once, as
  (units x BLOCK_N) tiles of int32 consecutive along N (qweight is stored (words, N)), so each
  thread issues 16-byte loads of 4 consecutive outputs.
* The pairs form (fp16 / bf16 activations, every step inside one group: any M <= 16; the
  benchmark's path). Two codes per instruction, as Marlin and FasterTransformer's converters do
  it, written in Triton (:func:`_pair_tile`): a word's two 16-bit halves hold codes at the same bit
  positions (W4: codes j and j+4; W2: j and j+8; W3: the same code of two of the four 24-bit
  windows its 96-bit unit is cut into, regrouped once per unit). One LOP3 per pair (an AND with
  both fields, an OR with the exponent of 2^E in both halves) leaves two 16-bit floats
  2^E + code * 2^pos; one packed FMA (HFMA2) per pair makes them code - zero, exactly. Fields
  that fit below bit E (7 for bf16, 10 for fp16) share one shift of the word. The weights are
  the dot's first operand (BLOCK_N rows, the mma's M; the batch padded to 16 is its N: a
  wgmma m64n16k16), dequantised in the operand's own register layout (no trip through shared
  memory: the FMA takes one scale and one offset per output, which is why the pairs are cut
  into parts by field position, one dot each), fp32 accumulation, then the scale once per
  output and step. The one instruction Triton cannot say, reading a uint32 as two 16-bit
  floats, is a register move in inline PTX (:func:`_halves`); the interpreter reads the same
  bits through fp32 instead, so every shift, mask, field position and FMA is checked on the CPU
  (tests/test_kernels_wonly_gemv.py: bit-exact on integer activations, bf16 and fp16).
* The per-code forms (fp32 activations, or groups that cut through a step). Unpacking without a
  shift per code: the exponent of float32 2^23 (0x4B000000) is ORed into a word once; one AND per
  code with (the code's field | those exponent bits) then leaves the float 2^23 + code * 2^sh
  exactly (sh: the field's bit position; one LOP3). Codes high in a word come from one shared
  shift of the word by 16 (W4, W2); W3 cuts the 96-bit unit into four 24-bit windows of 8 whole
  codes (two funnel shifts), so no field straddles and every field ends at or below bit 22.
  Subtracting 2^23 + zero * 2^sh (built the same way per group and output) gives
  (code - zero) * 2^sh, exactly.
  - M = 1, FMA form: x times that, fp32 FMA, summed over the step's units per code position; then
    2^-sh per position (exact) and the group's scale once per output and step. fp32 throughout,
    no rounding of the dequantised weight.
  - M = 2..16, dot form: (code - zero) = f 2^-sh - (2^(23-sh) + zero), one exact FMA per code,
    is exact in fp16 and bf16, so a 16-row tl.dot of the step (mma, fp32 accumulator) is followed
    by the scale once per output and step; fp32 activations use an ieee fp32 dot.
* Groups that cut through a step (or through a unit: W3 with groups of 24, per-channel groups
  that are no whole number of units, ...) make each code read its own group's scale and zero;
  the weight (code - zero) * scale is then rounded to the activation dtype for the dot (u_in).
* Split-K: cdiv(N, BLOCK_N) x split_k programs, split_k chosen so that each SM gets about
  PROGRAMS_PER_SM programs (132 SMs on H100 / H200: a 1 x 28672 x 8192 layer runs 112 x 5
  programs; ``split_k=`` forces it). With split_k > 1 each program writes its fp32 partial
  (split, M, N) and a second small kernel adds the partials in the fixed order s = 0, 1, ... and
  rounds once to the output dtype: deterministic, run to run (fp32 atomics would not be; this
  costs a launch, ~2-3 us, and 8 S M N bytes of traffic). The result depends on split_k (fp32
  sums in another order), so it is fixed per (device SM count, shape), not per call.
* OWQ: each split adds its share (cdiv(n_out, split_k)) of the fp16 outlier columns into its
  own partial: x[:, idx] times outlier_weight, exact products, fp32 (the dot form: fp16 x one
  fp16 dot; bf16 x the fp16 weights split exactly into two bf16 parts, hi + lo).

What a packed word costs, and what the path should reach (H200: HBM copy 4,243 GB/s measured;
bf16 GEMV reads its weights at 3,827 GB/s; 1 x 28672 x 8192, groups of 128):

    bits  weights/word  bytes/word (+ scale, zero)  B/weight  ideal vs bf16   target
    4      8            4 + 8 x 3/128  = 4.19        0.523     4.2x            3.3x
    3     10 2/3        4 + 32/3 x 3/128 = 4.25      0.398     5.6x            4.3x
    2     16            4 + 16 x 3/128 = 4.38        0.273     8.1x            6x

"Ideal" is the byte ratio at the two measured bandwidths: bf16 470 MB in 122.8 us against
W4 123 MB (29.0 us), W3 94 MB (22.1 us), W2 64 MB (15.1 us). Split-K adds 8 S N bytes (W4:
S = 5, 1.2 MB, 0.3 us) and the reduction's launch. The bytes are read once (each word by one
program, once), with 16-byte loads, two steps in flight per program (below).

The other bound is instruction issue, which the sm_90 compilations of the step loop count
(bench/sm90.py, ptxas 12.8, nvdisasm; bench/gpu_plan.py's WONLY_INSTR_PER_CODE). An H100 / H200 SM
issues 128 thread-instructions per clock (4 schedulers x 32 lanes); 132 SMs at 1.98 GHz issue
33.4 T/s. The pairs form, per code per thread at the benchmark's tiles (1 x / 16 x 28672 x 8192,
groups of 128, bf16):

    bits  M = 1   M = 16   issue time at M = 1   bytes time   predicted vs bf16 (M = 1 / 16)   target
    4     2.66    2.83     18.7 us               29.0 us      3.82x / 3.79x                     3.3x / 3x
    3     3.03    3.20     21.3 us               22.1 us      5.02x / 4.94x                     4.3x
    2     2.55    2.68     17.9 us               15.2 us      6.18x / 5.90x                     6x

W4 and W3 are bound by their bytes (W3 at M = 16 just by issue); W2 by issue, 18% above its
bytes. Where W2's instructions go at M = 1, per word of 16 codes: 3 shifts, 8 LOP3, 8 packed
FMA / ADD, and about 21 for the rest (the word from shared memory, the activation tile, the
wgmma, the scale, the loop). The per-code forms cost about 3 instructions per code (LOP3, FADD,
FFMA) plus their shifts: 4.64 (W4), 5.02 (W3), 4.37 (W2) per code at M = 1, and 6.05 / 6.23 /
6.03 at M = 16 (their dequantised tile goes through shared memory to the mma); the pairs form
replaced them on the benchmark's path (counted on the compilations, as above).

Registers: 153-186 per thread at 8 warps, so one program per SM at a time (split-K gives each
SM about four in turn). Two stages (``num_stages=2``): Triton copies the next step's words into
shared memory (cp.async, LDGSTS) while this step computes, so each program has two steps of words
in flight (W4: 2 x 16 KB) and its loads overlap its arithmetic. Untuned on hardware: no GPU was
at hand; the tiles are the sm_90 compilations' best without spills and with registers to spare.

The tiled kernel (M > 16)
-------------------------
A program owns a BLOCK_M x BLOCK_N tile of y and walks K in steps of BLOCK_K. Per step it loads
the activation tile, the packed words covering BLOCK_K codes of BLOCK_N outputs (word k*bits//32
of each code's stream, and for 3 bits the next word too, because codes 10 and 21 of every 32
straddle two words), shifts each code out, subtracts the group's zero point, multiplies by its
scale, casts to the activation dtype and feeds ``tl.dot`` with an fp32 accumulator. When BLOCK_K
divides the group size a step lies inside one group and reads one row of scales and zeros;
otherwise each k reads its own group's. (Each code reads its own word here: the pipeliner holds
a BLOCK_K x BLOCK_N int32 word tile per stage, which the shared-memory pruning accounts for.)

OWQ's fp16 columns: their codes equal the zero point, so the dense loop adds exactly 0 for them;
after it, a second small loop gathers the activations at the outlier indices (BLOCK_O at a time)
and adds x[:, idx] @ outlier_weight, exact products (as in the GEMV's dot form), into the same
accumulator, in the same program: the outliers cost n_out * N * 2 bytes more and no second
launch. The loop is compiled only when there are outliers.

Tolerances (kernel vs :func:`wonly_gemm_reference`, float64 over the dequantised weights)
-----------------------------------------------------------------------------------------
Dequantised weights (code - zero) * scale are exact in fp32 (|code - zero| < 16, fp16 scale). The
tiled kernel and the GEMV's per-code form then round them to the activation dtype for the tensor
cores (relative u_in: fp16 2^-11, bf16 2^-8, fp32 0: the fp32 path keeps them and uses
``input_precision="ieee"``); the GEMV's grouped forms round nothing before the fp32 sums
(code - zero is exact in 16 bits, the scale comes after). Products and sums are fp32 in an order
different from the reference's (gamma_n with n ~ K + 2 n_out + 2, u = 2^-24: a bf16 outlier
column counts twice, as hi and lo); the output is rounded once to its dtype (u_out). So,
elementwise,

    |y - ref| <= (u_in + (K + 2 n_out + 2) 2^-24) * (|x| @ |W_dq|^T) + u_out * |ref|

which :func:`wonly_tolerance` computes and the tests assert. Where every product and partial sum
is an integer below 2^24 (integer x, power-of-two scales, integer outlier weights) the kernels are
exact, whatever the order, split or form (tests/test_kernels_wonly_gemv.py, the RTL cross-check).
The GEMV's exact power-of-two rescaling by 2^sh (sh <= 16) assumes |x| < 2^100 (fp32, bf16).
(In the interpreter bf16 ``tl.dot`` is unreliable (DESIGN.md), so there 16-bit tiles are widened
to fp32 and dotted in ieee fp32: the u_in term still covers the weight rounding, which happens
before the widening. The interpreter also casts fp32 -> bf16 by truncation, not rounding, so there
u for bf16 is doubled.)

W8A8
----
:func:`w8a8_gemm`: int8 activations with one scale per row (token), int8 weights with one scale
per output channel; the integer product is kernels.int8_gemm (exact int32), then
y = acc * x_scale[m] * w_scale[n] in fp32. The reference does the same scaling on
int8_gemm_reference's exact product, in the same order, so the two agree exactly.
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass

import torch

from kernels._triton_env import CPU_LAUNCH_OK, TRITON_INTERPRET, tl, triton
from kernels._validate import max_element_offset
from kernels.int8_gemm import int8_gemm, int8_gemm_reference
from kernels.lowbit_format import check_bits, check_group_size, is_int, packed_words, unpack_codes

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
def _outlier_dot(acc, x_ptr, oi_ptr, ow_ptr, offs_m, m_mask, offs_n, n_mask, o_begin, o_end,
                 stride_xm, stride_xk, stride_owo, stride_own, DOT_FP32: tl.constexpr, BLOCK_O: tl.constexpr):
    """acc + x[:, idx] @ outlier_weight over outliers o_begin..o_end-1 (OWQ's fp16 columns), with
    exact products: an ieee fp32 dot (fp32 x, the interpreter); fp16 x: an fp16 tensor-core dot;
    bf16 x: the fp16 weights split exactly into two bf16 parts, hi + lo, and two bf16 dots."""
    for o0 in range(o_begin, o_end, BLOCK_O):
        offs_o = o0 + tl.arange(0, BLOCK_O)
        o_mask = offs_o < o_end
        idx = tl.load(oi_ptr + offs_o, mask=o_mask, other=0)
        xo = tl.load(x_ptr + offs_m[:, None] * stride_xm + idx[None, :] * stride_xk,
                     mask=m_mask[:, None] & o_mask[None, :], other=0.0)
        wo = tl.load(ow_ptr + offs_o[:, None] * stride_owo + offs_n[None, :] * stride_own,
                     mask=o_mask[:, None] & n_mask[None, :], other=0.0)
        if DOT_FP32:
            acc = tl.dot(xo.to(tl.float32), wo.to(tl.float32), acc, input_precision="ieee")
        elif xo.dtype == tl.float16:
            acc = tl.dot(xo, wo, acc)
        else:
            # fp16 has 11 significant bits, bf16 8: hi = bf16(w) and lo = w - hi (<= 3 bits) are exact
            hi = wo.to(tl.bfloat16)
            lo = (wo.to(tl.float32) - hi.to(tl.float32)).to(tl.bfloat16)
            acc = tl.dot(xo, hi, acc)
            acc = tl.dot(xo, lo, acc)
    return acc


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
    BITS: tl.constexpr, ONE_GROUP_PER_STEP: tl.constexpr, DOT_FP32: tl.constexpr, HAS_OUTLIERS: tl.constexpr,
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
    if HAS_OUTLIERS:
        acc = _outlier_dot(acc, x_ptr, oi_ptr, ow_ptr, offs_m, m_mask, offs_n, n_mask, 0, N_OUT,
                           stride_xm, stride_xk, stride_owo, stride_own, DOT_FP32, BLOCK_O)

    y_ptrs = y_ptr + offs_m[:, None] * stride_ym + offs_n[None, :] * stride_yn
    tl.store(y_ptrs, acc.to(y_ptr.dtype.element_ty), mask=m_mask[:, None] & n_mask[None, :])


# %%
# Tuning
# ------
# The tiled kernel serves M > GEMV_MAX_M (16) on the GPU; smaller batches take the GEMV kernel
# below. Untuned on hardware (no GPU was at hand): the autotuner picks among these per (M, N, K,
# BITS), after dropping tiles taller than the batch needs and tiles whose shared memory would
# exceed the device's limit. Every configuration here compiles for sm_90 without spills (bench/
# sm90.py: python -m bench.sm90 --family wonly_gemm), and their shared memory follows
#
#     (num_stages - 1) (BM BK b_x + BK BN 4 w) + BK BN b_x + [BM >= 64] BM BK b_x    (+ <= 1 KB)
#
# bytes (b_x: bytes per activation; w: words per code, 2 at 3 bits where a code may straddle
# two words): the pipeliner keeps num_stages - 1 copies of the activation tile and of the
# per-code word tile, and stages the dequantised tile (and, for wgmma, the activation tile) once.

#: sm_90's opt-in shared memory per block (H100 / H200), the limit where no CUDA device is at hand
SM90_SHARED_LIMIT = 232_448


def _gpu_configs() -> list:
    def cfg(bm, bn, bk, stages, warps):
        return triton.Config({"BLOCK_M": bm, "BLOCK_N": bn, "BLOCK_K": bk}, num_stages=stages, num_warps=warps)

    return [
        cfg(32, 128, 64, 3, 4), cfg(64, 128, 64, 3, 8), cfg(128, 128, 32, 3, 8),
        cfg(64, 256, 32, 3, 8), cfg(128, 128, 64, 3, 8), cfg(128, 256, 32, 3, 8),
    ]


def gemm_shared_bytes(block_m: int, block_n: int, block_k: int, num_stages: int, bits: int, act_bytes: int = 2) -> int:
    """Shared memory the tiled kernel's compilation asks for (the formula above, without the <= 1 KB
    of scales and zero points): within 1 KB of Triton 3.6's figure for every configuration here."""
    words = 2 if 32 % bits else 1
    pipelined = (num_stages - 1) * (block_m * block_k * act_bytes + block_k * block_n * 4 * words)
    return pipelined + block_k * block_n * act_bytes + (block_m * block_k * act_bytes if block_m >= 64 else 0)


def _shared_limit(t: torch.Tensor) -> int:
    if t.is_cuda:
        props = torch.cuda.get_device_properties(t.device)
        return int(getattr(props, "shared_memory_per_block_optin", SM90_SHARED_LIMIT))
    return SM90_SHARED_LIMIT  # compile-only (bench/sm90.py): sm_90


def _prune_configs(configs, named_args, **kwargs):
    M, bits, x = named_args["M"], kwargs["BITS"], named_args["x_ptr"]
    limit = _shared_limit(x) - 1024
    fits = [c for c in configs
            if gemm_shared_bytes(c.kwargs["BLOCK_M"], c.kwargs["BLOCK_N"], c.kwargs["BLOCK_K"], c.num_stages, bits,
                                 x.element_size()) <= limit]
    kept = [c for c in fits if c.kwargs["BLOCK_M"] <= max(32, 2 * M)]
    return kept or fits[:1] or configs[:1]


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
# fp32 activations: the dot runs in ieee fp32 on the FMA units, whose register-held operand tiles
# spill at the 16-bit configurations' sizes; one small fixed tile for every fp32 problem
FP32_GPU_CONFIG = {"BLOCK_M": 32, "BLOCK_N": 32, "BLOCK_K": 32, "num_warps": 4, "num_stages": 2}
BLOCK_O = 16


# %%
# The small-batch path: a GEMV / skinny kernel (M <= 16)
# -----------------------------------------------------
# (the design, the bytes and the instruction counts per packed word are in the module docstring)

#: codes per unit, the packed words a step handles as one piece: one word of 8 (W4) or 16 (W2)
#: codes, three words of 32 codes (W3, whose codes 10 and 21 straddle two words)
CODES_PER_UNIT = {2: 16, 3: 32, 4: 8}
WORDS_PER_UNIT = {2: 1, 3: 3, 4: 1}


@triton.jit
def _field_shift(j, BITS: tl.constexpr):
    """Bit position of code j of a unit in the 32-bit value :func:`_code_fields` cuts it from."""
    if BITS == 3:
        q = j % 8
        sh = tl.where(q == 7, 9, 3 * q)
    else:
        LOW: tl.constexpr = 11 if BITS == 2 else 5  # codes whose field ends at or below bit 22
        sh = tl.where(j < LOW, BITS * j, BITS * j - 16)
    return sh


@triton.jit
def _pow2(e):
    """2^e for an int32 tensor e (-126 <= e <= 127), as float32, exactly (its bit pattern)."""
    return ((e + 127) << 23).to(tl.float32, bitcast=True)


@triton.jit
def _code_fields(q_ptr, unit, j, offs_n, stride_qw, stride_qn, mask_un, QWORDS, WHOLE: tl.constexpr,
                 BITS: tl.constexpr):
    """Code j (index (C, 1, 1)) of units ``unit`` (1, U, 1) for outputs ``offs_n`` (1, 1, BN) as
    the float32 f = 2^23 + code * 2^sh, exactly, (C, U, BN); sh = _field_shift(j, BITS).

    Each word is loaded once: (1, U, BN) tiles of consecutive int32 along N (16-byte loads). The
    float's exponent (that of 2^23: 0x4B000000) is ORed into each word once; then one AND per
    code, with the code's field and the exponent bits, leaves 2^23 + code * 2^sh: no shift per
    code. Codes high in a word are cut from one shared shift of the word by 16 (W4, W2), or of a
    24-bit window by 12 (W3), so that every field ends at or below bit 22. ``WHOLE``: every unit
    is whole (no word past QWORDS), only ``mask_un`` applies."""
    EXP: tl.constexpr = 0x4B000000
    if BITS == 3:
        base = unit * 3
        ptrs = q_ptr + base * stride_qw + offs_n * stride_qn
        m0 = mask_un
        m1 = mask_un
        m2 = mask_un
        if not WHOLE:
            m0 = m0 & (base < QWORDS)
            m1 = m1 & (base + 1 < QWORDS)
            m2 = m2 & (base + 2 < QWORDS)
        w0 = tl.load(ptrs, mask=m0, other=0)
        w1 = tl.load(ptrs + stride_qw, mask=m1, other=0)
        w2 = tl.load(ptrs + 2 * stride_qw, mask=m2, other=0)
        w0 = w0.to(tl.uint32, bitcast=True)
        w1 = w1.to(tl.uint32, bitcast=True)
        w2 = w2.to(tl.uint32, bitcast=True)
        # the unit's 96-bit stream as four 24-bit windows of 8 whole codes (code q at bit 3q):
        # no code straddles a window; a window's code 7 (bits 21..23) is cut from it shifted by 12
        v1 = (w0 >> 24) | (w1 << 8)
        v2 = (w1 >> 16) | (w2 << 16)
        v3 = w2 >> 8
        b = j // 8
        q7 = j % 8 == 7
        src = tl.where(b == 0, tl.where(q7, w0 >> 12, w0) | EXP,
                       tl.where(b == 1, tl.where(q7, v1 >> 12, v1) | EXP,
                                tl.where(b == 2, tl.where(q7, v2 >> 12, v2) | EXP, tl.where(q7, v3 >> 12, v3) | EXP)))
    else:
        m = mask_un if WHOLE else mask_un & (unit < QWORDS)
        w = tl.load(q_ptr + unit * stride_qw + offs_n * stride_qn, mask=m, other=0)
        w = w.to(tl.uint32, bitcast=True)
        LOW: tl.constexpr = 11 if BITS == 2 else 5
        src = tl.where(j < LOW, w | EXP, (w >> 16) | EXP)
    MASK: tl.constexpr = (1 << BITS) - 1
    keep = (MASK << _field_shift(j, BITS)) | EXP
    return (src & keep.to(tl.uint32)).to(tl.float32, bitcast=True)


#: the pairs path's 16-bit formats (by activation dtype): the bits of 2^E in both halves of a word
#: (the "magic" whose last mantissa bit is worth 1), E, and the low bits a field may occupy
PAIR_FORMATS = {torch.bfloat16: (0x43004300, 7), torch.float16: (0x64006400, 10)}
#: in the interpreter the halves are read as fp32 (bf16 bit casts are unreliable there; DESIGN.md)
_HALVES_AS_FP32 = tl.constexpr(TRITON_INTERPRET)


@triton.constexpr_function
def pair_parts(bits, f16):
    """The parts :func:`_pair_tile` cuts a unit's pairs into, by field position: W4 / W2 as many
    positions as fit below bit E (7 bf16, 10 fp16) without a shift, a power of two dividing the
    pairs; W3 one (each field is shifted to bit 0 of its window register)."""
    if bits == 3:
        return 1
    fit = (10 if f16 else 7) // bits
    n = 1
    while n * 2 <= fit and (32 // bits // 2) % (n * 2) == 0:
        n *= 2
    return n


@triton.jit
def _halves(pair, F16: tl.constexpr):
    """The low and the high 16 bits of each uint32 of ``pair`` as the fp16 (``F16``) or bf16 values
    they encode. On the GPU a register move (``mov.b32 {lo, hi}``: no instruction once ptxas
    allocates); in the interpreter their exact values in fp32 (a bf16 is the fp32 of its bits << 16)."""
    if _HALVES_AS_FP32:
        if F16:
            lo = pair.to(tl.uint16).to(tl.float16, bitcast=True).to(tl.float32)
            hi = (pair >> 16).to(tl.uint16).to(tl.float16, bitcast=True).to(tl.float32)
        else:
            lo = (pair << 16).to(tl.float32, bitcast=True)
            hi = (pair & 0xFFFF0000).to(tl.float32, bitcast=True)
    else:
        if F16:
            lo, hi = tl.inline_asm_elementwise("mov.b32 {$0, $1}, $2;", "=h,=h,r", [pair],
                                               dtype=(tl.float16, tl.float16), is_pure=True, pack=1)
        else:
            lo, hi = tl.inline_asm_elementwise("mov.b32 {$0, $1}, $2;", "=h,=h,r", [pair],
                                               dtype=(tl.bfloat16, tl.bfloat16), is_pure=True, pack=1)
    return lo, hi


@triton.jit
def _pair_tile(q_ptr, u0, offs_n, stride_qw, stride_qn, mask_n, zero, MAGIC, GI: tl.constexpr,
               BITS: tl.constexpr, F16: tl.constexpr, BLOCK_U: tl.constexpr, BLOCK_N: tl.constexpr):
    """Part ``GI`` of the weights (code - zero) of units u0 .. u0+BLOCK_U-1 for outputs ``offs_n``,
    exactly, as the transposed dot operand (BLOCK_N, codes) in the activations' 16-bit format (fp32
    in the interpreter); :func:`_pair_k` gives each column's input column.

    Two codes per instruction. A word's two 16-bit halves hold codes at the same bit positions (W4:
    codes j and j+4, W2: j and j+8; W3: the same code of two 24-bit windows of its 96-bit unit, cut
    into four windows of 8 codes). One AND with both fields (after one shift of the word that several
    pairs share) and an OR with the exponent bits of 2^E in both halves (``MAGIC``, passed in a
    register: LOP3 takes one immediate) leave two 16-bit floats 2^E + code * 2^pos; E = 7 for bf16,
    10 for fp16, and the field must end at or below bit E. One packed FMA per two codes then gives
    v * 2^-pos - (2^(E-pos) + zero) = code - zero exactly (small integers and powers of two).

    The pairs are cut into pair_parts(BITS, F16) parts by their field's position ``pos`` (part GI:
    pos = BITS * GI), so that each part's FMA takes one scale and one offset per output: Triton then
    dequantises in the dot operand's own layout (an offset varying along the pairs sends the tile
    through shared memory, about one store per pair, measured on the sm_90 compilation)."""
    C: tl.constexpr = 96 // BITS if BITS == 3 else 32 // BITS
    NG: tl.constexpr = pair_parts(BITS, F16)
    PG: tl.constexpr = C // 2 // NG  # pairs per unit in this part
    E: tl.constexpr = 10 if F16 else 7
    MASK: tl.constexpr = (1 << BITS) - 1
    POS: tl.constexpr = BITS * GI
    i = tl.arange(0, PG)[:, None, None]
    unit = u0 + tl.arange(0, BLOCK_U)
    ptrs = q_ptr + unit[:, None] * (3 * stride_qw if BITS == 3 else stride_qw) + offs_n[None, :] * stride_qn
    # (U, BN) word tiles, broadcast along the pairs afterwards (a (1, U, BN) load defeats the layout)
    if BITS == 3:
        w0 = tl.load(ptrs, mask=mask_n[None, :], other=0).to(tl.uint32, bitcast=True)[None, :, :]
        w1 = tl.load(ptrs + stride_qw, mask=mask_n[None, :], other=0).to(tl.uint32, bitcast=True)[None, :, :]
        w2 = tl.load(ptrs + 2 * stride_qw, mask=mask_n[None, :], other=0).to(tl.uint32, bitcast=True)[None, :, :]
        # windows: v_b = stream bits 24b .. 24b+23 (code q at bit 3q); pairs (0, 1) and (2, 3) share
        # registers: r0 holds the two windows' bits 0..15 (codes 0-2), r1 their bits 8..23 (codes 3-7)
        v1 = (w0 >> 24) | (w1 << 8)
        v2 = (w1 >> 16) | (w2 << 16)
        v3 = w2 >> 8
        r0a = (w0 & 0xFFFF) | (v1 << 16)
        r1a = ((w0 >> 8) & 0xFFFF) | ((v1 << 8) & 0xFFFF0000)
        r0b = (v2 & 0xFFFF) | (v3 << 16)
        r1b = ((v2 >> 8) & 0xFFFF) | ((v3 << 8) & 0xFFFF0000)
        q = i % 8
        second = i >= 8
        src = tl.where(q < 3, tl.where(second, r0b, r0a), tl.where(second, r1b, r1a))
        shift = tl.where(q < 3, 3 * q, 3 * q - 8)  # the field's bit in its register: brought to bit 0
    else:
        src = tl.load(ptrs, mask=mask_n[None, :], other=0).to(tl.uint32, bitcast=True)[None, :, :]
        shift = BITS * NG * i  # pair p = GI + NG i: its field at bit BITS p = shift + POS
    FIELDS: tl.constexpr = (MASK << POS) * 0x10001
    pair = ((src >> shift.to(tl.uint32)) & FIELDS) | MAGIC.to(tl.uint32, bitcast=True)  # (PG, U, BN)
    lo, hi = _halves(pair, F16)
    v = tl.join(lo, hi)  # (PG, U, BN, 2)
    UNSCALE: tl.constexpr = 2.0 ** -POS
    OFFSET: tl.constexpr = 2.0 ** (E - POS)
    bias = (-(zero.to(tl.float32) + OFFSET)).to(v.dtype)  # exact: an integer below 2^11
    unscale = tl.full((1, 1, 1, 1), UNSCALE, tl.float32).to(v.dtype)
    v = tl.fma(v, unscale, bias[None, None, :, None])
    return tl.reshape(tl.permute(v, (2, 0, 1, 3)), (BLOCK_N, 2 * PG * BLOCK_U))


@triton.jit
def _pair_k(GI: tl.constexpr, BITS: tl.constexpr, F16: tl.constexpr, BLOCK_U: tl.constexpr):
    """The input column (within the step) of each column of :func:`_pair_tile`'s part ``GI``."""
    C: tl.constexpr = 96 // BITS if BITS == 3 else 32 // BITS
    NG: tl.constexpr = pair_parts(BITS, F16)
    PG: tl.constexpr = C // 2 // NG
    r = tl.arange(0, 2 * PG * BLOCK_U)
    h = r % 2
    i = r // 2 // BLOCK_U
    u = r // 2 % BLOCK_U
    if BITS == 3:
        j = 16 * (i // 8) + i % 8 + 8 * h
    else:
        j = GI + NG * i + (C // 2) * h
    return u * C + j


@triton.jit
def wonly_gemv_kernel(
    x_ptr, q_ptr, s_ptr, z_ptr, oi_ptr, ow_ptr, out_ptr,
    M, N, K, N_OUT, GROUP, QWORDS, UNITS, UNITS_PER_SPLIT, OUT_PER_SPLIT, MAGIC,
    stride_xm, stride_xk,
    stride_qw, stride_qn,
    stride_sg, stride_sn,
    stride_zg, stride_zn,
    stride_owo, stride_own,
    stride_os, stride_om, stride_on,
    BITS: tl.constexpr, GROUPED: tl.constexpr, USE_DOT: tl.constexpr, DOT_FP32: tl.constexpr,
    PAIRS: tl.constexpr, PAIR_F16: tl.constexpr, HAS_OUTLIERS: tl.constexpr,
    BLOCK_M: tl.constexpr, BLOCK_N: tl.constexpr, BLOCK_U: tl.constexpr, BLOCK_O: tl.constexpr,
):
    pid_n = tl.program_id(axis=0)
    pid_k = tl.program_id(axis=1)  # which split of K this program sums
    C: tl.constexpr = 96 // BITS if BITS == 3 else 32 // BITS  # codes per unit
    offs_n = pid_n * BLOCK_N + tl.arange(0, BLOCK_N)
    n_mask = offs_n < N
    offs_m = tl.arange(0, BLOCK_M)
    m_mask = offs_m < M
    # (C, U, BN) tiles: code j of a unit on axis 0, the unit on axis 1, the output on axis 2
    j = tl.arange(0, C)[:, None, None]
    n3 = offs_n[None, None, :]
    sh = _field_shift(j, BITS)
    unscale = _pow2(-sh)  # (C, 1, 1): 2^-sh, exact
    # a dot's K index r = j * BLOCK_U + u (the (C, U) tile flattened) reads input column u * C + j
    r = tl.arange(0, C * BLOCK_U)
    k_of_r = (r % BLOCK_U) * C + r // BLOCK_U
    u_begin = pid_k * UNITS_PER_SPLIT
    u_end = tl.minimum(u_begin + UNITS_PER_SPLIT, UNITS)
    if PAIRS:
        # 16-bit activations, every step in one group: two codes per instruction (_pair_tile), the
        # weights as the dot's first operand (BLOCK_N rows: the mma's M; the batch is its N)
        acc_t = tl.zeros((BLOCK_N, BLOCK_M), dtype=tl.float32)
        NG: tl.constexpr = pair_parts(BITS, PAIR_F16)
        for u0 in range(u_begin, u_end, BLOCK_U):
            grp = (u0 * C) // GROUP
            scale = tl.load(s_ptr + grp * stride_sg + offs_n * stride_sn, mask=n_mask, other=0.0).to(tl.float32)
            zero = tl.load(z_ptr + grp * stride_zg + offs_n * stride_zn, mask=n_mask, other=0)
            part = tl.zeros((BLOCK_N, BLOCK_M), dtype=tl.float32)
            for gi in tl.static_range(NG):
                w_t = _pair_tile(q_ptr, u0, offs_n, stride_qw, stride_qn, n_mask, zero, MAGIC, gi, BITS, PAIR_F16,
                                 BLOCK_U, BLOCK_N)
                offs_k = u0 * C + _pair_k(gi, BITS, PAIR_F16, BLOCK_U)
                x_t = tl.load(x_ptr + offs_m[None, :] * stride_xm + offs_k[:, None] * stride_xk,
                              mask=m_mask[None, :], other=0.0)
                if DOT_FP32:
                    part = tl.dot(w_t.to(tl.float32), x_t.to(tl.float32), part, input_precision="ieee")
                else:
                    part = tl.dot(w_t, x_t, part)
            acc_t += part * scale[:, None]
        acc = tl.trans(acc_t)
    elif USE_DOT:
        acc = tl.zeros((BLOCK_M, BLOCK_N), dtype=tl.float32)
    else:
        acc = tl.zeros((BLOCK_N,), dtype=tl.float32)

    if not PAIRS:  # the per-code forms
        for u0 in range(u_begin, u_end, BLOCK_U):
            unit = (u0 + tl.arange(0, BLOCK_U))[None, :, None]
            k3 = unit * C + j  # (C, U, 1): each code's input column
            if GROUPED:
                # K, the splits and the steps are whole steps of whole units: only N needs a mask
                u_ok = unit >= 0
                k_ok = k3 >= 0
            else:
                u_ok = unit < u_end
                k_ok = u_ok & (k3 < K)
            f = _code_fields(q_ptr, unit, j, n3, stride_qw, stride_qn, u_ok & (n3 < N), QWORDS, GROUPED, BITS)
            if USE_DOT:
                offs_k = u0 * C + k_of_r
                x_mask = m_mask[:, None] if GROUPED else m_mask[:, None] & (offs_k[None, :] < tl.minimum(K, u_end * C))
                xt = tl.load(x_ptr + offs_m[:, None] * stride_xm + offs_k[None, :] * stride_xk, mask=x_mask, other=0.0)
            else:
                if GROUPED:
                    xv = tl.load(x_ptr + k3 * stride_xk).to(tl.float32)
                else:
                    xv = tl.load(x_ptr + k3 * stride_xk, mask=k_ok, other=0.0).to(tl.float32)
            if GROUPED:
                # the step lies in one group: one row of scales and zero points
                grp = (u0 * C) // GROUP
                scale = tl.load(s_ptr + grp * stride_sg + offs_n * stride_sn, mask=n_mask, other=0.0).to(tl.float32)
                zero = tl.load(z_ptr + grp * stride_zg + offs_n * stride_zn, mask=n_mask, other=0)
                if USE_DOT:
                    # code - zero = f 2^-sh - (2^(23-sh) + zero): one exact FMA per code, then a 16-bit dot
                    # (small integers are exact in fp16 and bf16) and the scale once per output and step
                    zs = _pow2(23 - sh) + zero.to(tl.float32)[None, None, :]
                    w = tl.reshape(f * unscale - zs, (C * BLOCK_U, BLOCK_N))
                    if DOT_FP32:
                        part = tl.dot(xt.to(tl.float32), w, input_precision="ieee")
                    else:
                        part = tl.dot(xt, w.to(xt.dtype))
                    acc += part * scale[None, :]
                else:
                    # (code - zero) 2^sh = f - (2^23 + zero 2^sh), exact; x times it summed over the
                    # step's units per code position, then 2^-sh per position and the scale per output
                    zp = ((zero.to(tl.uint32)[None, None, :] << sh.to(tl.uint32)) | 0x4B000000)
                    zp = zp.to(tl.float32, bitcast=True)
                    part = tl.sum(xv * (f - zp), axis=1)  # (C, BN)
                    if BITS == 3:  # the four windows' codes q share sh: add them first
                        part = tl.sum(tl.reshape(part, (4, 8, BLOCK_N)), axis=0)
                        part = part * _pow2(-_field_shift(tl.arange(0, 8)[:, None], BITS))
                    else:
                        part = part * _pow2(-_field_shift(tl.arange(0, C)[:, None], BITS))
                    acc += tl.sum(part, axis=0) * scale
            else:
                # groups cut through steps (or units): each code reads its own group's parameters
                grp3 = k3 // GROUP
                pmask = k_ok & (n3 < N)
                scale = tl.load(s_ptr + grp3 * stride_sg + n3 * stride_sn, mask=pmask, other=0.0).to(tl.float32)
                zero = tl.load(z_ptr + grp3 * stride_zg + n3 * stride_zn, mask=pmask, other=0).to(tl.float32)
                w = (f * unscale - (_pow2(23 - sh) + zero)) * scale  # (code - zero) * scale
                if USE_DOT:
                    w = tl.reshape(w, (C * BLOCK_U, BLOCK_N))
                    if DOT_FP32:
                        # round w to x's dtype first (what the GPU's 16-bit dot sees), then an ieee dot
                        acc = tl.dot(xt.to(tl.float32), w.to(xt.dtype).to(tl.float32), acc, input_precision="ieee")
                    else:
                        acc = tl.dot(xt, w.to(xt.dtype), acc)
                else:
                    acc += tl.sum(tl.sum(xv * w, axis=1), axis=0)

    # -- OWQ: this split's share of the fp16 outlier columns, into the same accumulator ----------
    if HAS_OUTLIERS:
        o_begin = pid_k * OUT_PER_SPLIT
        o_end = tl.minimum(o_begin + OUT_PER_SPLIT, N_OUT)
        if USE_DOT:
            acc = _outlier_dot(acc, x_ptr, oi_ptr, ow_ptr, offs_m, m_mask, offs_n, n_mask, o_begin, o_end,
                               stride_xm, stride_xk, stride_owo, stride_own, DOT_FP32, BLOCK_O)
        else:
            for o0 in range(o_begin, o_end, BLOCK_O):
                offs_o = o0 + tl.arange(0, BLOCK_O)
                o_mask = offs_o < o_end
                idx = tl.load(oi_ptr + offs_o, mask=o_mask, other=0)
                wo = tl.load(ow_ptr + offs_o[:, None] * stride_owo + offs_n[None, :] * stride_own,
                             mask=o_mask[:, None] & n_mask[None, :], other=0.0).to(tl.float32)
                xo = tl.load(x_ptr + idx * stride_xk, mask=o_mask, other=0.0).to(tl.float32)
                acc += tl.sum(xo[:, None] * wo, axis=0)

    out = out_ptr + pid_k * stride_os
    if USE_DOT:
        tl.store(out + offs_m[:, None] * stride_om + offs_n[None, :] * stride_on,
                 acc.to(out_ptr.dtype.element_ty), mask=m_mask[:, None] & n_mask[None, :])
    else:
        tl.store(out + offs_n * stride_on, acc.to(out_ptr.dtype.element_ty), mask=n_mask)


@triton.jit
def wonly_splitk_reduce_kernel(p_ptr, y_ptr, M, N, SPLIT, stride_ps, stride_pm, stride_pn, stride_ym, stride_yn,
                               BLOCK_M: tl.constexpr, BLOCK_N: tl.constexpr):
    """y = sum over s = 0, 1, ..., SPLIT-1 of the fp32 partials p[s], in that order (deterministic)."""
    offs_m = tl.program_id(axis=0) * BLOCK_M + tl.arange(0, BLOCK_M)
    offs_n = tl.program_id(axis=1) * BLOCK_N + tl.arange(0, BLOCK_N)
    mask = (offs_m[:, None] < M) & (offs_n[None, :] < N)
    ptrs = p_ptr + offs_m[:, None] * stride_pm + offs_n[None, :] * stride_pn
    acc = tl.load(ptrs, mask=mask, other=0.0)
    for s in range(1, SPLIT):
        acc += tl.load(ptrs + s * stride_ps, mask=mask, other=0.0)
    tl.store(y_ptr + offs_m[:, None] * stride_ym + offs_n[None, :] * stride_yn,
             acc.to(y_ptr.dtype.element_ty), mask=mask)


# %%
# Planning the small-batch path
# -----------------------------
# Untuned on hardware (no GPU was at hand): the tiles below are sized from the instruction and
# register counts of their sm_90 compilations (bench/sm90.py: no spills, shared memory far below
# the limit) and from the occupancy argument of the module docstring.

#: the dispatcher sends M <= GEMV_MAX_M to the GEMV kernel, larger M to the tiled GEMM kernel
GEMV_MAX_M = 16
#: assumed when the operands are not on a CUDA device (compile-only, interpreter): H100 / H200
DEFAULT_SM_COUNT = 132
#: split-K aims at this many programs per SM (several resident per SM hide each other's latency)
PROGRAMS_PER_SM = 4
#: ... but leaves every split at least this many steps of BLOCK_U units
MIN_STEPS_PER_SPLIT = 4
#: {(kernel form, parameters): {bits: (num_warps, BLOCK_N, BLOCK_U)}} on the GPU, chosen by the
#: sm_90 compilations of the step loop (instructions per code, registers; module docstring).
#: "pairs" (any M, fp16 / bf16 activations, steps inside one group): two codes per instruction,
#: the weights as the dot's first operand; 8 warps of 256 outputs, the largest BLOCK_U whose step
#: lies in a group of 128 and whose registers stay under ~190 (searched over 4 / 8 warps, BLOCK_N
#: 128-512, BLOCK_U 2-32: larger tiles spill or sit at 255 registers for a few percent).
#: "fma" (M = 1, the per-code forms' fallback): each thread holds 4 consecutive outputs per 512 of BLOCK_N (16-byte loads) and a
#: step's BLOCK_U units of each, so that every reduction over the step stays in a thread, and the
#: (codes x units) activation tile has fewer elements than the block has threads, so that Triton
#: loads it straight into the weights' layout (an activation tile of one element per thread or
#: more is a layout anchor, and the weight tile is then moved through shared memory to meet it).
#: "dot" (M = 2..16): one 16-row tl.dot per step. "grouped": every step lies in one group (one row
#: of scales and zero points per step); BLOCK_U is halved until it does, where it can. "per_code":
#: groups cut through steps, each code reads its own parameters: small tiles (slow, but general).
#: "dot_fp32": fp32 activations, an ieee fp32 dot on the FMA units.
GEMV_GPU_TILES = {
    ("pairs", "grouped"): {4: (8, 256, 16), 3: (8, 256, 4), 2: (8, 256, 8)},
    ("fma", "grouped"): {4: (4, 512, 8), 3: (4, 512, 2), 2: (4, 1024, 4)},
    ("fma", "per_code"): {4: (4, 128, 1), 3: (4, 128, 1), 2: (4, 128, 1)},
    ("dot", "grouped"): {4: (8, 256, 16), 3: (4, 256, 2), 2: (4, 256, 4)},
    ("dot", "per_code"): {4: (4, 64, 2), 3: (4, 64, 1), 2: (4, 64, 1)},
    ("dot_fp32", "grouped"): {4: (4, 32, 2), 3: (4, 32, 1), 2: (4, 32, 1)},
    ("dot_fp32", "per_code"): {4: (4, 32, 2), 3: (4, 32, 1), 2: (4, 32, 1)},
}
#: in the interpreter: small tiles, so that the tests cross tile, step, unit and split edges
GEMV_INTERPRETER_TILES = {"pairs": {4: (1, 16, 4), 3: (1, 16, 1), 2: (1, 16, 4)},
                          "fma": {4: (1, 16, 2), 3: (1, 16, 1), 2: (1, 16, 2)},
                          "dot": {4: (1, 16, 2), 3: (1, 16, 1), 2: (1, 16, 1)}}


@dataclass(frozen=True)
class GemvPlan:
    """How :func:`wonly_gemm` runs a small batch: the GEMV kernel's tiles and its split of K."""

    use_dot: bool  # a 16-row tl.dot per step (M > 1, and the pairs form); else FMA (M == 1)
    grouped: bool  # every step lies in one group (BLOCK_U codes-per-unit divides the group size)
    pairs: bool  # grouped, 16-bit activations: two codes per instruction (_pair_tile), any M
    block_m: int
    block_n: int
    block_u: int  # units (1 word of W4 / W2, 3 words of W3) per step
    split_k: int  # programs along K; 1: the kernel writes y itself, else fp32 partials + reduction
    units_per_split: int
    outliers_per_split: int
    num_warps: int


def plan_gemv(M: int, N: int, K: int, bits: int, group_size: int | None, n_out: int = 0,
              x_dtype: torch.dtype = torch.float16, *, sm_count: int | None = None, split_k: int | None = None,
              interpreter: bool = TRITON_INTERPRET) -> GemvPlan:
    """The GEMV plan for an (M, K) x (K, N) problem, M <= GEMV_MAX_M.

    The form: the pairs form for fp16 / bf16 activations (``x_dtype``) where a step of the tile's
    BLOCK_U (halved as needed, no lower than each part's dot needs: 16 codes) lies in one group;
    else the per-code forms (FMA at M = 1, a dot above; grouped where they can be).
    ``split_k`` forces the number of K splits (1: none; it is capped at one per step); by default
    it is chosen so that cdiv(N, BLOCK_N) x split_k programs give each of ``sm_count`` SMs about
    PROGRAMS_PER_SM, keeping MIN_STEPS_PER_SPLIT steps per split.
    """
    for name, v in (("M", M), ("N", N), ("K", K), ("n_out", n_out)):
        if not is_int(v) or v < 0:
            raise ValueError(f"{name} must be a non-negative int, got {v!r}")
    if not 1 <= M <= GEMV_MAX_M:
        raise ValueError(f"M must lie in 1..{GEMV_MAX_M} for the GEMV path, got {M}")
    check_bits(bits)
    if K == 0:
        raise ValueError("K must be positive")
    g = check_group_size(group_size, K)
    if split_k is not None and (not is_int(split_k) or split_k < 1):
        raise ValueError(f"split_k must be a positive integer or None (automatic), got {split_k!r}")
    if sm_count is not None and (not is_int(sm_count) or sm_count < 1):
        raise ValueError(f"sm_count must be a positive integer, got {sm_count!r}")
    use_dot = M > 1
    C = CODES_PER_UNIT[bits]
    min_u = max(1, 16 // C) if use_dot else 1  # tl.dot needs K >= 16

    def fit(block_u, min_u=min_u):  # the largest BLOCK_U <= block_u (halving) whose step lies in one group
        bu = block_u
        while bu > min_u and g % (bu * C):
            bu //= 2
        return bu, g % (bu * C) == 0

    # the pairs form: each of its pair_parts dots takes C / parts codes per unit and needs K >= 16
    pairs = x_dtype in PAIR_FORMATS
    if pairs:
        tiles = GEMV_INTERPRETER_TILES["pairs"] if interpreter else GEMV_GPU_TILES[("pairs", "grouped")]
        warps, block_n, block_u = tiles[bits]
        parts = pair_parts(bits, x_dtype == torch.float16)
        pair_min_u = max(1, 16 // (C // parts))
        bu, pairs = fit(block_u, pair_min_u)
        pairs = pairs and bu >= pair_min_u
    if pairs:
        use_dot = grouped = True
    elif interpreter:
        warps, block_n, block_u = GEMV_INTERPRETER_TILES["dot" if use_dot else "fma"][bits]
        bu, grouped = fit(block_u)
        bu = bu if grouped else block_u
    else:
        form = ("dot_fp32" if x_dtype == torch.float32 else "dot") if use_dot else "fma"
        warps, block_n, block_u = GEMV_GPU_TILES[(form, "grouped")][bits]
        bu, grouped = fit(block_u)
        if not grouped:
            warps, block_n, bu = GEMV_GPU_TILES[(form, "per_code")][bits]
    units = -(-K // C)
    steps = -(-units // bu)
    n_blocks = -(-N // block_n) if N else 1
    if split_k is None:
        target = (sm_count or DEFAULT_SM_COUNT) * PROGRAMS_PER_SM
        split_k = max(1, min(-(-target // n_blocks), steps // MIN_STEPS_PER_SPLIT))
    split_k = min(split_k, steps)
    # the fp32 partials (split, M, N) are indexed with int32 offsets
    split_k = max(1, min(split_k, (2**31 - 1) // max(1, M * N)))
    ups = -(-steps // split_k) * bu
    split = -(-units // ups)
    return GemvPlan(use_dot=use_dot, grouped=grouped, pairs=pairs, block_m=16 if use_dot else 1,
                    block_n=block_n, block_u=bu,
                    split_k=split, units_per_split=ups, outliers_per_split=-(-n_out // split) if n_out else 0,
                    num_warps=warps)


def _launch_gemv(x, qweight, scales, zeros, outlier_idx, outlier_weight, y, bits, g, n_out, plan: GemvPlan):
    M, K = x.shape
    N = y.shape[1]
    if plan.split_k == 1:
        out, stride_os = y, 0
    else:
        out = torch.empty((plan.split_k, M, N), dtype=torch.float32, device=x.device)
        stride_os = out.stride(0)
    om, on = out.stride(-2), out.stride(-1)
    C = CODES_PER_UNIT[bits]
    dot_fp32 = plan.use_dot and (TRITON_INTERPRET or x.dtype == torch.float32)
    grid = (triton.cdiv(N, plan.block_n), plan.split_k)
    wonly_gemv_kernel[grid](
        x, qweight, scales, zeros, outlier_idx, outlier_weight, out,
        M, N, K, n_out, g, qweight.shape[0], -(-K // C), plan.units_per_split, plan.outliers_per_split,
        PAIR_FORMATS[x.dtype][0] if plan.pairs else 0,
        x.stride(0), x.stride(1), qweight.stride(0), qweight.stride(1),
        scales.stride(0), scales.stride(1), zeros.stride(0), zeros.stride(1),
        outlier_weight.stride(0), outlier_weight.stride(1), stride_os, om, on,
        BITS=bits, GROUPED=plan.grouped, USE_DOT=plan.use_dot, DOT_FP32=dot_fp32, PAIRS=plan.pairs,
        PAIR_F16=x.dtype == torch.float16, HAS_OUTLIERS=n_out > 0,
        BLOCK_M=plan.block_m, BLOCK_N=plan.block_n, BLOCK_U=plan.block_u, BLOCK_O=BLOCK_O,
        num_warps=plan.num_warps, num_stages=2 if plan.pairs else 1,
    )
    if plan.split_k > 1:
        bm, bn = triton.next_power_of_2(M), (16 if TRITON_INTERPRET else 256)
        wonly_splitk_reduce_kernel[(triton.cdiv(M, bm), triton.cdiv(N, bn))](
            out, y, M, N, plan.split_k, out.stride(0), out.stride(1), out.stride(2), y.stride(0), y.stride(1),
            BLOCK_M=bm, BLOCK_N=bn, num_warps=4)


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
               outlier_weight: torch.Tensor | None = None, *, out_dtype: torch.dtype | None = None,
               split_k: int | None = None) -> torch.Tensor:
    """y = x W^T (M, N) for low-bit W in kernels/lowbit_format.py's packed layout; fp32 accumulation.

    ``x`` (M, K) fp16/bf16/fp32; output dtype ``out_dtype`` (default x.dtype; float32 keeps the
    accumulator's precision). OWQ's ``outlier_idx`` (n_out,) int32 / ``outlier_weight``
    (n_out, N) fp16 are optional.

    Batches M <= GEMV_MAX_M (16) run the GEMV kernel (:func:`plan_gemv`; ``split_k`` forces its
    number of K splits, default automatic), larger ones the tiled GEMM kernel.
    """
    M, N, K, n_out = check_wonly_operands(x, qweight, scales, zeros, bits, group_size, outlier_idx, outlier_weight)
    g = check_group_size(group_size, K)
    _check_device(x, "wonly_gemm")
    out_dtype = x.dtype if out_dtype is None else out_dtype
    if out_dtype not in ACTIVATIONS:
        raise TypeError(f"out_dtype must be float16, bfloat16 or float32, got {out_dtype}")
    if split_k is not None:
        if not is_int(split_k) or split_k < 1:
            raise ValueError(f"split_k must be a positive integer or None (automatic), got {split_k!r}")
        if M > GEMV_MAX_M:
            raise ValueError(f"split_k applies to the GEMV path (M <= {GEMV_MAX_M}); M = {M} runs the GEMM kernel")
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

    if M <= GEMV_MAX_M:
        sm_count = torch.cuda.get_device_properties(x.device).multi_processor_count if x.is_cuda else None
        plan = plan_gemv(M, N, K, bits, g, n_out, x.dtype, sm_count=sm_count, split_k=split_k)
        with torch.cuda.device(x.device) if x.is_cuda else contextlib.nullcontext():  # CPU: compile-only
            _launch_gemv(x, qweight, scales, zeros, outlier_idx, outlier_weight, y, bits, g, n_out, plan)
        return y

    def grid(meta):
        return (triton.cdiv(M, meta["BLOCK_M"]), triton.cdiv(N, meta["BLOCK_N"]))

    if TRITON_INTERPRET:
        cfg = INTERPRETER_CONFIG
        wonly_gemm_kernel[grid](*args, BITS=bits, ONE_GROUP_PER_STEP=g % cfg["BLOCK_K"] == 0, DOT_FP32=True,
                                HAS_OUTLIERS=n_out > 0, BLOCK_O=BLOCK_O, **cfg)
    else:
        # ONE_GROUP_PER_STEP depends on BLOCK_K, which the autotuner picks: the configs' BLOCK_K
        # are 32 and 64, so a group size divisible by 64 qualifies for all of them
        consts = {"BITS": bits, "DOT_FP32": x.dtype == torch.float32, "HAS_OUTLIERS": n_out > 0, "BLOCK_O": BLOCK_O}
        with torch.cuda.device(x.device) if x.is_cuda else contextlib.nullcontext():  # CPU: compile-only
            if x.dtype == torch.float32 or M * N * K <= SMALL_PROBLEM_MACS:
                cfg = FP32_GPU_CONFIG if x.dtype == torch.float32 else SMALL_GPU_CONFIG
                wonly_gemm_kernel[grid](*args, **consts, ONE_GROUP_PER_STEP=g % cfg["BLOCK_K"] == 0, **cfg)
            else:
                wonly_gemm_kernel_autotuned[grid](*args, **consts, ONE_GROUP_PER_STEP=g % 64 == 0)
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
    return (u_in + (K + 2 * n_out + 2) * 2.0**-24) * mag + u_out * ref


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
