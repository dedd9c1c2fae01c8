"""
Codebook GEMM in Triton: y = x W^T with W[n, k] = scale[n, g] * codebook[n // R, code[n, k]]
==========================================================================================

The kernel of the codebook quantisers (kernels/codebook_quant.py: NUPES, DGMS): W is never formed
in memory. Its codes are packed ``bits``-bit fields (2, 3 or 4), each an index into a 2^bits-entry
fp16 codebook, one codebook per group of R = ``rows_per_codebook`` output rows (R = N: one per
layer), optionally times an fp16/fp32 scale per output row and group of ``group_size`` input
columns. Activations are fp16, bf16 or fp32; accumulation is fp32; y is fp32. The file reads top
to bottom: the idea, the kernels, the plan, the launcher, the torch reference, the counts.

The idea
--------
At decode batch sizes the layer is bound by streaming its weights: bits/8 bytes per weight
(+ 2 bytes per scale group) instead of bf16's 2. The codes are unpacked in registers and each
looks its value up in a table held in registers, as kernels/lut_gemm.py reads its nibble tables:
Triton has no user-visible shared memory, so the table is a register tensor of (BLOCK_N, 2^bits)
entries (the codebook row of each of the program's output rows; all alike for a per-layer
codebook, which the compiler then holds once) and ``tl.gather`` along the entry axis reads it.
Triton 3.6 lays a gather out warp-local (TritonGPUOptimizeThreadLocality): the entries of a table
row spread over the lanes of one warp, and a read is one warp shuffle when a table row fits in
one register per lane, which 16 entries do. Hence one warp per program, as in lut_gemm: with
several warps the gather's layout would spread a step over warps.

Per program (BLOCK_M activation rows, BLOCK_N output rows, a K range), per step of CHUNK codes:

1. the step's packed words of every row are loaded (CHUNK bits / 32 int32 words per row, one
   contiguous run) and cut into codes by shifts: 4 bits are 8 codes per word, 2 bits 16; 3 bits
   keep lowbit_format's "32 codes in 3 words" stream (codes 10 and 21 straddle two words), so
   every 3 words are first cut into four 24-bit windows of 8 whole codes (two funnel shifts);
2. one ``tl.gather`` turns the (BLOCK_N, CHUNK) codes into codebook values;
3. the values meet the activations, in one of two forms:

   * FMA form, M = 1 (decode): the group's scale is folded into the table once per group
     (s[n] * codebook[j], exact in fp32), and each step adds value * x into a (BLOCK_N, CHUNK)
     accumulator that stays in the gather's own layout; it is summed over the CHUNK positions once,
     after the last step. (The first version summed every step: a cross-lane reduction and a
     layout change per step, 17.7 instructions per code; now 4.9-6.2.)
   * dot form, M > 1 (16 rows per program, the batch padded): ``tl.dot`` on the tensor cores
     (fp16 x: the fp16 values as they are, exact products; bf16 x: each fp16 value split exactly
     into bf16 hi + lo, two dots; fp32 x: an ieee fp32 dot), each group's dots summed and then
     multiplied by the group's scale (a step lies in one group: CHUNK divides group_size).

Split-K: at decode batches 1 x 28672 x 8192 gives 448 programs of 64 rows for 132 SMs, so the
launcher splits K into KSPLIT ranges of steps; every split writes its partial sums to a workspace
(KSPLIT, M, N) and a second small kernel adds them in the fixed order s = 0, 1, ...: no atomics,
the result is deterministic run to run (it depends on the split, which is fixed per shape and SM
count).

What it should reach (not measured: no GPU was at hand). The step loops as Triton 3.6 compiles
them for sm_90 (bench/sm90.py's compilations, nvdisasm; one codebook with group-128 scales, the
benchmark's format) issue, per code and thread: M = 1: 6.2 (3 bits), 4.9 (4 bits), 5.5 (2 bits);
M = 16: 9.5, 7.6, 6.8 (the dequantised tile goes through shared memory to the mma). At 132 SMs x
128 lanes x 1.98 GHz that bounds 1 x 28672 x 8192 at ~44 us (3 bits) and ~34 us (4 bits), against
the bytes' ~22 us and ~29 us at the measured 4.24 TB/s copy rate and bf16's ~123 us: issue-bound at
3 bits (~2.8x bf16 at best), near the bandwidth line at 4 bits (~3.6x).

Exactness and tolerance
-----------------------
The codebook is fp16. Dot form: with fp16 or bf16 activations every product x * codebook value
is exact in fp32 (11 + 11 or 8 + 11 significant bits <= 24). FMA form: the scaled entry s *
codebook[j] is exact in fp32, its product with x rounds once (as every product does with fp32
activations). The sums (over a step, over steps, the group's scale product, over splits, the
final sum over positions) are fp32 in an order different from a dense matmul's, so against the
float64 reference, elementwise,

    |y - ref| <= (K + 64) * 2**-23 * (|x| @ |W|^T)

(the gamma_n bound of n <= K + 2 * steps + splits + 6 sequential fp32 roundings, with a factor 2
of margin for the tensor cores' fp32 accumulation, which is not round-to-nearest in every step).
Where every product and every partial sum is an integer below 2**24 (integer-valued x, codebook
and scales) nothing rounds at all and the kernel equals the reference exactly, for every split
and form; tests hold both.

Known interpreter faults (DESIGN.md): bf16 ``tl.dot`` is unreliable there, so under
TRITON_INTERPRET the dot form widens its tiles to fp32 and dots in ieee fp32 (the values and
products are the same exact numbers).
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass

import torch

from kernels._triton_env import CPU_LAUNCH_OK, TRITON_INTERPRET, tl, triton
from kernels._validate import max_element_offset
from kernels.codebook_quant import CodebookWeight, codebook_dequantize
from kernels.lowbit_format import BITS, is_int, packed_words
from kernels.lut_gemm import MAX_GRID_YZ, PROGRAMS_PER_SM, split_k_steps  # noqa: F401  (one split-K rule; re-exported)

__all__ = [
    "CodebookGemmOps",
    "FLOAT_ACTIVATIONS",
    "codebook_gemm",
    "codebook_gemm_plan",
    "codebook_gemm_reference",
    "codebook_gemm_weight",
    "codebook_tolerance",
    "count_codebook_ops",
]

FLOAT_ACTIVATIONS = (torch.float16, torch.bfloat16, torch.float32)
SCALE_DTYPES = (torch.float16, torch.float32)

# %%
# The kernels
# -----------


@triton.jit
def _step_codes(p_ptr, offs_n, n_mask, w0, W, stride_pn, stride_pw,
                BITS: tl.constexpr, CPW: tl.constexpr, BLOCK_N: tl.constexpr, CHUNK: tl.constexpr):
    """(BLOCK_N, CHUNK) int32: the codes of one step, whose words start at word w0 of each row.

    Words at or past W (the row's last word) read as 0: code 0, which meets a zero activation."""
    row = p_ptr + offs_n[:, None] * stride_pn
    if BITS == 3:
        # 32 codes in 3 words; four 24-bit windows of 8 codes each (window v = stream bits 24v..24v+23)
        U: tl.constexpr = CHUNK // 32
        offs_u = w0 + 3 * tl.arange(0, U)[None, :]
        m = n_mask[:, None]
        a = tl.load(row + offs_u * stride_pw, mask=m & (offs_u < W), other=0).to(tl.uint32, bitcast=True)
        b = tl.load(row + (offs_u + 1) * stride_pw, mask=m & (offs_u + 1 < W), other=0).to(tl.uint32, bitcast=True)
        c = tl.load(row + (offs_u + 2) * stride_pw, mask=m & (offs_u + 2 < W), other=0).to(tl.uint32, bitcast=True)
        win0 = a & 0xFFFFFF
        win1 = (a >> 24) | ((b & 0xFFFF) << 8)
        win2 = (b >> 16) | ((c & 0xFF) << 16)
        win3 = c >> 8
        # join(join(w0, w2), join(w1, w3)) flattens to w0, w1, w2, w3
        win = tl.reshape(tl.join(tl.join(win0, win2), tl.join(win1, win3)), (BLOCK_N, U * 4))
    else:
        NW: tl.constexpr = CHUNK * BITS // 32
        offs_w = w0 + tl.arange(0, NW)[None, :]
        win = tl.load(row + offs_w * stride_pw, mask=n_mask[:, None] & (offs_w < W), other=0).to(tl.uint32,
                                                                                                  bitcast=True)
    shifts = (tl.arange(0, CPW) * BITS).to(tl.uint32)
    codes = (win[:, :, None] >> shifts[None, None, :]) & ((1 << BITS) - 1)
    return tl.reshape(codes, (BLOCK_N, CHUNK)).to(tl.int32)


@triton.jit(do_not_specialize=["M", "N", "ROWS_PER_CB", "STEPS", "STEPS_PER_GROUP", "STEPS_PER_SPLIT", "stride_os",
                               "stride_om"])
def codebook_gemm_kernel(
    x_ptr, p_ptr, cb_ptr, s_ptr, out_ptr,
    M, N, K, W, ROWS_PER_CB, STEPS, STEPS_PER_GROUP, STEPS_PER_SPLIT,
    stride_xm, stride_xk, stride_pn, stride_pw, stride_cn, stride_ce, stride_sn, stride_sg,
    stride_os, stride_om, stride_on,
    BITS: tl.constexpr, CPW: tl.constexpr, HAS_SCALES: tl.constexpr, ONE_CODEBOOK: tl.constexpr,
    DOT: tl.constexpr, DOT_KIND: tl.constexpr,
    BLOCK_M: tl.constexpr, BLOCK_N: tl.constexpr, CHUNK: tl.constexpr,
):
    # DOT_KIND (dot form only): 0 ieee fp32 dot, 1 fp16 dot, 2 bf16 hi + lo dots.
    # out is (splits, M, N) fp32 (or y itself, stride_os = 0, when there is one split).
    pid_m = tl.program_id(axis=0)
    pid_n = tl.program_id(axis=1)
    pid_k = tl.program_id(axis=2)
    ENTRIES: tl.constexpr = 1 << BITS
    offs_m = pid_m * BLOCK_M + tl.arange(0, BLOCK_M)
    offs_n = pid_n * BLOCK_N + tl.arange(0, BLOCK_N)
    m_mask = offs_m < M
    n_mask = offs_n < N
    # the program's table, loaded once: the codebook row of each output row; with one codebook for
    # the layer (ONE_CODEBOOK) one row broadcast, so the compiler holds its entries once, not per row
    if ONE_CODEBOOK:
        tab = tl.broadcast_to(tl.load(cb_ptr + tl.arange(0, ENTRIES) * stride_ce)[None, :], (BLOCK_N, ENTRIES))
    else:
        cb_rows = cb_ptr + (offs_n // ROWS_PER_CB)[:, None] * stride_cn
        tab = tl.load(cb_rows + tl.arange(0, ENTRIES)[None, :] * stride_ce, mask=n_mask[:, None], other=0)
    if not DOT:
        tab = tab.to(tl.float32)
    x_rows = x_ptr + offs_m[:, None] * stride_xm

    # the FMA form (BLOCK_M = 1) keeps a product sum per (row, step position) in the gather's own
    # layout and reduces it over the positions once, at the end: no per-step cross-lane reduction;
    # the dot form sums each group's dots and scales them once per group
    acc = tl.zeros((BLOCK_M, BLOCK_N), dtype=tl.float32)
    acc2 = tl.zeros((BLOCK_N, CHUNK), dtype=tl.float32)
    c_begin = pid_k * STEPS_PER_SPLIT
    c_end = tl.minimum(c_begin + STEPS_PER_SPLIT, STEPS)
    for grp in range(c_begin // STEPS_PER_GROUP, tl.cdiv(c_end, STEPS_PER_GROUP)):
        lo = tl.maximum(c_begin, grp * STEPS_PER_GROUP)
        hi = tl.minimum(c_end, (grp + 1) * STEPS_PER_GROUP)
        if HAS_SCALES:
            sc = tl.load(s_ptr + offs_n * stride_sn + grp * stride_sg, mask=n_mask, other=0).to(tl.float32)
        if DOT:
            part = tl.zeros((BLOCK_M, BLOCK_N), dtype=tl.float32)
        else:
            tab_g = tab * sc[:, None] if HAS_SCALES else tab  # the group's scale folded into the table
        for c in range(lo, hi):
            codes = _step_codes(p_ptr, offs_n, n_mask, c * (CHUNK * BITS // 32), W, stride_pn, stride_pw,
                                BITS, CPW, BLOCK_N, CHUNK)
            offs_k = c * CHUNK + tl.arange(0, CHUNK)
            if DOT:
                wv = tl.gather(tab, codes, axis=1)  # (BLOCK_N, CHUNK) codebook values: the table lookup
                xv = tl.load(x_rows + offs_k[None, :] * stride_xk, mask=m_mask[:, None] & (offs_k[None, :] < K),
                             other=0)
                if DOT_KIND == 1:  # fp16 x fp16: exact products
                    part = tl.dot(xv, tl.trans(wv), part)
                elif DOT_KIND == 2:  # bf16 x: the fp16 values split exactly into bf16 hi + lo
                    w_hi = wv.to(tl.bfloat16)
                    w_lo = (wv.to(tl.float32) - w_hi.to(tl.float32)).to(tl.bfloat16)
                    part = tl.dot(xv, tl.trans(w_hi), part)
                    part = tl.dot(xv, tl.trans(w_lo), part)
                else:
                    part = tl.dot(xv.to(tl.float32), tl.trans(wv.to(tl.float32)), part, input_precision="ieee")
            else:
                wv = tl.gather(tab_g, codes, axis=1)  # (BLOCK_N, CHUNK) scaled codebook values
                xv = tl.load(x_ptr + pid_m * stride_xm + offs_k * stride_xk, mask=offs_k < K, other=0)
                acc2 += wv * xv.to(tl.float32)[None, :]
        if DOT:
            if HAS_SCALES:
                acc += part * sc[None, :]
            else:
                acc += part
    if not DOT:
        acc = tl.sum(acc2, axis=1)[None, :]
    out_ptrs = out_ptr + pid_k * stride_os + offs_m[:, None] * stride_om + offs_n[None, :] * stride_on
    tl.store(out_ptrs, acc, mask=m_mask[:, None] & n_mask[None, :])


@triton.jit
def codebook_splitk_reduce_kernel(part_ptr, y_ptr, MN, SPLITS, BLOCK: tl.constexpr):
    """y[i] = sum_{s < SPLITS} part[s, i] (part contiguous (SPLITS, M N), y contiguous (M, N)),
    s = 0, 1, ... in that order: deterministic."""
    offs = tl.program_id(axis=0) * BLOCK + tl.arange(0, BLOCK)
    mask = offs < MN
    acc = tl.load(part_ptr + offs, mask=mask, other=0)
    for s in range(1, SPLITS):
        acc += tl.load(part_ptr + s * MN + offs, mask=mask, other=0)
    tl.store(y_ptr + offs, acc, mask=mask)


# %%
# The plan
# --------
# Reasoned from the sm_90 compilations, not timed (no GPU was at hand): registers from ptxas,
# instructions per code from the disassembled step loop (bench/sm90.py). One warp per program
# (module docstring). FMA form (M = 1): 64 rows x 32 codes per step, 64 lookups and 64 accumulators
# per thread, 168-200 registers, 4.9-6.2 instructions per code; 128 x 32 spills, 32 x 64 issues
# 5-20% more. Dot form (M > 1): 32 x 32, 96-128 registers, 6.8-9.5 instructions per code; 64 x 32
# issues 7-18% fewer at 168-248 registers (a quarter of the resident warps), so 32 x 32. fp32
# activations (an ieee fp32 dot, no tensor cores) take ~250 registers already at 16 x 32.

#: BLOCK_M -> (BLOCK_N, CHUNK) on the GPU; DOT_FP32_TILE for the dot form with fp32 activations
GPU_TILES = {1: (64, 32), 16: (32, 32)}
DOT_FP32_TILE = (16, 32)
GPU_NUM_WARPS = 1
GPU_NUM_STAGES = 2
#: batch rows per program: 1 (the FMA form) or 16 (the dot form, any M > 1)
MAX_BLOCK_M = 16
FMA_MAX_M = 1
#: SMs assumed where no GPU is asked (the interpreter, compile-only): an H100 / H200
DEFAULT_SM_COUNT = 132
#: the interpreter runs every program in Python: small tiles, still crossing every edge in the tests
INTERPRETER_TILES = {1: (16, 32), 16: (16, 32)}
REDUCE_BLOCK = 1024


def _block_m(M: int) -> int:
    return 1 if M <= FMA_MAX_M else MAX_BLOCK_M


def codebook_gemm_plan(M: int, N: int, K: int, bits: int, group_size: int | None = None,
                       sm_count: int = DEFAULT_SM_COUNT, *, split_k: int | None = None,
                       dtype: torch.dtype = torch.float16, interpret: bool = TRITON_INTERPRET) -> dict:
    """The launch geometry of :func:`codebook_gemm`: tile, step, K split, grid.

    ``group_size``: the scale groups' width (None: no scales, or one group per row), which the
    step must divide. ``split_k`` None: split K until the grid holds PROGRAMS_PER_SM programs per
    SM (or every split has one step); an int: at most that many splits. ``dtype``: the
    activations' (fp32 takes a narrower dot-form tile).
    """
    for name, v in (("M", M), ("N", N), ("K", K), ("sm_count", sm_count)):
        if not is_int(v) or v < 1:
            raise ValueError(f"{name} must be a positive int, got {v!r}")
    if not is_int(bits) or bits not in BITS:
        raise ValueError(f"bits must be one of {BITS}, got {bits!r}")
    if group_size is not None and (not is_int(group_size) or group_size < 1 or K % group_size):
        raise ValueError(f"group_size must be None or a positive int dividing K = {K}, got {group_size!r}")
    grouped = group_size is not None and group_size < K
    if grouped and group_size % 32:
        raise ValueError(f"group_size {group_size} must be a multiple of 32 when there are several groups per row "
                         f"(a step of 32 codes lies in one group)")
    if split_k is not None and (not is_int(split_k) or split_k < 1):
        raise ValueError(f"split_k must be None (automatic) or a positive int, got {split_k!r}")
    if dtype not in FLOAT_ACTIVATIONS:
        raise ValueError(f"dtype must be {_names(FLOAT_ACTIVATIONS)}, got {dtype!r}")
    block_m = _block_m(M)
    block_n, chunk = (INTERPRETER_TILES if interpret else GPU_TILES)[block_m]
    if block_m > FMA_MAX_M and dtype == torch.float32 and not interpret:
        block_n, chunk = DOT_FP32_TILE
    if grouped:
        while group_size % chunk:
            chunk //= 2  # 32 always divides
    steps = -(-K // chunk)
    m_tiles, n_tiles = -(-M // block_m), -(-N // block_n)
    if n_tiles > MAX_GRID_YZ:
        raise ValueError(f"N = {N} output rows need {n_tiles} programs of {block_n}; the grid holds at most "
                         f"{MAX_GRID_YZ}")
    per_split, ksplit = split_k_steps(steps, m_tiles * n_tiles, sm_count, split_k)
    plan = {"BLOCK_M": block_m, "BLOCK_N": block_n, "CHUNK": chunk, "DOT": block_m > FMA_MAX_M,
            "steps": steps, "steps_per_group": group_size // chunk if grouped else steps,
            "steps_per_split": per_split, "ksplit": ksplit, "grid": (m_tiles, n_tiles, ksplit)}
    if not interpret:
        plan |= {"num_warps": GPU_NUM_WARPS, "num_stages": GPU_NUM_STAGES}
    return plan


# %%
# The launcher
# ------------


def _names(dtypes) -> str:
    return "/".join(str(d).removeprefix("torch.") for d in dtypes)


def check_codebook_operands(x, packed, codebook, bits, scales=None, group_size=None) -> tuple[int, int, int, int]:
    """Check the codebook GEMM's operands; return (M, N, K, rows_per_codebook)."""
    for name, t in (("x", x), ("packed", packed), ("codebook", codebook)):
        if not isinstance(t, torch.Tensor):
            raise TypeError(f"{name} must be a torch.Tensor, got {type(t).__name__}")
    if not is_int(bits) or bits not in BITS:
        raise ValueError(f"bits must be one of {BITS}, got {bits!r}")
    if x.dtype not in FLOAT_ACTIVATIONS:
        raise TypeError(f"x must be {_names(FLOAT_ACTIVATIONS)}, got {x.dtype}")
    if x.dim() != 2 or x.shape[1] == 0:
        raise ValueError(f"x must be a 2-D (M, K) matrix with K >= 1, got shape {tuple(x.shape)}")
    M, K = x.shape
    if packed.dtype != torch.int32:
        raise TypeError(f"packed must have dtype torch.int32 (packed {bits}-bit codes), got {packed.dtype}")
    if packed.dim() != 2:
        raise ValueError(f"packed must be 2-D (N, ceil(K * bits / 32)), got shape {tuple(packed.shape)}")
    N, words = packed.shape
    if words != packed_words(K, bits):
        raise ValueError(f"packed has {words} words per row, but K = {K} (x's columns) at {bits} bits needs "
                         f"ceil(K * bits / 32) = {packed_words(K, bits)}")
    if codebook.dtype != torch.float16:
        raise TypeError(f"codebook must have dtype torch.float16, got {codebook.dtype}")
    if codebook.dim() != 2 or codebook.shape[1] != 1 << bits or codebook.shape[0] == 0 or \
            (N and N % codebook.shape[0]):
        raise ValueError(f"codebook must be (N / rows_per_codebook, 2^bits) with N = {N} and 2^bits = {1 << bits}, "
                         f"got shape {tuple(codebook.shape)}")
    rows = max(1, N // codebook.shape[0])
    if scales is None:
        if group_size is not None:
            raise ValueError(f"group_size = {group_size!r} was given without scales; pass scales (N, K / group_size) "
                             f"or leave group_size None")
    else:
        if not isinstance(scales, torch.Tensor):
            raise TypeError(f"scales must be None or a torch.Tensor, got {type(scales).__name__}")
        if scales.dtype not in SCALE_DTYPES:
            raise TypeError(f"scales must be {_names(SCALE_DTYPES)}, got {scales.dtype}")
        if not is_int(group_size) or group_size < 1 or K % group_size:
            raise ValueError(f"group_size must be a positive int dividing K = {K} when scales are given, "
                             f"got {group_size!r}")
        if tuple(scales.shape) != (N, K // group_size):
            raise ValueError(f"scales must have shape (N, K / group_size) = {(N, K // group_size)}, "
                             f"got {tuple(scales.shape)}")
        if K // group_size > 1 and group_size % 32:
            raise ValueError(f"group_size {group_size} must be a multiple of 32 when a row has several groups "
                             f"(a step of 32 codes lies in one group)")
    devices = {t.device for t in (x, packed, codebook) + (() if scales is None else (scales,))}
    if len(devices) > 1:
        raise ValueError(f"x, packed, codebook and scales must be on one device, got {sorted(map(str, devices))}")
    if codebook.numel() and not bool(torch.isfinite(codebook).all()):
        raise ValueError("codebook must be finite (it holds inf or NaN)")
    return M, N, K, rows


def codebook_gemm(x: torch.Tensor, packed: torch.Tensor, codebook: torch.Tensor, bits: int, *,
                  scales: torch.Tensor | None = None, group_size: int | None = None,
                  split_k: int | None = None) -> torch.Tensor:
    """y = x W^T (fp32, (M, N)) for the codebook format of kernels/codebook_quant.py.

    ``x`` (M, K) fp16 / bf16 / fp32; ``packed`` (N, ceil(K bits / 32)) int32 (each row's bit stream,
    :func:`~kernels.codebook_quant.pack_codebook_codes`); ``codebook`` (N / R, 2^bits) fp16, row
    n reading codebook row n // R; ``scales`` (N, K / group_size) fp16/fp32 or None. ``split_k``:
    None (automatic) or the most K splits to use, added in a fixed order (deterministic).
    """
    M, N, K, rows = check_codebook_operands(x, packed, codebook, bits, scales, group_size)
    kind = x.device.type
    if kind == "cpu" and not CPU_LAUNCH_OK:
        raise RuntimeError(
            "the operands are on cpu but TRITON_INTERPRET=1 is not set: the compiled Triton kernel "
            "needs CUDA tensors; move them to CUDA, or set TRITON_INTERPRET=1 before triton is imported"
        )
    if kind not in ("cuda", "cpu"):
        raise ValueError(f"the operands are on {x.device}; codebook_gemm runs on cuda (or on cpu under "
                         f"TRITON_INTERPRET=1)")
    g = None if scales is None else group_size
    y = torch.empty((M, N), dtype=torch.float32, device=x.device)
    if M == 0 or N == 0:
        if split_k is not None:
            codebook_gemm_plan(1, 1, K, bits, g, split_k=split_k, dtype=x.dtype)  # the same argument check
        return y
    sm_count = torch.cuda.get_device_properties(x.device).multi_processor_count if x.is_cuda else DEFAULT_SM_COUNT
    plan = codebook_gemm_plan(M, N, K, bits, g, sm_count, split_k=split_k, dtype=x.dtype)
    ksplit = plan["ksplit"]
    out = y if ksplit == 1 else torch.empty((ksplit, M, N), dtype=torch.float32, device=x.device)
    s = codebook if scales is None else scales  # a placeholder pointer when there are no scales
    for name, t in (("x", x), ("packed", packed), ("codebook", codebook), ("scales", s), ("workspace", out)):
        if max_element_offset(t) > 2**31 - 1:
            raise ValueError(f"{name} spans more than 2**31-1 elements; codebook_gemm indexes with int32 offsets")
    dot_kind = 0
    if plan["DOT"] and not TRITON_INTERPRET:
        dot_kind = {torch.float16: 1, torch.bfloat16: 2, torch.float32: 0}[x.dtype]
    args = (
        x, packed, codebook, s, out, M, N, K, packed.shape[1], rows, plan["steps"], plan["steps_per_group"],
        plan["steps_per_split"],
        x.stride(0), x.stride(1), packed.stride(0), packed.stride(1), codebook.stride(0), codebook.stride(1),
        *((0, 0) if scales is None else scales.stride()),
        *((0, *y.stride()) if ksplit == 1 else out.stride()),
    )
    meta = {"BITS": bits, "CPW": 8 if bits == 3 else 32 // bits, "HAS_SCALES": scales is not None,
            "ONE_CODEBOOK": codebook.shape[0] == 1,
            "DOT": plan["DOT"], "DOT_KIND": dot_kind,
            **{k: plan[k] for k in ("BLOCK_M", "BLOCK_N", "CHUNK")}}
    if not TRITON_INTERPRET:
        meta |= {"num_warps": plan["num_warps"], "num_stages": plan["num_stages"]}
    with torch.cuda.device(x.device) if x.is_cuda else contextlib.nullcontext():  # CPU: interpreter, compile-only
        codebook_gemm_kernel[plan["grid"]](*args, **meta)
        if ksplit > 1:
            mn = M * N
            codebook_splitk_reduce_kernel[(triton.cdiv(mn, REDUCE_BLOCK),)](out, y, mn, ksplit, BLOCK=REDUCE_BLOCK)
    return y


def codebook_gemm_weight(x: torch.Tensor, weight: CodebookWeight, *, split_k: int | None = None) -> torch.Tensor:
    """:func:`codebook_gemm` with a quantiser's :class:`~kernels.codebook_quant.CodebookWeight`."""
    if not isinstance(weight, CodebookWeight):
        raise TypeError(f"weight must be a kernels.codebook_quant.CodebookWeight, got {type(weight).__name__}")
    return codebook_gemm(x, weight.packed, weight.codebook, weight.bits, scales=weight.scales,
                         group_size=weight.group_size if weight.scales is not None else None, split_k=split_k)


# %%
# The reference and the tolerance
# -------------------------------


def codebook_gemm_reference(x: torch.Tensor, packed: torch.Tensor, codebook: torch.Tensor, bits: int, *,
                            scales: torch.Tensor | None = None, group_size: int | None = None) -> torch.Tensor:
    """y = x W^T in float64 with W dequantised densely (exact): the value the kernel approximates."""
    _, _, K, _ = check_codebook_operands(x, packed, codebook, bits, scales, group_size)
    w = codebook_dequantize(packed, codebook, scales, bits, K, group_size, torch.float64)
    return x.to(torch.float64) @ w.T


def codebook_tolerance(x: torch.Tensor, packed: torch.Tensor, codebook: torch.Tensor, bits: int, *,
                       scales: torch.Tensor | None = None, group_size: int | None = None) -> torch.Tensor:
    """The elementwise bound of the module docstring: (K + 64) 2^-23 (|x| @ |W|^T), float64."""
    _, _, K, _ = check_codebook_operands(x, packed, codebook, bits, scales, group_size)
    w = codebook_dequantize(packed, codebook, scales, bits, K, group_size, torch.float64)
    return (K + 64) * 2.0**-23 * (x.to(torch.float64).abs() @ w.abs().T)


# %%
# Operation and byte count
# ------------------------


@dataclass(frozen=True)
class CodebookGemmOps:
    """Work and ideal traffic of one codebook GEMM (each operand moved once)."""

    M: int
    N: int
    K: int
    bits: int
    table_lookups: int  # one per weight (the GPU kernel's dequantising lookup, shared by the batch rows)
    engine_lookups: int  # one per weight and batch row (the LUT engine's x * codebook[j] tables)
    macs: int
    scale_muls: int
    bytes_moved: int

    @property
    def dense_equivalent_flops(self) -> int:
        return 2 * self.M * self.N * self.K


def count_codebook_ops(M: int, N: int, K: int, bits: int, n_codebooks: int = 1, group_size: int | None = None,
                       act_bytes: int = 2, scale_bytes: int = 2, out_bytes: int = 4) -> CodebookGemmOps:
    """Counts of y = x W^T: packed codes (ceil(K bits/32) words per row), fp16 codebooks, scales
    (``group_size`` None: none), x and y."""
    for name, v in (("M", M), ("N", N), ("K", K), ("n_codebooks", n_codebooks), ("act_bytes", act_bytes),
                    ("scale_bytes", scale_bytes), ("out_bytes", out_bytes)):
        if not is_int(v) or v < 0:
            raise ValueError(f"{name} must be a non-negative int, got {v!r}")
    if not is_int(bits) or bits not in BITS:
        raise ValueError(f"bits must be one of {BITS}, got {bits!r}")
    if group_size is not None and (not is_int(group_size) or group_size < 1 or (K and K % group_size)):
        raise ValueError(f"group_size must be None or a positive int dividing K = {K}, got {group_size!r}")
    G = 0 if group_size is None or not K else K // group_size
    codes = 4 * N * packed_words(K, bits)
    return CodebookGemmOps(
        M=M, N=N, K=K, bits=bits, table_lookups=N * K, engine_lookups=M * N * K, macs=M * N * K,
        scale_muls=M * N * G,
        bytes_moved=codes + 2 * (1 << bits) * n_codebooks + scale_bytes * N * G + act_bytes * M * K + out_bytes * M * N,
    )


# %%
# A quick self-check: ``python -m kernels.codebook_gemm``.
if __name__ == "__main__":
    from kernels.codebook_quant import nupes_quantize

    torch.manual_seed(0)
    device = "cpu" if TRITON_INTERPRET else "cuda"
    w = torch.randn(40, 128)
    cw = nupes_quantize(w, 3, 64)
    x = torch.randn(3, 128).to(torch.float16)
    got = codebook_gemm_weight(x.to(device), CodebookWeight(cw.packed.to(device), cw.codebook.to(device),
                                                           cw.scales.to(device), 3, 128, 64, "nupes"))
    want = codebook_gemm_reference(x, cw.packed, cw.codebook, 3, scales=cw.scales, group_size=64)
    tol = codebook_tolerance(x, cw.packed, cw.codebook, 3, scales=cw.scales, group_size=64)
    ok = bool(((got.cpu().double() - want).abs() <= tol).all())
    print(f"codebook_gemm fp16 3x40x128 3-bit on {device}: {'within' if ok else 'OUTSIDE'} the stated tolerance "
          f"(max error {float((got.cpu().double() - want).abs().max()):.3g})")
