"""
FP8 GEMM with tensorwise, rowwise and blockwise scales: a Triton kernel, torch._scaled_mm and an exact CPU emulation
===================================================================================================================

``C = (A_fp8 (x) scale_a) @ (B_fp8 (x) scale_b) [+ bias]`` with A (M, K) and B (K, N) in FP8
(e4m3 or e5m2), float32 scales that *dequantise* (``x ~ x_fp8 * scale``, torch._scaled_mm's
convention), FP32 accumulation and a bf16 or fp32 result. The file reads top to bottom: the
scaling recipes that produce the operands, the kernels (pointer loads, or TMA descriptors with
``tma=True``, persistent over the output tiles with ``tma=True, persistent=True``), their tuning, the launcher, the exact emulation they are held to, the dispatcher
that picks one of three back-ends (``scaled_mm``), and an operation / byte counter.

Public API: ``blockwise_scale``, ``quantize_fp8_blockwise``, ``quantize_operands``,
``DelayedScaling``; ``fp8_gemm`` (Triton), ``fp8_gemm_emulated`` (exact), ``scaled_mm``
(dispatcher: "auto" | "scaled_mm" | "triton" | "emulated"), ``check_fp8_gemm_operands``,
``count_fp8_gemm_ops``.

Compiled code checked without a GPU: Triton compiles these kernels for sm_90 on any machine and
ships ptxas, so tests/test_kernels_fp8_gemm.py compiles every GPU config and reads ptxas -v
(wgmma used, TMA only in the TMA kernel, no register spills, shared memory within 228 KB), and
``python -m bench.sm90 --family fp8_gemm`` compiles every launch of the benchmark and the GPU tests
through the real launcher and autotuners, the persistent kernel's included.
Speed was not measured when this was written (no GPU): bench/test_bench_fp8_gemm.py measures it.

Scaling recipes (kernels/fp8.py holds the casts and the tensorwise / rowwise scales)
----------------------------------------------------------------------------------
The GEMM takes the granularity as an explicit argument (never guessed from the scale shapes,
which coincide for some shapes) and checks the scales' shapes against it:

* ``tensorwise``: one scale per operand, shapes () and ().
* ``rowwise``:    one scale per row of A, (M, 1), and per *column* of B, (1, N) (each output
                  element sees one scale of each operand, so scales apply after accumulation).
* ``blockwise``:  DeepSeek-V3 / DeepGEMM: A in 1 x 128 blocks along K, scale_a (M, ceil(K/128));
                  B in 128 x 128 blocks, scale_b (ceil(K/128), ceil(N/128)). The scales change
                  along K, so they are applied *inside* the K loop: each 128-deep partial product
                  is accumulated from zero (in the tensor cores on a GPU), multiplied by its two
                  scales and added to the FP32 total (the "promotion" of DeepSeek-V3 section 3.3.2).
* ``DelayedScaling``: a per-tensor scale taken from the max of an amax history of the previous
                  L steps (Transformer Engine's recipe), updated after each use.

Non-divisible shapes (blockwise): the trailing blocks are partial (padded handling): a block is
the elements present, its amax is taken over them, and ``quantize_fp8_blockwise`` divides each
element by its own block's scale. The kernel's last K tile is masked with zeros, which add
nothing. torch._scaled_mm does not take partial blocks (its back-end here rejects K or N not a
multiple of 128 for blockwise).

FP8 in the Triton interpreter (checked on Triton 3.6, tests pin it)
-------------------------------------------------------------------
float8_e4m3fn / float8_e5m2 torch tensors can be passed to an interpreted kernel directly (they
are held as uint8 bit patterns). Loading and ``.to(tl.float32)`` decodes every *finite* code
exactly, but the special codes wrongly (e4m3 NaN 0x7F -> 480, e5m2 Inf 0x7C -> 65536, e5m2
NaNs -> 81920..114688): the interpreter decodes them as if the format had no specials. ``tl.dot``
on fp8 converts both operands to fp16 (exact for every finite e4m3 / e5m2 value) and multiplies
with ``np.matmul(..., dtype=float32)``, i.e. FP32 accumulation in BLAS order. Hence the
launcher's rule: operands holding NaN / Inf codes are rejected on the host (``check_values``),
on every device, rather than computed differently by the interpreter and the GPU.
The interpreter's fp32 -> bf16 cast truncates (round toward zero, with or without
``fp_downcast_rounding="rtne"``), where the GPU rounds to nearest even; so under the interpreter a
bf16 result is stored as fp32 by the kernel and rounded on the host by torch (round to nearest
even, what the compiled kernel's store does). Everything else runs in the kernel.

Accumulation order and what "equal" means
------------------------------------------
Each FP8 x FP8 product is exact in FP32; the sums are not. The emulation (``fp8_gemm_emulated``)
fixes the order: k = 0, 1, ... from +0 with one FP32 rounding per add (kernels/fp8.py's
``scaled_fp8_gemm_emulated``, sim/fp8.py, the fp8_mac RTL), per 128-block for blockwise. The
Triton kernel adds the same exact products in tensor-core / BLAS order, so the two agree within
the classic bound for n FP32 additions, |err| <= n * 2**-24 * sum_k |a_k b_k| (times the scales),
and bit for bit whenever every partial sum is exactly representable (integer-valued operands
with small sums, power-of-two scales): tests/test_kernels_fp8_gemm.py holds both.

On Hopper the fp8 tensor cores accumulate in reduced precision (DeepSeek-V3 measures ~14 bits
kept); Triton's sm_90 default lets them accumulate the whole K loop so ("fast accumulation").
This kernel instead passes ``max_num_imprecise_acc=128``: after every 128-deep K tile the tensor
core's partial sum is added into an FP32 accumulator (DeepSeek-V3's promotion interval), the
counterpart of torch._scaled_mm's default use_fast_accum=False; ``fast_accum=True`` restores
the fast mode. The blockwise path promotes per 128 block anyway (its scales change there).

Scale application order (all back-ends that this file computes):
  tensorwise / rowwise: ``out = (acc * scale_a) * scale_b``   (two FP32 roundings)
  blockwise:            ``acc = acc + (part_kb * sa[m, kb]) * sb[kb, n // 128]`` per K block
  then ``out + bias`` in FP32, then one cast to ``out_dtype``. (Compiled for a GPU, the last
  multiply and add may be contracted into one FMA: one rounding fewer, inside the tolerances.)
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass

import torch

from kernels._triton_env import CPU_LAUNCH_OK, TRITON_INTERPRET, tl, triton
from kernels._validate import max_element_offset
from kernels.fp8 import (
    FP8_DTYPES,
    FP8_MAX,
    _fmt_name,
    fp8_saturating,
    rowwise_scale,
    tensorwise_scale,
)

__all__ = [
    "BACKENDS",
    "GRANULARITIES",
    "SCALE_BLOCK",
    "DelayedScaling",
    "Fp8GemmOps",
    "blockwise_scale",
    "check_fp8_gemm_operands",
    "count_fp8_gemm_ops",
    "fp8_gemm",
    "fp8_gemm_emulated",
    "quantize_fp8_blockwise",
    "quantize_operands",
    "resolve_backend",
    "scaled_mm",
    "scaled_mm_scale_layout",
]

SCALE_BLOCK = 128  # DeepSeek-V3's block edge: 1x128 activations, 128x128 weights
GRANULARITIES = ("tensorwise", "rowwise", "blockwise")
_GRAN_CODE = {"tensorwise": 0, "rowwise": 1, "blockwise": 2}
BACKENDS = ("auto", "scaled_mm", "triton", "emulated")
OUT_DTYPES = (torch.bfloat16, torch.float32)
BLOCK_SHAPES = ((1, SCALE_BLOCK), (SCALE_BLOCK, SCALE_BLOCK))


# %%
# Scaling recipes
# ---------------


def _check_float_matrix(x, name: str) -> None:
    if not isinstance(x, torch.Tensor):
        raise TypeError(f"{name} must be a torch.Tensor, got {type(x).__name__}")
    if x.dtype not in (torch.float32, torch.float16, torch.bfloat16, torch.float64):
        raise TypeError(f"{name} must be a float32, float16, bfloat16 or float64 tensor, got {x.dtype}")
    if x.dim() != 2 or 0 in x.shape:
        raise ValueError(f"{name} must be a non-empty 2-D matrix, got shape {tuple(x.shape)}")


def _check_block(block) -> tuple[int, int]:
    try:
        block = tuple(int(v) for v in block)
    except TypeError:
        raise ValueError(f"block must be (1, 128) or (128, 128), got {block!r}") from None
    if block not in BLOCK_SHAPES:
        raise ValueError(f"block must be (1, 128) or (128, 128), got {block!r}")
    return block


def _block_amax(x: torch.Tensor, block: tuple[int, int]) -> torch.Tensor:
    """amax(|x|) over each (bm, bk) block, trailing partial blocks included: (ceil(R/bm), ceil(C/bk))."""
    bm, bk = block
    R, C = x.shape
    Rp, Cp = -(-R // bm) * bm, -(-C // bk) * bk
    a = x.detach().abs().to(torch.float32)
    if (Rp, Cp) != (R, C):  # pad with zeros: |0| never raises a block's amax, NaN stays visible
        a = torch.nn.functional.pad(a, (0, Cp - C, 0, Rp - R))
    return a.reshape(Rp // bm, bm, Cp // bk, bk).amax(dim=(1, 3))


def blockwise_scale(x: torch.Tensor, block=(1, SCALE_BLOCK), fmt="e4m3", *, eps: float | None = None) -> torch.Tensor:
    """Float32 dequantisation scales of ``x`` (R, C) in ``block`` = (1, 128) or (128, 128) blocks.

    Returns (ceil(R / bm), ceil(C / bk)): scale = amax(|block|) / fp8_max, trailing partial
    blocks taken over the elements present. A block of NaN / Inf values raises; an all-zero
    block raises too, unless ``eps`` > 0 is given, in which case amax is clamped to at least
    ``eps`` (torchao's convention for blocks that are legitimately zero, e.g. ReLU output).
    """
    _check_float_matrix(x, "x")
    name = _fmt_name(fmt)
    block = _check_block(block)
    if eps is not None and not (isinstance(eps, (int, float)) and eps > 0 and eps < float("inf")):
        raise ValueError(f"eps must be a positive finite float or None, got {eps!r}")
    amax = _block_amax(x, block)
    bad = ~torch.isfinite(amax)
    if bool(bad.any()):
        r, c = (int(v) for v in bad.nonzero()[0])
        raise ValueError(f"blockwise amax is NaN or Inf (first at block ({r}, {c})): x holds non-finite "
                         "values, no scale exists")
    if eps is not None:
        amax = amax.clamp_min(eps)
    zero = amax == 0
    if bool(zero.any()):
        r, c = (int(v) for v in zero.nonzero()[0])
        raise ValueError(f"blockwise amax is 0 (first at block ({r}, {c})): an all-zero block has no scale; "
                         "pass eps= to clamp it")
    return (amax / FP8_MAX[name]).to(torch.float32)


def _expand_block_scale(scale: torch.Tensor, block: tuple[int, int], shape) -> torch.Tensor:
    bm, bk = block
    return scale.repeat_interleave(bm, dim=0).repeat_interleave(bk, dim=1)[: shape[0], : shape[1]]


def quantize_fp8_blockwise(x: torch.Tensor, block=(1, SCALE_BLOCK), fmt="e4m3", *,
                           eps: float | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """(x_fp8, scale): every element divided by its block's scale, then the saturating cast."""
    name = _fmt_name(fmt)
    block = _check_block(block)
    scale = blockwise_scale(x, block, name, eps=eps)
    full = _expand_block_scale(scale, block, x.shape)
    return fp8_saturating(x.to(torch.float32) / full, name), scale


def quantize_operands(a: torch.Tensor, b: torch.Tensor, granularity: str = "tensorwise",
                      fmt_a="e4m3", fmt_b="e4m3"):
    """Quantise A (M, K) and B (K, N) for :func:`fp8_gemm` / :func:`scaled_mm` at ``granularity``.

    Returns (a_fp8, b_fp8, scale_a, scale_b) with the scale shapes the GEMM expects: () / ();
    (M, 1) / (1, N) (per row of A, per column of B); (M, ceil(K/128)) / (ceil(K/128), ceil(N/128)).
    """
    _check_granularity(granularity)
    _check_float_matrix(a, "a")
    _check_float_matrix(b, "b")
    fa, fb = _fmt_name(fmt_a), _fmt_name(fmt_b)
    if granularity == "tensorwise":
        sa, sb = tensorwise_scale(a, fa), tensorwise_scale(b, fb)
        qa, qb = fp8_saturating(a.to(torch.float32) / sa, fa), fp8_saturating(b.to(torch.float32) / sb, fb)
    elif granularity == "rowwise":
        sa, sb = rowwise_scale(a, fa), rowwise_scale(b.t(), fb).t()
        qa, qb = fp8_saturating(a.to(torch.float32) / sa, fa), fp8_saturating(b.to(torch.float32) / sb, fb)
    else:
        qa, sa = quantize_fp8_blockwise(a, (1, SCALE_BLOCK), fa)
        qb, sb = quantize_fp8_blockwise(b, (SCALE_BLOCK, SCALE_BLOCK), fb)
    return qa, qb, sa, sb


class DelayedScaling:
    """Per-tensor scale from an amax history (Transformer Engine's delayed scaling).

    Each :meth:`quantize` call uses the *current* scale, ``max(amax_history) * 2**margin /
    fp8_max``, then records the tensor's own amax in the history (a ring of length
    ``history_len``; the oldest entry drops out) and recomputes the scale for the next call. Values
    beyond the delayed scale saturate to +-fp8_max; :attr:`last_saturated` counts them.

    First step: the history is empty, so there is no delayed scale; the first call scales by the
    tensor's own amax (exactly :func:`kernels.fp8.tensorwise_scale` times ``2**margin``), then
    records it. An all-zero first tensor raises (no scale exists). Later all-zero tensors record
    0; while the history's max is 0 the previous scale is kept. A NaN / Inf tensor raises and
    leaves the state untouched.

    State (inspectable): ``amax_history`` (float32, (history_len,), newest at index 0, unfilled
    entries 0), ``scale`` (float32 0-d tensor, None before the first call), ``steps``.
    """

    def __init__(self, history_len: int = 16, fmt="e4m3", margin: int = 0):
        if isinstance(history_len, bool) or not isinstance(history_len, int) or history_len < 1:
            raise ValueError(f"history_len must be an int >= 1, got {history_len!r}")
        if isinstance(margin, bool) or not isinstance(margin, int) or margin < 0:
            raise ValueError(f"margin must be an int >= 0 (scale headroom 2**margin), got {margin!r}")
        self.fmt = _fmt_name(fmt)
        self.history_len, self.margin = history_len, margin
        self.amax_history = torch.zeros(history_len, dtype=torch.float32)
        self.scale: torch.Tensor | None = None
        self.steps = 0
        self.last_saturated = 0

    def _scale_for(self, amax: torch.Tensor) -> torch.Tensor:
        return (amax * (2.0**self.margin) / FP8_MAX[self.fmt]).to(torch.float32)

    def quantize(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(x_fp8, scale used) for this step; then the history and the next scale are updated."""
        if not isinstance(x, torch.Tensor):
            raise TypeError(f"x must be a torch.Tensor, got {type(x).__name__}")
        if x.dtype not in (torch.float32, torch.float16, torch.bfloat16, torch.float64):
            raise TypeError(f"x must be a float32, float16, bfloat16 or float64 tensor, got {x.dtype}")
        if x.numel() == 0:
            raise ValueError("x is empty: no amax to record")
        amax = x.detach().abs().amax().to(torch.float32).cpu()
        if not bool(torch.isfinite(amax)):
            raise ValueError(f"x holds NaN or Inf (step {self.steps}): amax is {amax.item()}, the history is "
                             "left unchanged")
        if self.scale is None:
            if amax.item() == 0:
                raise ValueError("the first tensor is all zero: no amax history yet and no scale from it")
            self.scale = self._scale_for(amax)
        scale = self.scale.clone()
        xs = x.to(torch.float32) / scale.to(x.device)
        self.last_saturated = int((xs.abs() > FP8_MAX[self.fmt]).sum())
        q = fp8_saturating(xs, self.fmt)
        self.update(amax)
        return q, scale

    def update(self, amax) -> None:
        """Record one amax (e.g. measured elsewhere) and recompute the scale for the next step."""
        amax = torch.as_tensor(amax, dtype=torch.float32).reshape(())
        if not bool(torch.isfinite(amax)) or amax.item() < 0:
            raise ValueError(f"amax must be finite and >= 0, got {amax.item()}")
        self.amax_history = torch.cat([amax.reshape(1), self.amax_history[:-1]])
        self.steps += 1
        top = self.amax_history.max()
        if top.item() > 0:
            self.scale = self._scale_for(top)

    def state(self) -> dict:
        return {"fmt": self.fmt, "history_len": self.history_len, "margin": self.margin, "steps": self.steps,
                "amax_history": self.amax_history.clone(),
                "scale": None if self.scale is None else self.scale.clone(),
                "last_saturated": self.last_saturated}


# %%
# The compute kernels
# -------------------
# One program computes a BLOCK_M x BLOCK_N tile of C (grouped launch order, as in
# kernels/int8_gemm.py). fp8 tiles go straight into ``tl.dot`` (wgmma on Hopper) with an FP32
# accumulator. GRAN (constexpr): 0 tensorwise, 1 rowwise (scales after the K loop), 2 blockwise
# (every K tile is one 128-deep scale block: BLOCK_K == 128, a fresh partial per tile, scaled by
# sa[m, kt] and sb[kt, n // 128] and added to the FP32 total, as vLLM's and DeepGEMM's block-FP8
# kernels do). Two kernels share the helpers below and differ only in how tiles are loaded:
#
# * ``fp8_gemm_kernel``: pointer loads, any strides. Rows / columns past M / N are wrapped
#   (% M, % N) to load in-bounds data that the masked store discards, so only the K edge needs
#   masks (EVEN_K skips them).
# * ``fp8_gemm_tma_kernel``: tensor descriptors (TMA on Hopper: the copy engine moves whole tiles,
#   out-of-bounds parts read as zero). Needs a row-major a and a column-major b (b.t() row-major,
#   the K-major layout wgmma wants for fp8), 16-byte aligned; ``fp8_gemm(..., tma=True)``.
# * ``fp8_gemm_persistent_kernel``: the TMA kernel made persistent (Triton's persistent matmul
#   tutorial for Hopper): one program per SM, each looping over output tiles tile_id = pid,
#   pid + NUM_SMS, ... in the same grouped order, so the launch costs one wave and a program's
#   next tile's loads can start while the last one's epilogue runs (``flatten``: the tile loop and
#   the K loop are software-pipelined as one). Same layout rules as the TMA kernel;
#   ``fp8_gemm(..., tma=True, persistent=True)``. Each tile is computed exactly as in the TMA kernel
#   (same dots in the same order), so the two give the same bits.


@triton.jit
def _tile_coords(M, N, BLOCK_M: tl.constexpr, BLOCK_N: tl.constexpr, GROUP_M: tl.constexpr):
    return _tile_coords_of(tl.program_id(axis=0), M, N, BLOCK_M, BLOCK_N, GROUP_M)


@triton.jit
def _tile_coords_of(pid, M, N, BLOCK_M: tl.constexpr, BLOCK_N: tl.constexpr, GROUP_M: tl.constexpr):
    """(pid_m, pid_n) of tile ``pid`` in the grouped order (GROUP_M row tiles side by side)."""
    num_pid_m = tl.cdiv(M, BLOCK_M)
    num_pid_n = tl.cdiv(N, BLOCK_N)
    num_pid_in_group = GROUP_M * num_pid_n
    group_id = pid // num_pid_in_group
    first_pid_m = group_id * GROUP_M
    group_size_m = tl.minimum(num_pid_m - first_pid_m, GROUP_M)
    pid_m = first_pid_m + ((pid % num_pid_in_group) % group_size_m)
    pid_n = (pid % num_pid_in_group) // group_size_m
    return pid_m, pid_n


@triton.jit
def _accumulate(acc, a, b, kt, pid_n, rows, cols, sa_ptr, sb_ptr, stride_sam, stride_sak, stride_sbk, stride_sbn,
                GRAN: tl.constexpr, FAST_ACCUM: tl.constexpr, SB: tl.constexpr,
                BLOCK_N: tl.constexpr, BLOCK_K: tl.constexpr):
    """acc + this K tile's products: scaled per 128-block (blockwise) or unscaled (tensorwise / rowwise)."""
    if GRAN == 2:
        part = tl.dot(a, b, out_dtype=tl.float32)
        sa = tl.load(sa_ptr + rows * stride_sam + kt * stride_sak)
        if SB % BLOCK_N == 0:  # the tile lies in one 128-column block of b: one scalar scale
            sb = tl.load(sb_ptr + kt * stride_sbk + ((pid_n * BLOCK_N) // SB) * stride_sbn)
            acc += part * sa[:, None] * sb
        else:
            sb = tl.load(sb_ptr + kt * stride_sbk + (cols // SB) * stride_sbn)
            acc += part * sa[:, None] * sb[None, :]
    elif FAST_ACCUM:  # Hopper: the whole K loop in the tensor cores' accumulator
        acc = tl.dot(a, b, acc, out_dtype=tl.float32)
    else:  # promoted to a separate FP32 accumulator after every BLOCK_K (= 128) products
        acc = tl.dot(a, b, acc, max_num_imprecise_acc=BLOCK_K, out_dtype=tl.float32)
    return acc


@triton.jit
def _epilogue(acc, c_ptr, sa_ptr, sb_ptr, bias_ptr, pid_m, pid_n, rows, cols, M, N,
              stride_cm, stride_cn, stride_sam, stride_sbn,
              GRAN: tl.constexpr, HAS_BIAS: tl.constexpr, BLOCK_M: tl.constexpr, BLOCK_N: tl.constexpr):
    """Tensorwise / rowwise scales, bias, one cast, the masked store. rows / cols: wrapped (% M, % N)."""
    if GRAN == 0:
        acc = acc * tl.load(sa_ptr) * tl.load(sb_ptr)
    elif GRAN == 1:
        acc = acc * tl.load(sa_ptr + rows * stride_sam)[:, None] * tl.load(sb_ptr + cols * stride_sbn)[None, :]
    if HAS_BIAS:
        acc = acc + tl.load(bias_ptr + cols).to(tl.float32)[None, :]
    offs_cm = pid_m * BLOCK_M + tl.arange(0, BLOCK_M)
    offs_cn = pid_n * BLOCK_N + tl.arange(0, BLOCK_N)
    c_ptrs = c_ptr + stride_cm * offs_cm[:, None] + stride_cn * offs_cn[None, :]
    tl.store(c_ptrs, acc.to(c_ptr.dtype.element_ty), mask=(offs_cm[:, None] < M) & (offs_cn[None, :] < N))


@triton.jit
def fp8_gemm_kernel(
    a_ptr, b_ptr, c_ptr, sa_ptr, sb_ptr, bias_ptr,
    M, N, K,
    stride_am, stride_ak, stride_bk, stride_bn, stride_cm, stride_cn,
    stride_sam, stride_sak, stride_sbk, stride_sbn,
    GRAN: tl.constexpr, HAS_BIAS: tl.constexpr, EVEN_K: tl.constexpr, SB: tl.constexpr, FAST_ACCUM: tl.constexpr,
    BLOCK_M: tl.constexpr, BLOCK_N: tl.constexpr, BLOCK_K: tl.constexpr, GROUP_M: tl.constexpr,
):
    pid_m, pid_n = _tile_coords(M, N, BLOCK_M, BLOCK_N, GROUP_M)
    rows = (pid_m * BLOCK_M + tl.arange(0, BLOCK_M)) % M
    cols = (pid_n * BLOCK_N + tl.arange(0, BLOCK_N)) % N
    offs_k = tl.arange(0, BLOCK_K)
    a_ptrs = a_ptr + (rows[:, None] * stride_am + offs_k[None, :] * stride_ak)
    b_ptrs = b_ptr + (offs_k[:, None] * stride_bk + cols[None, :] * stride_bn)

    acc = tl.zeros((BLOCK_M, BLOCK_N), dtype=tl.float32)
    for kt in range(tl.cdiv(K, BLOCK_K)):
        if EVEN_K:
            a = tl.load(a_ptrs)
            b = tl.load(b_ptrs)
        else:
            k_left = K - kt * BLOCK_K
            a = tl.load(a_ptrs, mask=offs_k[None, :] < k_left, other=0.0)
            b = tl.load(b_ptrs, mask=offs_k[:, None] < k_left, other=0.0)
        acc = _accumulate(acc, a, b, kt, pid_n, rows, cols, sa_ptr, sb_ptr, stride_sam, stride_sak, stride_sbk,
                          stride_sbn, GRAN, FAST_ACCUM, SB, BLOCK_N, BLOCK_K)
        a_ptrs += BLOCK_K * stride_ak
        b_ptrs += BLOCK_K * stride_bk

    _epilogue(acc, c_ptr, sa_ptr, sb_ptr, bias_ptr, pid_m, pid_n, rows, cols, M, N, stride_cm, stride_cn,
              stride_sam, stride_sbn, GRAN, HAS_BIAS, BLOCK_M, BLOCK_N)


@triton.jit
def fp8_gemm_tma_kernel(
    a_desc, bt_desc, c_ptr, sa_ptr, sb_ptr, bias_ptr,
    M, N, K,
    stride_cm, stride_cn,
    stride_sam, stride_sak, stride_sbk, stride_sbn,
    GRAN: tl.constexpr, HAS_BIAS: tl.constexpr, EVEN_K: tl.constexpr, SB: tl.constexpr, FAST_ACCUM: tl.constexpr,
    BLOCK_M: tl.constexpr, BLOCK_N: tl.constexpr, BLOCK_K: tl.constexpr, GROUP_M: tl.constexpr,
):
    # a_desc: a (M, K) in [BLOCK_M, BLOCK_K] tiles; bt_desc: b.t() (N, K) in [BLOCK_N, BLOCK_K] tiles.
    # EVEN_K is unused (out-of-bounds tile parts load as zero); kept for one launch signature.
    pid_m, pid_n = _tile_coords(M, N, BLOCK_M, BLOCK_N, GROUP_M)
    rows = (pid_m * BLOCK_M + tl.arange(0, BLOCK_M)) % M
    cols = (pid_n * BLOCK_N + tl.arange(0, BLOCK_N)) % N
    acc = tl.zeros((BLOCK_M, BLOCK_N), dtype=tl.float32)
    for kt in range(tl.cdiv(K, BLOCK_K)):
        a = a_desc.load([pid_m * BLOCK_M, kt * BLOCK_K])
        b = bt_desc.load([pid_n * BLOCK_N, kt * BLOCK_K]).T
        acc = _accumulate(acc, a, b, kt, pid_n, rows, cols, sa_ptr, sb_ptr, stride_sam, stride_sak, stride_sbk,
                          stride_sbn, GRAN, FAST_ACCUM, SB, BLOCK_N, BLOCK_K)
    _epilogue(acc, c_ptr, sa_ptr, sb_ptr, bias_ptr, pid_m, pid_n, rows, cols, M, N, stride_cm, stride_cn,
              stride_sam, stride_sbn, GRAN, HAS_BIAS, BLOCK_M, BLOCK_N)


@triton.jit
def fp8_gemm_persistent_kernel(
    a_desc, bt_desc, c_ptr, sa_ptr, sb_ptr, bias_ptr,
    M, N, K,
    stride_cm, stride_cn,
    stride_sam, stride_sak, stride_sbk, stride_sbn,
    GRAN: tl.constexpr, HAS_BIAS: tl.constexpr, EVEN_K: tl.constexpr, SB: tl.constexpr, FAST_ACCUM: tl.constexpr,
    BLOCK_M: tl.constexpr, BLOCK_N: tl.constexpr, BLOCK_K: tl.constexpr, GROUP_M: tl.constexpr,
    NUM_SMS: tl.constexpr, FLATTEN: tl.constexpr,
):
    # Launched with min(NUM_SMS, tiles) programs; program p computes tiles p, p + NUM_SMS, ...
    # (descriptors as in fp8_gemm_tma_kernel; EVEN_K unused there too).
    num_tiles = tl.cdiv(M, BLOCK_M) * tl.cdiv(N, BLOCK_N)
    k_tiles = tl.cdiv(K, BLOCK_K)
    for tile_id in tl.range(tl.program_id(axis=0), num_tiles, NUM_SMS, flatten=FLATTEN):
        pid_m, pid_n = _tile_coords_of(tile_id, M, N, BLOCK_M, BLOCK_N, GROUP_M)
        rows = (pid_m * BLOCK_M + tl.arange(0, BLOCK_M)) % M
        cols = (pid_n * BLOCK_N + tl.arange(0, BLOCK_N)) % N
        acc = tl.zeros((BLOCK_M, BLOCK_N), dtype=tl.float32)
        for kt in range(k_tiles):
            a = a_desc.load([pid_m * BLOCK_M, kt * BLOCK_K])
            b = bt_desc.load([pid_n * BLOCK_N, kt * BLOCK_K]).T
            acc = _accumulate(acc, a, b, kt, pid_n, rows, cols, sa_ptr, sb_ptr, stride_sam, stride_sak, stride_sbk,
                              stride_sbn, GRAN, FAST_ACCUM, SB, BLOCK_N, BLOCK_K)
        _epilogue(acc, c_ptr, sa_ptr, sb_ptr, bias_ptr, pid_m, pid_n, rows, cols, M, N, stride_cm, stride_cn,
                  stride_sam, stride_sbn, GRAN, HAS_BIAS, BLOCK_M, BLOCK_N)


# %%
# Tuning
# ------
# Hopper (H100 / H200: 228 KB shared memory and 255 registers per thread at most): tiles from
# Triton's fp8 matmul tutorial, all with BLOCK_K = 128 (a 128-byte fp8 row per load, and exactly
# one blockwise scale block per K step, which the blockwise path requires). The register budget
# differs per variant, so each gets its own list. Fast accumulation holds one FP32 tile per
# thread; promotion every 128 products (the default) holds a second one for the tensor cores'
# partial sums, and blockwise holds the scaled partial as well. Compiled offline for sm_90 with
# Triton 3.6 and read back with ptxas -v (no GPU needed; tests/test_kernels_fp8_gemm.py repeats
# it): every listed config stays within 255 registers with no spills and within shared memory,
# in both kernels, while the ones left out spill (pointer kernel: 128x256/8 warps 208 B precise,
# 284 B blockwise; 256x128/8 warps 200 B blockwise; 128x128/4 warps 232 B blockwise; 16 warps cap
# registers at 128 and all spill; the TMA kernel needs fewer registers but spills on the same
# tiles). The lists stay short because each tile is compiled once per variant on first use.
# Not timed on a GPU when written: no GPU was at hand (see the benchmark for measured figures).

_VARIANT_TILES = {  # (BLOCK_M, BLOCK_N, num_stages, num_warps)
    "fast": [(128, 256, 3, 8), (256, 128, 3, 8), (128, 128, 4, 8), (64, 256, 4, 8)],
    "precise": [(256, 128, 3, 8), (128, 128, 4, 8), (64, 256, 4, 8)],
    "blockwise": [(128, 128, 4, 8), (64, 256, 4, 8), (64, 128, 4, 4)],
}


# The persistent kernel's own lists (checked the same way, by bench/sm90.py): its programs loop
# over tiles, and with ``flatten`` the software pipeline spans the tile loop, which costs
# registers; the 128 x 256 fast-accumulation tile (Triton's Hopper fp8 tutorial tile, 8 warps)
# is the one the persistent fast variant is for.
_PERSISTENT_TILES = {  # (BLOCK_M, BLOCK_N, num_stages, num_warps)
    "fast": [(128, 256, 3, 8), (256, 128, 3, 8), (128, 128, 4, 8), (64, 256, 4, 8)],
    "precise": [(256, 128, 3, 8), (128, 128, 4, 8), (64, 256, 4, 8)],
    "blockwise": [(128, 128, 4, 8), (64, 256, 4, 8), (64, 128, 4, 4)],
}
#: the persistent kernel's ``tl.range(..., flatten=)``: one software pipeline over tiles and K steps
PERSISTENT_FLATTEN = True
#: programs of a persistent launch when compiling only (H100 / H200 have 132 SMs) ...
SM90_NUM_SMS = 132
#: ... and in the interpreter: a few, so that the tests' small problems loop over several tiles
INTERPRETER_NUM_SMS = 3


def _num_sms(device: torch.device) -> int:
    """Programs of a persistent launch: the GPU's SM count (132 when only compiling for sm_90)."""
    if TRITON_INTERPRET:
        return INTERPRETER_NUM_SMS
    if device.type == "cuda":
        return torch.cuda.get_device_properties(device).multi_processor_count
    return SM90_NUM_SMS


def _variant(gran: int, fast_accum: bool) -> str:
    return "blockwise" if gran == 2 else ("fast" if fast_accum else "precise")


def _set_tma_block_shapes(nargs) -> None:
    """Autotuner pre-hook of the TMA kernel: the descriptors' tile shapes follow the config."""
    nargs["a_desc"].block_shape = [nargs["BLOCK_M"], nargs["BLOCK_K"]]
    nargs["bt_desc"].block_shape = [nargs["BLOCK_N"], nargs["BLOCK_K"]]


def _config(bm, bn, stages, warps, pre_hook=None) -> triton.Config:
    return triton.Config({"BLOCK_M": bm, "BLOCK_N": bn, "BLOCK_K": SCALE_BLOCK, "GROUP_M": 8},
                         num_stages=stages, num_warps=warps, pre_hook=pre_hook)


def _gpu_configs(pre_hook=None, table=None) -> list:
    """Every tile of every variant, once (the autotuner's list; _prune_configs picks per call)."""
    table = _VARIANT_TILES if table is None else table
    tiles = sorted({t for ts in table.values() for t in ts}, reverse=True)
    return [_config(*t, pre_hook=pre_hook) for t in tiles]


def _tile(c) -> tuple:
    return (c.kwargs["BLOCK_M"], c.kwargs["BLOCK_N"], c.num_stages, c.num_warps)


def _prune_configs(configs, named_args, table=None, **kwargs):
    """The variant's own tiles; for M <= 64 (skinny) only 64-row tiles, which every variant has."""
    args = {**named_args, **kwargs}
    allowed = set((_VARIANT_TILES if table is None else table)[_variant(args["GRAN"], args["FAST_ACCUM"])])
    kept = [c for c in configs if _tile(c) in allowed]
    if args["M"] <= 64:
        kept = [c for c in kept if c.kwargs["BLOCK_M"] == 64] or kept
    return kept


def _prune_persistent_configs(configs, named_args, **kwargs):
    return _prune_configs(configs, named_args, table=_PERSISTENT_TILES, **kwargs)


def _quick_bench(kernel_call, quantiles):
    from triton.testing import do_bench

    return do_bench(kernel_call, warmup=5, rep=25, quantiles=quantiles)


_AUTOTUNE_KEY = ["M", "N", "K", "GRAN", "HAS_BIAS", "EVEN_K", "FAST_ACCUM"]
fp8_gemm_kernel_autotuned = triton.autotune(
    configs=_gpu_configs(), key=_AUTOTUNE_KEY, prune_configs_by={"early_config_prune": _prune_configs},
    do_bench=_quick_bench,
)(fp8_gemm_kernel)
fp8_gemm_tma_kernel_autotuned = triton.autotune(
    configs=_gpu_configs(_set_tma_block_shapes), key=_AUTOTUNE_KEY,
    prune_configs_by={"early_config_prune": _prune_configs}, do_bench=_quick_bench,
)(fp8_gemm_tma_kernel)
fp8_gemm_persistent_kernel_autotuned = triton.autotune(
    configs=_gpu_configs(_set_tma_block_shapes, _PERSISTENT_TILES), key=_AUTOTUNE_KEY,
    prune_configs_by={"early_config_prune": _prune_persistent_configs}, do_bench=_quick_bench,
)(fp8_gemm_persistent_kernel)

# The interpreter runs each program in NumPy: one small tile, BLOCK_K still 128 (blockwise needs
# one scale block per K step), BLOCK_M / BLOCK_N small so that tests cross tile edges.
INTERPRETER_CONFIG = {"BLOCK_M": 16, "BLOCK_N": 32, "BLOCK_K": SCALE_BLOCK, "GROUP_M": 2}
# Small GPU problems: one fixed tile instead of autotuning (compile time would dominate).
SMALL_PROBLEM_MACS = 2**24
SMALL_GPU_CONFIG = {"BLOCK_M": 64, "BLOCK_N": 64, "BLOCK_K": SCALE_BLOCK, "GROUP_M": 8, "num_warps": 4,
                    "num_stages": 3}


# %%
# Operand checks (shared by every back-end)
# -----------------------------------------


def _check_granularity(granularity) -> str:
    if granularity not in GRANULARITIES:
        raise ValueError(f"granularity must be 'tensorwise', 'rowwise' or 'blockwise', got {granularity!r}")
    return granularity


def _scale_shapes(granularity: str, M: int, N: int, K: int) -> tuple[tuple, tuple]:
    if granularity == "tensorwise":
        return (), ()
    if granularity == "rowwise":
        return (M, 1), (1, N)
    kb = -(-K // SCALE_BLOCK)
    return (M, kb), (kb, -(-N // SCALE_BLOCK))


def _nonfinite_fp8(x: torch.Tensor) -> torch.Tensor:
    """Boolean mask of NaN / Inf codes, from the bit patterns (no decode)."""
    c = x.view(torch.uint8)
    if x.dtype == torch.float8_e4m3fn:
        return (c & 0x7F) == 0x7F  # S.1111.111 is NaN; e4m3fn has no Inf
    return (c & 0x7C) == 0x7C  # e5m2: exponent all ones is Inf or NaN


def check_fp8_gemm_operands(a, b, scale_a, scale_b, granularity, bias=None, out_dtype=torch.bfloat16,
                            check_values: bool = True) -> tuple[int, int, int]:
    """Check everything about a scaled FP8 GEMM call before any back-end runs; return (M, N, K)."""
    _check_granularity(granularity)
    for name, x in (("a", a), ("b", b)):
        if not isinstance(x, torch.Tensor):
            raise TypeError(f"{name} must be a torch.Tensor, got {type(x).__name__}")
        if x.dtype not in FP8_DTYPES.values():
            raise TypeError(f"{name} must be torch.float8_e4m3fn or torch.float8_e5m2, got {x.dtype}")
        if x.dim() != 2:
            raise ValueError(f"{name} must be a 2-D matrix, got shape {tuple(x.shape)}")
    (M, K), (K_b, N) = a.shape, b.shape
    if K != K_b:
        raise ValueError(f"inner dimensions must match: a is (M, K) = {(M, K)} but b is (K, N) = {(K_b, N)}")
    if K == 0:
        raise ValueError("K = 0: a and b have no inner dimension to reduce over")
    if a.device != b.device:
        raise ValueError(f"a and b must be on the same device, got a on {a.device} and b on {b.device}")
    if out_dtype not in OUT_DTYPES:
        raise TypeError(f"out_dtype must be torch.bfloat16 or torch.float32, got {out_dtype}")
    want_a, want_b = _scale_shapes(granularity, M, N, K)
    for name, s, want in (("scale_a", scale_a, want_a), ("scale_b", scale_b, want_b)):
        if not isinstance(s, torch.Tensor) or s.dtype != torch.float32:
            got = s.dtype if isinstance(s, torch.Tensor) else type(s).__name__
            raise TypeError(f"{name} must be a float32 tensor, got {got}")
        if tuple(s.shape) != want:
            raise ValueError(f"{name} must have shape {want} for {granularity} scaling of a {(M, K)} x {(K, N)} "
                             f"GEMM, got {tuple(s.shape)}")
        if s.device != a.device:
            raise ValueError(f"{name} must be on the operands' device {a.device}, got {s.device}")
    if bias is not None:
        if not isinstance(bias, torch.Tensor) or bias.dtype not in OUT_DTYPES:
            got = bias.dtype if isinstance(bias, torch.Tensor) else type(bias).__name__
            raise TypeError(f"bias must be a bfloat16 or float32 tensor, got {got}")
        if tuple(bias.shape) != (N,):
            raise ValueError(f"bias must have shape (N,) = {(N,)}, got {tuple(bias.shape)}")
        if bias.device != a.device:
            raise ValueError(f"bias must be on the operands' device {a.device}, got {bias.device}")
    if check_values:  # reads back to the host: a device sync on a GPU (pass False in timing loops)
        for name, s in (("scale_a", scale_a), ("scale_b", scale_b)):
            bad = ~(torch.isfinite(s) & (s > 0))
            if bool(bad.any()):
                idx = tuple(int(v) for v in bad.nonzero()[0]) if s.dim() else ()
                raise ValueError(f"{name} must be positive and finite, got {s[idx].item()} at index {idx}: a zero, "
                                 "negative, NaN or Inf scale has no meaning")
        for name, x in (("a", a), ("b", b)):
            bad = _nonfinite_fp8(x)
            if bool(bad.any()):
                r, c = (int(v) for v in bad.nonzero()[0])
                raise ValueError(f"{name} holds NaN or Inf fp8 codes (first at ({r}, {c})): the saturating casts "
                                 "never produce them from finite data; quantise finite inputs")
    return M, N, K


# %%
# The Triton launcher
# -------------------


def _check_tma_layout(a: torch.Tensor, b: torch.Tensor) -> None:
    """TMA descriptors need a row-major a and a column-major b (b.t() row-major): unit stride along
    K, the other stride a multiple of 16 bytes, and 16-byte aligned base addresses."""
    ok_a = a.stride(1) == 1 and a.stride(0) % 16 == 0 and a.data_ptr() % 16 == 0
    ok_b = b.stride(0) == 1 and b.stride(1) % 16 == 0 and b.data_ptr() % 16 == 0
    if not (ok_a and ok_b):
        raise ValueError(f"tma=True needs a row-major a and a column-major b (b = w.t() of a row-major (N, K) w) with "
                         f"rows of a multiple of 16 bytes and 16-byte aligned data: got a strides {a.stride()}, b "
                         f"strides {b.stride()}; use tma=False (any strides) or copy the operands into that layout")


def fp8_gemm(a: torch.Tensor, b: torch.Tensor, scale_a: torch.Tensor, scale_b: torch.Tensor, *,
             out_dtype: torch.dtype = torch.bfloat16, granularity: str = "tensorwise",
             bias: torch.Tensor | None = None, check_values: bool = True,
             fast_accum: bool = False, tma: bool = False, persistent: bool = False) -> torch.Tensor:
    """The Triton kernel: ``(a_fp8 * scale_a) @ (b_fp8 * scale_b) [+ bias]``, FP32 accumulation.

    ``a`` (M, K), ``b`` (K, N): float8_e4m3fn / float8_e5m2, any strides (for speed on Hopper pass
    ``b`` column-major, ``b = w.t()`` for a row-major (N, K) weight ``w``). Scales (float32) shaped
    per ``granularity`` (module docstring). ``bias`` (N,) bf16 / fp32. ``check_values`` (default
    True) rejects zero / negative / NaN / Inf scales and NaN / Inf operand codes; it reads back to
    the host, so timing loops pass False. ``fast_accum`` (tensorwise / rowwise, GPU only): let
    Hopper's fp8 tensor cores accumulate the whole K loop in their reduced-precision accumulator
    (Triton's sm_90 default, torch._scaled_mm's use_fast_accum=True); by default the partial sums
    are promoted to FP32 every 128 products (DeepSeek-V3's interval; blockwise always works so).
    ``tma``: load tiles through tensor descriptors (``fp8_gemm_tma_kernel``; needs row-major a and
    column-major b, else a ValueError says so) instead of pointer loads; same results.
    ``persistent`` (with ``tma=True``): the persistent TMA kernel (``fp8_gemm_persistent_kernel``),
    one program per SM looping over the output tiles; the same bits as ``tma=True`` alone.
    On a CPU-only machine runs in Triton's interpreter (exact FP32 accumulation either way).
    """
    M, N, K = check_fp8_gemm_operands(a, b, scale_a, scale_b, granularity, bias, out_dtype, check_values)
    for name, flag in (("fast_accum", fast_accum), ("tma", tma), ("persistent", persistent)):
        if not isinstance(flag, bool):
            raise TypeError(f"{name} must be a bool, got {type(flag).__name__}")
    if persistent and not tma:
        raise ValueError("persistent=True needs tma=True: the persistent kernel loads its tiles through TMA "
                         "descriptors (row-major a, column-major b)")
    kind = a.device.type
    if kind == "cpu" and not CPU_LAUNCH_OK:
        raise RuntimeError("a and b are on cpu but TRITON_INTERPRET=1 is not set: the compiled Triton kernel needs "
                           "CUDA tensors; move them to CUDA, use backend='emulated', or set TRITON_INTERPRET=1 "
                           "before triton is imported")
    if kind not in ("cuda", "cpu"):
        raise ValueError(f"a and b are on {a.device}; fp8_gemm runs on cuda (or on cpu under TRITON_INTERPRET=1)")
    out = torch.empty((M, N), dtype=out_dtype, device=a.device)
    for name, x in (("a", a), ("b", b), ("out", out)):
        if max_element_offset(x) > 2**31 - 1:
            raise ValueError(f"{name} spans more than 2**31-1 elements (shape {tuple(x.shape)}, strides "
                             f"{x.stride()}); fp8_gemm indexes with int32 offsets")
    if tma:
        _check_tma_layout(a, b)
    if M == 0 or N == 0:
        return out
    # the interpreter's fp32 -> bf16 cast truncates: the kernel writes fp32 there, torch rounds it
    out_k = torch.empty((M, N), dtype=torch.float32, device=a.device) if (
        TRITON_INTERPRET and out_dtype == torch.bfloat16) else out
    gran = _GRAN_CODE[granularity]
    sa2 = scale_a.reshape(1, 1) if gran == 0 else scale_a
    sb2 = scale_b.reshape(1, 1) if gran == 0 else scale_b
    tail = (sa2.stride(0), sa2.stride(1), sb2.stride(0), sb2.stride(1))
    consts = {"GRAN": gran, "HAS_BIAS": bias is not None, "EVEN_K": K % SCALE_BLOCK == 0, "SB": SCALE_BLOCK,
              "FAST_ACCUM": fast_accum}
    bias_arg = bias if bias is not None else out_k
    if TRITON_INTERPRET:
        config = INTERPRETER_CONFIG
    elif M * N * K <= SMALL_PROBLEM_MACS:
        config = SMALL_GPU_CONFIG
    else:
        config = None  # autotuned

    num_sms = _num_sms(a.device) if persistent else 0

    def grid(meta):
        tiles = triton.cdiv(M, meta["BLOCK_M"]) * triton.cdiv(N, meta["BLOCK_N"])
        return (min(num_sms, tiles),) if persistent else (tiles,)

    if tma:
        from triton.tools.tensor_descriptor import TensorDescriptor

        bm, bn = (config["BLOCK_M"], config["BLOCK_N"]) if config else (64, 64)  # autotuned: the pre-hook sets them
        a_desc = TensorDescriptor.from_tensor(a, [bm, SCALE_BLOCK])
        bt_desc = TensorDescriptor.from_tensor(b.t(), [bn, SCALE_BLOCK])
        args = (a_desc, bt_desc, out_k, scale_a, scale_b, bias_arg, M, N, K, out_k.stride(0), out_k.stride(1), *tail)
        kernel, tuned = fp8_gemm_tma_kernel, fp8_gemm_tma_kernel_autotuned
        if persistent:
            kernel, tuned = fp8_gemm_persistent_kernel, fp8_gemm_persistent_kernel_autotuned
            consts.update(NUM_SMS=num_sms, FLATTEN=PERSISTENT_FLATTEN)
    else:
        args = (a, b, out_k, scale_a, scale_b, bias_arg, M, N, K, a.stride(0), a.stride(1), b.stride(0), b.stride(1),
                out_k.stride(0), out_k.stride(1), *tail)
        kernel, tuned = fp8_gemm_kernel, fp8_gemm_kernel_autotuned
    if TRITON_INTERPRET:
        kernel[grid](*args, **consts, **config)
    else:
        with torch.cuda.device(a.device) if a.is_cuda else contextlib.nullcontext():  # CPU: compile-only
            if config is not None:
                kernel[grid](*args, **consts, **config)
            else:
                tuned[grid](*args, **consts)
    if out_k is not out:
        out.copy_(out_k)
    return out


# %%
# The exact emulation
# -------------------


def _sequential_dot(af: torch.Tensor, bf: torch.Tensor) -> torch.Tensor:
    """sum_k af[:, k] * bf[k, :] in order k = 0, 1, ... from +0, one FP32 rounding per add."""
    acc = torch.zeros((af.shape[0], bf.shape[1]), dtype=torch.float32, device=af.device)
    for k in range(af.shape[1]):
        acc = torch.add(acc, torch.mul(af[:, k : k + 1], bf[k : k + 1, :]))  # exact product, one rounding
    return acc


def fp8_gemm_emulated(a: torch.Tensor, b: torch.Tensor, scale_a: torch.Tensor, scale_b: torch.Tensor, *,
                      out_dtype: torch.dtype = torch.bfloat16, granularity: str = "tensorwise",
                      bias: torch.Tensor | None = None, check_values: bool = True) -> torch.Tensor:
    """Exact emulation of :func:`fp8_gemm` in a defined order (module docstring), on any device.

    fp8 decoded to fp32 (exact), products exact, sums sequential over k in FP32; blockwise: per
    128-block sums from +0, then ``acc = acc + (part * sa) * sb``. O(K) torch ops over (M, N):
    for the small shapes of tests and as the reference; not a fast path.
    """
    M, N, K = check_fp8_gemm_operands(a, b, scale_a, scale_b, granularity, bias, out_dtype, check_values)
    af, bf = a.to(torch.float32), b.to(torch.float32)
    if granularity == "blockwise":
        sb_cols = scale_b.repeat_interleave(SCALE_BLOCK, dim=1)[:, :N]  # (KB, N): scale_b[kb, n // 128]
        acc = torch.zeros((M, N), dtype=torch.float32, device=a.device)
        for kb, k0 in enumerate(range(0, K, SCALE_BLOCK)):
            part = _sequential_dot(af[:, k0 : k0 + SCALE_BLOCK], bf[k0 : k0 + SCALE_BLOCK, :])
            acc = torch.add(acc, torch.mul(torch.mul(part, scale_a[:, kb : kb + 1]), sb_cols[kb : kb + 1, :]))
    else:
        acc = torch.mul(torch.mul(_sequential_dot(af, bf), scale_a), scale_b)
    if bias is not None:
        acc = torch.add(acc, bias.to(torch.float32))
    return acc.to(out_dtype)


# %%
# The dispatcher
# --------------
# torch._scaled_mm's own rules (checked here before the call so that a wrong combination fails
# with a message, never by silently running another back-end): CUDA only; a row-major, b
# column-major; K and N multiples of 16; e5m2 x e5m2 is not a cuBLAS fp8 combination; rowwise
# and blockwise take e4m3 operands and a bf16 output; a bias must be bf16 with a bf16 output.
# Blockwise (1x128 / 128x128, float32 scales) needs torch >= 2.9 with cuBLAS >= 12.9 on sm90;
# its scale_a is passed outer-dim-major and its scale_b column-major (torch's own tests' layout),
# K and N multiples of 128. Anything torch still refuses is re-raised naming the combination.


def resolve_backend(backend: str, device: torch.device) -> str:
    """The concrete back-end ``backend`` means for operands on ``device``: auto -> scaled_mm on
    CUDA, emulated elsewhere (no switching on the operands' properties)."""
    if backend not in BACKENDS:
        raise ValueError(f"backend must be one of {', '.join(map(repr, BACKENDS))}, got {backend!r}")
    if backend == "auto":
        return "scaled_mm" if torch.device(device).type == "cuda" else "emulated"
    return backend


def _is_row_major(x: torch.Tensor) -> bool:
    return x.stride(1) == 1 and (x.stride(0) >= x.shape[1] or x.shape[0] == 1)


def _is_col_major(x: torch.Tensor) -> bool:
    return x.stride(0) == 1 and (x.stride(1) >= x.shape[0] or x.shape[1] == 1)


def _check_scaled_mm_combination(a, b, granularity, out_dtype, bias, K: int, N: int) -> None:
    """torch._scaled_mm's layout, size and dtype rules (the comment above), checked before the call."""
    where = f"backend='scaled_mm' ({granularity}, a {a.dtype} {tuple(a.shape)}, b {b.dtype} {tuple(b.shape)})"
    if not _is_row_major(a):
        raise ValueError(f"{where}: torch._scaled_mm needs a row-major, got strides {a.stride()}; pass a.contiguous()")
    if not _is_col_major(b):
        raise ValueError(f"{where}: torch._scaled_mm needs b column-major, got strides {b.stride()}; pass "
                         "b.t().contiguous().t() (or the transpose of a row-major (N, K) weight)")
    if K % 16 or N % 16:
        raise ValueError(f"{where}: torch._scaled_mm needs K and N to be multiples of 16, got K = {K}, N = {N}")
    if a.dtype == torch.float8_e5m2 and b.dtype == torch.float8_e5m2:
        raise ValueError(f"{where}: e5m2 x e5m2 is not a cuBLAS fp8 combination; make one operand e4m3")
    if granularity != "tensorwise":
        if a.dtype != torch.float8_e4m3fn or b.dtype != torch.float8_e4m3fn:
            raise ValueError(f"{where}: torch._scaled_mm takes {granularity} scales with e4m3 operands only")
        if out_dtype != torch.bfloat16:
            raise ValueError(f"{where}: torch._scaled_mm gives {granularity} results in bf16 only, got out_dtype "
                             f"{out_dtype}")
    if bias is not None and (bias.dtype != torch.bfloat16 or out_dtype != torch.bfloat16):
        raise ValueError(f"{where}: torch._scaled_mm adds a bias only as bf16 into a bf16 output, got bias "
                         f"{bias.dtype}, out_dtype {out_dtype}")
    if granularity == "blockwise" and (K % SCALE_BLOCK or N % SCALE_BLOCK):
        raise ValueError(f"{where}: torch._scaled_mm takes blockwise scales only for K and N multiples of "
                         f"{SCALE_BLOCK}, got K = {K}, N = {N}; use backend='triton' (partial blocks)")


def scaled_mm_scale_layout(scale_a: torch.Tensor, scale_b: torch.Tensor, granularity: str):
    """The scales as torch._scaled_mm wants them: blockwise scale_a (M, K/128) outer-dim-major and
    scale_b (K/128, N/128) column-major (copies of tiny tensors); others unchanged."""
    if granularity != "blockwise":
        return scale_a, scale_b
    return scale_a.t().contiguous().t(), scale_b.t().contiguous().t()


def _scaled_mm_call(a, b, scale_a, scale_b, granularity, out_dtype, bias, M, N, K, fast_accum=False):
    where = f"backend='scaled_mm' ({granularity}, a {a.dtype} {tuple(a.shape)}, b {b.dtype} {tuple(b.shape)})"
    if a.device.type != "cuda":
        raise ValueError(f"{where}: torch._scaled_mm runs on CUDA only, the operands are on {a.device}; use "
                         "backend='emulated' (exact, CPU) or 'triton'")
    _check_scaled_mm_combination(a, b, granularity, out_dtype, bias, K, N)
    sa, sb = scaled_mm_scale_layout(scale_a, scale_b, granularity)
    try:
        return torch._scaled_mm(a, b, sa, sb, bias=bias, out_dtype=out_dtype, use_fast_accum=bool(fast_accum))
    except (RuntimeError, NotImplementedError) as e:
        raise RuntimeError(f"{where}: torch {torch.__version__} (CUDA {torch.version.cuda}) rejected this "
                           f"combination: {e}. Use backend='triton' or 'emulated'") from e


def scaled_mm(a: torch.Tensor, b: torch.Tensor, scale_a: torch.Tensor, scale_b: torch.Tensor, *,
              backend: str = "auto", granularity: str = "tensorwise", out_dtype: torch.dtype = torch.bfloat16,
              bias: torch.Tensor | None = None, check_values: bool = True, fast_accum: bool = False) -> torch.Tensor:
    """Scaled FP8 GEMM through one of: ``scaled_mm`` (torch._scaled_mm, CUDA), ``triton``
    (:func:`fp8_gemm`), ``emulated`` (:func:`fp8_gemm_emulated`, exact), ``auto`` (scaled_mm on
    CUDA, emulated elsewhere). Same operands and result for every back-end; a combination the
    chosen back-end cannot run raises, naming it, instead of running a different back-end.
    ``fast_accum`` allows reduced-precision accumulation on the GPU back-ends (use_fast_accum of
    torch._scaled_mm); the emulation, the precise reference, always accumulates in FP32."""
    concrete = resolve_backend(backend, a.device if isinstance(a, torch.Tensor) else "cpu")
    if concrete == "triton":
        return fp8_gemm(a, b, scale_a, scale_b, out_dtype=out_dtype, granularity=granularity, bias=bias,
                        check_values=check_values, fast_accum=fast_accum)
    if concrete == "emulated":
        return fp8_gemm_emulated(a, b, scale_a, scale_b, out_dtype=out_dtype, granularity=granularity, bias=bias,
                                 check_values=check_values)
    M, N, K = check_fp8_gemm_operands(a, b, scale_a, scale_b, granularity, bias, out_dtype, check_values)
    return _scaled_mm_call(a, b, scale_a, scale_b, granularity, out_dtype, bias, M, N, K, fast_accum)


# %%
# Operation and byte count
# ------------------------


@dataclass(frozen=True)
class Fp8GemmOps:
    """Work and ideal traffic of one scaled FP8 GEMM (each operand, scale and output moved once)."""

    M: int
    N: int
    K: int
    macs: int
    flops: int  # 2 per MAC
    scale_muls: int  # FP32 multiplies applying scales (blockwise: per K block)
    bytes_moved: int

    @property
    def arithmetic_intensity(self) -> float:
        return self.flops / self.bytes_moved if self.bytes_moved else 0.0


def count_fp8_gemm_ops(M: int, N: int, K: int, granularity: str = "tensorwise",
                       out_dtype: torch.dtype = torch.bfloat16) -> Fp8GemmOps:
    for name, v in (("M", M), ("N", N), ("K", K)):
        if isinstance(v, bool) or not isinstance(v, int) or v < 0:
            raise ValueError(f"{name} must be a non-negative int, got {v!r}")
    _check_granularity(granularity)
    if out_dtype not in OUT_DTYPES:
        raise TypeError(f"out_dtype must be torch.bfloat16 or torch.float32, got {out_dtype}")
    sa_shape, sb_shape = _scale_shapes(granularity, M, N, K)
    n_scales = (sa_shape[0] * sa_shape[1] if sa_shape else 1) + (sb_shape[0] * sb_shape[1] if sb_shape else 1)
    kb = -(-K // SCALE_BLOCK)
    scale_muls = 2 * M * N * (kb if granularity == "blockwise" else 1)
    out_bytes = 2 if out_dtype == torch.bfloat16 else 4
    return Fp8GemmOps(M, N, K, M * N * K, 2 * M * N * K, scale_muls,
                      M * K + K * N + out_bytes * M * N + 4 * n_scales)
