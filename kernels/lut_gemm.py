"""
LUT-based binary-coded GEMM in Triton: y = x W^T with W = sum_i alpha_i B_i, B_i in {-1, +1}
===========================================================================================

The kernel of ShiftAddLLM / LUT-GEMM, written as a Triton kernel that also runs batch > 1 and
accumulates in int32 (integer activations, exact) or fp32 (float activations). It reads top to
bottom: the idea, the kernel, its tuning, the launcher, the torch reference it is held to, and
the operation/byte counter the energy model and the benchmark (bench/test_bench_lut_gemm.py) use.

The idea
--------
Weights come from kernels/bcq.py: q sign planes packed 8 columns to a byte (bit t of byte kb is
column 8*kb + t, 1 = +1) and scales alpha (q, N, K/g), one per plane, output row and group of g
input columns. For one activation row x and one byte position kb, every plane and every output
row needs the same kind of number, sum_t (+-x_{8kb+t}), and there are only 2^8 = 256 sign
patterns: LUT-GEMM builds the 256-entry table T[p] = sum_{t<8} (bit t of p ? +x_{8kb+t} : -x_{8kb+t})
once per 8 activations and reads it q*N times, once per weight byte: the weight byte is the table
index. A group's table reads are summed, multiplied by that group's alpha, and added to the output.
No weight is ever multiplied by an activation.

Here the 256-entry table is kept as its two 16-entry halves, T[p] = L[p & 15] + H[p >> 4], where
L covers x_{8kb}..x_{8kb+3} and H x_{8kb+4}..x_{8kb+7}: one table per 4 activations (a nibble of
sign bits), and a byte costs two table reads and one add instead of one read. That is what makes
the tables cheap to read on a GPU from Triton (next section).

How the tables live in Triton
-----------------------------
Triton has no user-visible shared memory: a table is a register tensor and ``tl.gather`` reads it.
Triton 3.6 always lays a gather out "warp-local" (TritonGPUOptimizeThreadLocality): the table's
entries spread over the lanes of one warp, each read one warp shuffle per register of entries a
lane holds. A 256-entry table is 8 registers per lane, so every byte read costs 8 shuffles and 8
selects (the previous version of this kernel: under 10% of the bandwidth roofline). A 16-entry
table is one register on 16 lanes: one shuffle per read, so a byte costs 2 shuffles.

A program (one warp) owns BLOCK_M activation rows and BLOCK_R (output row, plane) pairs
f = q n + plane (no padding of q = 3 to 4 planes), and walks its share of K in steps of CHUNK
words of packed signs per pair. Per step:

1. every pair's CHUNK words are loaded, one vector load per row (the packed bytes read as int32
   words, 16 bytes at BLOCK_M = 1, when the group size is a multiple of 32 and the layout allows a
   view; bytes otherwise), and cut into nibbles by shifts: the table indices;
2. the step's tables are built once, one 16-entry table per activation row and nibble, from four
   broadcast multiply-adds of an activation by a +-1 pattern each, and shared by all BLOCK_R pairs;
3. one ``tl.gather`` reads every pair's entries; they are summed over the step, multiplied by the
   pair's alpha of the step's group (a step lies inside one group) and added to the accumulator.

At the end the q planes of an output row are summed in the program when q is a power of two (a
program then holds whole rows); for q = 3 each pair's partial sum goes to the workspace below.

Why one warp per program: the gather layout puts the entries on 16 lanes and the nibbles of a step
on the 2 other lanes and on the warps. With several warps, a step's nibbles, and therefore the
words and scales of every row, would be spread over all warps and exchanged through shared memory
every step, and the sum over a step would cross warps; with one warp both stay inside the warp
(and Triton 3.6 asserts when the nibbles cannot hold all the warps, triton-lang/triton#11600).

Split-K: at decode batches there are too few (row, pair) tiles to fill the GPU (1 x 28672 x 8192,
q = 3: 672 one-warp programs for 132 SMs), so the launcher splits K into KSPLIT ranges of steps,
each program writes its partial sums to a workspace (KSPLIT, M, N or q N), and a second small
kernel adds the partials (and the planes) in a fixed order into y. No atomics: the result is
deterministic, and for the integer path the same whatever the split.

Cost per weight byte and batch row, read off the compiled sm_90 code (SASS of the loop, q = 3,
BLOCK_M = 1): 2 table reads (shuffles) + ~6 integer operations (nibble shifts and masks, the
shuffle's lane index) + 2 adds, ~14 instructions with the table building and bookkeeping shared
out. Module bcq_gemm states what that means against the tensor cores.

Exactness
---------
Integer path (int8 x, int32 scales): tables, partial sums and products are int32. An entry is at
most 4 * 128 = 512 in magnitude, so |y| <= q * K * 128 * max|alpha|; the launcher rejects inputs
where that can exceed 2**31 - 1, and below it the kernel equals the reference bit for bit (integer
addition is associative, so neither the order nor the K split can matter; every partial sum is
bounded by the same sum of magnitudes).
Float path (fp16/fp32 x, fp16/fp32 scales): fp32 tables and accumulation, in an order (4-term
tables, per-step sums, one scale product per step and pair, the K-split partials, the planes)
different from a dense matmul's, so the result differs from the float64 reference by rounding
only: at most about (K + 16) * 2**-24 * (|x| @ |W|^T) elementwise (the classic gamma_n bound for n
sequential fp32 additions, with n covering the table terms, the steps, the planes, the splits and
the groups); tests hold it to that.
"""


import contextlib
from dataclasses import dataclass

import torch

from kernels._triton_env import CPU_LAUNCH_OK, TRITON_INTERPRET, tl, triton
from kernels._validate import max_element_offset
from kernels.bcq import MAX_Q, bcq_dequantize, check_group_size

__all__ = [
    "LutGemmOps",
    "lut_gemm_plan",
    "TABLE_BUILD_ADDS",
    "count_lut_ops",
    "lut_gemm",
    "lut_gemm_pow2",
    "lut_gemm_pow2_reference",
    "lut_gemm_reference",
]

FLOAT_ACTIVATIONS = (torch.float16, torch.float32)
FLOAT_SCALES = (torch.float16, torch.float32)

# %%
# The compute kernel
# ------------------


@triton.jit
def _nibble_tables(x_ptr, offs_m, m_mask, k0, stride_xm, stride_xk,
                   ACC_DTYPE: tl.constexpr, BLOCK_M: tl.constexpr, CHUNK: tl.constexpr, NPW: tl.constexpr):
    """(BLOCK_M, 16, CHUNK, NPW): the step's 16-entry tables, one per activation row and nibble.

    Table (j, v) covers the four activations of nibble v of word j, columns k0 + 4 (NPW j + v) + u
    (u < 4); entry l = sum_u (bit u of l ? +x : -x): four broadcast multiply-adds of an activation
    by a +-1 pattern, 64 operations per table."""
    offs_j = tl.arange(0, CHUNK)
    offs_v = tl.arange(0, NPW)
    cols = k0 + 4 * (offs_j[:, None] * NPW + offs_v[None, :])  # (CHUNK, NPW)
    x_ptrs = x_ptr + offs_m[:, None, None] * stride_xm + cols[None, :, :] * stride_xk
    entries = tl.arange(0, 16)
    tab = tl.zeros((BLOCK_M, 16, CHUNK, NPW), dtype=ACC_DTYPE)
    for u in tl.static_range(4):
        sign = (((entries >> u) & 1) * 2 - 1).to(ACC_DTYPE)[None, :, None, None]
        xu = tl.load(x_ptrs + u * stride_xk, mask=m_mask[:, None, None], other=0).to(ACC_DTYPE)
        tab += xu[:, None, :, :] * sign
    return tab


@triton.jit
def lut_gemm_kernel(
    x_ptr, p_ptr, s_ptr, out_ptr,
    M, N, CHUNKS, CHUNKS_PER_GROUP, CHUNKS_PER_SPLIT,
    stride_xm, stride_xk,
    stride_pq, stride_pn, stride_pk,
    stride_sq, stride_sn, stride_sg,
    stride_os, stride_om, stride_on,
    Q: tl.constexpr, ACC_DTYPE: tl.constexpr, WORD_BITS: tl.constexpr,
    BLOCK_M: tl.constexpr, BLOCK_R: tl.constexpr, CHUNK: tl.constexpr, SUM_PLANES: tl.constexpr,
):
    # ACC_DTYPE: tl.int32 (int8 x, exact) or tl.float32 (float x), for tables and accumulators.
    # p_ptr: the packed signs read as words of WORD_BITS bits (32: an int32 view of 4 bytes; 8:
    # the bytes themselves); CHUNK words per row and step, CHUNK * WORD_BITS / 4 nibbles.
    # Rows of the program: BLOCK_R (output row, plane) pairs f = Q n + plane. SUM_PLANES (Q a power
    # of two, so a program holds whole output rows): the planes are summed here and out is
    # (splits, M, N); otherwise out is (splits, M, Q N), one partial per pair, summed by
    # lut_splitk_reduce_kernel. pid_k is the K split: chunks [pid_k * CHUNKS_PER_SPLIT, ...).
    pid_m = tl.program_id(axis=0)
    pid_f = tl.program_id(axis=1)
    pid_k = tl.program_id(axis=2)
    NPW: tl.constexpr = WORD_BITS // 4  # nibbles per word
    offs_m = pid_m * BLOCK_M + tl.arange(0, BLOCK_M)
    offs_f = pid_f * BLOCK_R + tl.arange(0, BLOCK_R)
    plane = offs_f % Q
    offs_n = offs_f // Q
    m_mask = offs_m < M
    f_mask = offs_n < N  # pairs past the last output row read word 0 and scale 0, and are not stored
    w_ptrs = (p_ptr + (plane * stride_pq + offs_n * stride_pn)[None, :, None]
              + tl.arange(0, CHUNK)[None, None, :] * stride_pk)  # (1, BLOCK_R, CHUNK): one vector load per row
    s_ptrs = s_ptr + plane * stride_sq + offs_n * stride_sn
    shifts = tl.arange(0, NPW) * 4

    acc = tl.zeros((BLOCK_M, BLOCK_R), dtype=ACC_DTYPE)
    c_begin = pid_k * CHUNKS_PER_SPLIT
    c_end = tl.minimum(c_begin + CHUNKS_PER_SPLIT, CHUNKS)
    for c in range(c_begin, c_end):
        k0 = c * CHUNK
        # every pair's words of the step, cut into nibbles: the table indices
        words = tl.load(w_ptrs + k0 * stride_pk, mask=f_mask[None, :, None], other=0).to(tl.int32)
        nib = tl.broadcast_to((words[:, :, :, None] >> shifts[None, None, None, :]) & 15,
                              (BLOCK_M, BLOCK_R, CHUNK, NPW))
        # the step's tables, built once per activation row and nibble for all BLOCK_R rows
        tab = _nibble_tables(x_ptr, offs_m, m_mask, k0 * WORD_BITS, stride_xm, stride_xk,
                             ACC_DTYPE, BLOCK_M, CHUNK, NPW)
        # a byte p's entry T[p] = L[p & 15] + H[p >> 4]: one table read per nibble, summed over the step
        part = tl.sum(tl.reshape(tl.gather(tab, nib, axis=1), (BLOCK_M, BLOCK_R, CHUNK * NPW)), axis=2)
        alpha = tl.load(s_ptrs + (c // CHUNKS_PER_GROUP) * stride_sg, mask=f_mask, other=0).to(ACC_DTYPE)
        acc += part * alpha[None, :]

    if SUM_PLANES:
        BLOCK_N: tl.constexpr = BLOCK_R // Q
        y = tl.sum(tl.reshape(acc, (BLOCK_M, BLOCK_N, Q)), axis=2)
        offs_o = pid_f * BLOCK_N + tl.arange(0, BLOCK_N)
        o_mask = offs_o < N
    else:
        y = acc
        offs_o = offs_f
        o_mask = f_mask
    out_ptrs = out_ptr + pid_k * stride_os + offs_m[:, None] * stride_om + offs_o[None, :] * stride_on
    tl.store(out_ptrs, y, mask=m_mask[:, None] & o_mask[None, :])


@triton.jit
def lut_splitk_reduce_kernel(part_ptr, y_ptr, MN, SPLITS, P: tl.constexpr, BLOCK: tl.constexpr):
    """y[i] = sum_{s < SPLITS} sum_{p < P} part[s, P i + p] (part contiguous (SPLITS, M N P), y
    contiguous (M, N)), s outer and p inner, always in that order: the result is deterministic."""
    offs = tl.program_id(axis=0) * BLOCK + tl.arange(0, BLOCK)
    mask = offs < MN
    acc = tl.load(part_ptr + offs * P, mask=mask, other=0)
    for p in tl.static_range(1, P):
        acc += tl.load(part_ptr + offs * P + p, mask=mask, other=0)
    for s in range(1, SPLITS):
        for p in tl.static_range(P):
            acc += tl.load(part_ptr + s * MN * P + offs * P + p, mask=mask, other=0)
    tl.store(y_ptr + offs, acc, mask=mask)


# %%
# Tuning
# ------
# Reasoned, not timed (no GPU was at hand), and held to what compiles for sm_90 without spills
# (bench/sm90.py): one warp per program (module docstring). BLOCK_R = 128 pairs and 32 nibbles
# (16 bytes, one vector load per row) per step at BLOCK_M = 1: 128 table reads per thread and
# step, 96 registers, ~21 one-warp programs resident per SM; BLOCK_R = 256 saved ~8% of the
# loop's instructions (the tables shared by twice the rows) at 168 registers. Larger batch tiles
# keep BLOCK_M * BLOCK_R * nibbles per step at the same 128 reads per thread (128-168 registers);
# the step's width falls to 4 bytes at BLOCK_M >= 8.

#: BLOCK_M -> (BLOCK_R, most nibbles per row and step): (output row, plane) pairs per program and
#: the step's width. BLOCK_M * BLOCK_R * nibbles / 32 stays at 128 table reads per thread and step.
GPU_TILES = {1: (128, 32), 2: (128, 16), 4: (64, 16), 8: (64, 8), 16: (32, 8)}
#: one warp per program (module docstring: the gather's layout)
GPU_NUM_WARPS = 1
GPU_NUM_STAGES = 2
MAX_BLOCK_M = 16
#: the K split aims at this many programs (one warp each) per SM
PROGRAMS_PER_SM = 16
#: SMs assumed where no GPU is asked (the interpreter, compile-only): an H100 / H200
DEFAULT_SM_COUNT = 132
# The interpreter runs each program in Python: a small tile keeps it cheap while still crossing
# tile edges in M and in the (row, plane) pairs in the tests.
INTERPRETER_TILE = (16, 32)
REDUCE_BLOCK = 1024
# grid y and z are limited to 65535 programs
MAX_GRID_YZ = 65535


def _block_m(M: int) -> int:
    return min(MAX_BLOCK_M, 1 << max(0, (M - 1).bit_length()))


def split_k_steps(steps: int, tiles: int, sm_count: int, split_k: int | None = None) -> tuple[int, int]:
    """(steps per split, splits) for ``steps`` K steps over ``tiles`` output tiles: ``split_k`` None
    splits K until the grid holds PROGRAMS_PER_SM programs per SM; never more splits than steps or
    than a grid axis holds, and no empty split. Shared by the split-K lookup GEMMs (LUT, codebook)."""
    if split_k is None:
        split_k = -(-sm_count * PROGRAMS_PER_SM // tiles)
    split_k = min(split_k, steps, MAX_GRID_YZ)
    per_split = -(-steps // split_k)
    return per_split, -(-steps // per_split)


def lut_gemm_plan(M: int, N: int, K: int, q: int, group_size: int, sm_count: int = DEFAULT_SM_COUNT, *,
                  split_k: int | None = None, word_bits: int = 32, interpret: bool = TRITON_INTERPRET) -> dict:
    """The launch geometry of :func:`lut_gemm` (module docstring): tile, step, K split, grid.

    ``word_bits`` 32 reads the packed signs as int32 words (needs group_size % 32 == 0), 8 as
    bytes. ``split_k`` None: split K until the grid holds PROGRAMS_PER_SM programs per SM (or every
    split has one step); an int: at most that many splits.
    """
    for name, v in (("M", M), ("N", N), ("K", K), ("sm_count", sm_count)):
        if isinstance(v, bool) or not isinstance(v, int) or v < 1:
            raise ValueError(f"{name} must be a positive int, got {v!r}")
    if isinstance(q, bool) or not isinstance(q, int) or not 1 <= q <= MAX_Q:
        raise ValueError(f"q must be an int in 1..{MAX_Q}, got {q!r}")
    check_group_size(group_size, K)
    if word_bits not in (8, 32) or group_size % word_bits:
        raise ValueError(f"word_bits must be 8 or 32 and divide group_size {group_size}, got {word_bits!r}")
    if split_k is not None and (isinstance(split_k, bool) or not isinstance(split_k, int) or split_k < 1):
        raise ValueError(f"split_k must be None (automatic) or a positive int, got {split_k!r}")
    block_m = _block_m(M)
    block_r, max_nibbles = INTERPRETER_TILE if interpret else GPU_TILES[block_m]
    words_per_group = group_size // word_bits
    chunk = min(words_per_group & -words_per_group, max_nibbles // (word_bits // 4))  # divides a group
    chunks = K // word_bits // chunk
    m_tiles, f_tiles = -(-M // block_m), -(-(q * N) // block_r)
    if f_tiles > MAX_GRID_YZ:
        raise ValueError(f"q * N = {q * N} (row, plane) pairs need {f_tiles} programs of {block_r}; "
                         f"lut_gemm's grid holds at most {MAX_GRID_YZ}")
    per_split, ksplit = split_k_steps(chunks, m_tiles * f_tiles, sm_count, split_k)
    plan = {"BLOCK_M": block_m, "BLOCK_R": block_r, "CHUNK": chunk, "WORD_BITS": word_bits,
            "SUM_PLANES": q & (q - 1) == 0, "chunks": chunks, "chunks_per_split": per_split,
            "ksplit": ksplit, "grid": (m_tiles, f_tiles, ksplit)}
    if not interpret:
        plan |= {"num_warps": GPU_NUM_WARPS, "num_stages": GPU_NUM_STAGES}
    return plan


def _word_view(packed: torch.Tensor, group_size: int) -> torch.Tensor | None:
    """``packed`` as int32 words (4 bytes, 32 columns; little-endian: byte b is bits 8b..8b+7),
    without a copy, when the layout allows it; None otherwise (the kernel then reads bytes)."""
    if (group_size % 32 or packed.stride(2) != 1 or packed.shape[2] % 4 or packed.storage_offset() % 4
            or packed.stride(0) % 4 or packed.stride(1) % 4 or packed.data_ptr() % 4):
        return None
    return packed.view(torch.int32)


# %%
# The launcher
# ------------


def _dtype_names(dtypes) -> str:
    return "/".join(str(d).removeprefix("torch.") for d in dtypes)


def check_bcq_operands(x, packed, scales, group_size, float_activations=FLOAT_ACTIVATIONS,
                       float_scales=FLOAT_SCALES, extra_check=None) -> tuple[int, int, int, int, bool]:
    """Check binary-coded GEMM operands (kernels/bcq.py layout) for a kernel that takes int8 x
    (exact path, int32 scales) or ``float_activations`` x (float path, ``float_scales`` scales);
    ``extra_check(integer)`` adds a kernel's own condition before the device check. Returns
    (M, N, K, q, integer_path). Every kernel of the format (LUT, tensor cores, CuPy) checks here."""
    for name, t in (("x", x), ("packed", packed), ("scales", scales)):
        if not isinstance(t, torch.Tensor):
            raise TypeError(f"{name} must be a torch.Tensor, got {type(t).__name__}")
    if x.dtype != torch.int8 and x.dtype not in float_activations:
        raise TypeError(f"x must be int8 (exact path) or {_dtype_names(float_activations)} (float path), got {x.dtype}")
    if x.dim() != 2:
        raise ValueError(f"x must be a 2-D (M, K) matrix, got shape {tuple(x.shape)}")
    if packed.dtype != torch.uint8:
        raise TypeError(f"packed must have dtype torch.uint8 (8 sign bits per byte), got {packed.dtype}")
    if packed.dim() != 3:
        raise ValueError(f"packed must be 3-D (q, N, K/8), got shape {tuple(packed.shape)}")
    q, N, KB = packed.shape
    if not 1 <= q <= MAX_Q:
        raise ValueError(f"packed holds q = {q} binary planes; q must be in 1..{MAX_Q}")
    M, K = x.shape
    if K == 0 or K % 8:
        raise ValueError(f"K = {K} (x's columns) must be a positive multiple of 8: each byte packs 8 columns")
    if KB * 8 != K:
        raise ValueError(f"packed has {KB} bytes per row, i.e. K = {KB * 8}, but x has K = {K} columns")
    check_group_size(group_size, K)
    G = K // group_size
    if scales.dim() != 3 or tuple(scales.shape) != (q, N, G):
        raise ValueError(f"scales must have shape (q, N, K/group_size) = {(q, N, G)}, got {tuple(scales.shape)}")
    integer = x.dtype == torch.int8
    if integer and scales.dtype != torch.int32:
        raise TypeError(f"int8 x takes the exact path and needs int32 scales, got {scales.dtype}")
    if not integer and scales.dtype not in float_scales:
        raise TypeError(f"float x needs {_dtype_names(float_scales)} scales, got {scales.dtype}")
    if extra_check is not None:
        extra_check(integer)
    if not (x.device == packed.device == scales.device):
        raise ValueError(
            f"x, packed and scales must be on one device, got {x.device}, {packed.device}, {scales.device}"
        )
    return M, N, K, q, integer


def check_lut_gemm_operands(x, packed, scales, group_size) -> tuple[int, int, int, int, bool]:
    """Check the LUT kernel's operands; return (M, N, K, q, integer_path)."""
    return check_bcq_operands(x, packed, scales, group_size)


def check_int32_range(q: int, K: int, scales: torch.Tensor) -> None:
    """|y| <= q * K * 128 * max|alpha| must fit int32 for the exact path to be exact."""
    amax = int(scales.abs().max().item()) if scales.numel() else 0
    bound = q * K * 128 * amax
    if bound > 2**31 - 1:
        raise ValueError(
            f"int32 overflow possible: q * K * 128 * max|scale| = {q} * {K} * 128 * {amax} = {bound} "
            f"exceeds 2**31-1; use smaller scales or the float path"
        )


def lut_gemm(x: torch.Tensor, packed: torch.Tensor, scales: torch.Tensor, group_size: int, *,
             check_range: bool = True, split_k: int | None = None) -> torch.Tensor:
    """y = x W^T for binary-coded W (kernels/bcq.py layout): int32 for int8 ``x``, fp32 otherwise.

    ``x`` (M, K) int8 / float16 / float32; ``packed`` (q, N, K/8) uint8; ``scales`` (q, N, K/g)
    int32 for int8 ``x`` and float16/float32 for float ``x``. ``check_range`` (integer path)
    reads max|scales| to prove the int32 bound; pass False in timing loops where it is known.
    ``split_k``: None (automatic: enough programs to fill the GPU) or the most K splits to use;
    their partial sums are added in a fixed order by a second kernel (deterministic).
    """
    M, N, K, q, integer = check_lut_gemm_operands(x, packed, scales, group_size)
    if not isinstance(check_range, bool):
        raise TypeError(f"check_range must be a bool, got {type(check_range).__name__}")
    kind = x.device.type
    if kind == "cpu" and not CPU_LAUNCH_OK:
        raise RuntimeError(
            "the operands are on cpu but TRITON_INTERPRET=1 is not set: the compiled Triton kernel "
            "needs CUDA tensors; move them to CUDA, or set TRITON_INTERPRET=1 before triton is imported"
        )
    if kind not in ("cuda", "cpu"):
        raise ValueError(f"the operands are on {x.device}; lut_gemm runs on cuda (or on cpu under TRITON_INTERPRET=1)")
    if integer and check_range:
        check_int32_range(q, K, scales)
    acc_dtype = torch.int32 if integer else torch.float32
    y = torch.empty((M, N), dtype=acc_dtype, device=x.device)
    if M == 0 or N == 0:
        if split_k is not None:
            lut_gemm_plan(1, 1, K, q, group_size, split_k=split_k)  # the same argument check
        return y
    sm_count = torch.cuda.get_device_properties(x.device).multi_processor_count if x.is_cuda else DEFAULT_SM_COUNT
    words = _word_view(packed, group_size)
    plan = lut_gemm_plan(M, N, K, q, group_size, sm_count, split_k=split_k, word_bits=8 if words is None else 32)
    ksplit, sum_planes = plan["ksplit"], plan["SUM_PLANES"]
    planes_out = 1 if sum_planes else q
    direct = ksplit == 1 and sum_planes
    out = y if direct else torch.empty((ksplit, M, N * planes_out), dtype=acc_dtype, device=x.device)
    for name, t in (("x", x), ("packed", packed), ("scales", scales), ("workspace", out)):
        if max_element_offset(t) > 2**31 - 1:
            raise ValueError(f"{name} spans more than 2**31-1 elements; lut_gemm indexes with int32 offsets")
    p = packed if words is None else words
    args = (
        x, p, scales, out, M, N, plan["chunks"], group_size // plan["WORD_BITS"] // plan["CHUNK"],
        plan["chunks_per_split"],
        x.stride(0), x.stride(1),
        p.stride(0), p.stride(1), p.stride(2),
        scales.stride(0), scales.stride(1), scales.stride(2),
        *((0, *y.stride()) if direct else out.stride()),
    )
    meta = {"Q": q, "ACC_DTYPE": tl.int32 if integer else tl.float32,
            **{k: plan[k] for k in ("WORD_BITS", "BLOCK_M", "BLOCK_R", "CHUNK", "SUM_PLANES")}}
    if not TRITON_INTERPRET:
        meta |= {"num_warps": plan["num_warps"], "num_stages": plan["num_stages"]}
    with torch.cuda.device(x.device) if x.is_cuda else contextlib.nullcontext():  # CPU: interpreter, compile-only
        lut_gemm_kernel[plan["grid"]](*args, **meta)
        if not direct:
            mn = M * N
            lut_splitk_reduce_kernel[(triton.cdiv(mn, REDUCE_BLOCK),)](out, y, mn, ksplit, P=planes_out,
                                                                        BLOCK=REDUCE_BLOCK)
    return y


# %%
# The reference
# -------------
# Unpack the signs into a dense W and multiply. Integer: exact in int64 on the CPU; on CUDA in
# float64, exact because the launcher's bound keeps every partial sum below 2**31 << 2**53.
# Float: float64, the value the fp32 kernel approximates.


def lut_gemm_reference(x: torch.Tensor, packed: torch.Tensor, scales: torch.Tensor, group_size: int) -> torch.Tensor:
    """y = x W^T in plain torch with W = sum_i alpha_i B_i dense: int32 (int8 x) or float32."""
    _, _, _, _, integer = check_lut_gemm_operands(x, packed, scales, group_size)
    if integer:
        w = bcq_dequantize(packed, scales, group_size)  # int64
        if x.device.type == "cuda":
            return (x.to(torch.float64) @ w.to(torch.float64).T).to(torch.int32)
        return (x.to(torch.int64) @ w.T).to(torch.int32)
    w = bcq_dequantize(packed, scales.to(torch.float64), group_size)
    return (x.to(torch.float64) @ w.T).to(torch.float32)


# %%
# Power-of-two scales
# -------------------
# The shift-add engines (sim/lut_pe.py, rtl_models/verilog/lut_pe.v) take scales 2^e as integer
# exponents e and shift instead of multiplying. These two give the kernel and the reference the
# same (x, packed, exps, group_size) signature as the cycle model, for the three-way cross-check.


def _pow2_scales(exps: torch.Tensor) -> torch.Tensor:
    if not isinstance(exps, torch.Tensor) or exps.dtype.is_floating_point or exps.dtype == torch.bool:
        got = exps.dtype if isinstance(exps, torch.Tensor) else type(exps).__name__
        raise TypeError(f"exps must be an integer tensor of scale exponents, got {got}")
    if exps.numel() and (int(exps.min()) < 0 or int(exps.max()) > 30):
        raise ValueError(f"exps must lie in 0..30 (int32 scales 2^e), got min {int(exps.min())}, max {int(exps.max())}")
    return torch.ones_like(exps, dtype=torch.int32) << exps.to(torch.int32)


def lut_gemm_pow2(x: torch.Tensor, packed: torch.Tensor, exps: torch.Tensor, group_size: int) -> torch.Tensor:
    """:func:`lut_gemm` on the exact path with scales 2^exps (int8 ``x``, integer ``exps``)."""
    return lut_gemm(x, packed, _pow2_scales(exps), group_size)


def lut_gemm_pow2_reference(x: torch.Tensor, packed: torch.Tensor, exps: torch.Tensor, group_size: int) -> torch.Tensor:
    """:func:`lut_gemm_reference` with scales 2^exps."""
    return lut_gemm_reference(x, packed, _pow2_scales(exps), group_size)


# %%
# Operation and byte count
# ------------------------
# What one GEMM does in LUT-GEMM terms, for the energy model (reports/) and the benchmark's
# bandwidth figure. Table builds are counted as the incremental engine of sim/lut_pe.py does
# them: 8 adds for entry 0 (-x_0 - ... - x_7, starting from zero), then 255 Gray-code steps of
# +-2 x_t, one add each. (The Triton kernel keeps the two 16-entry halves, 2 * 64 operations per
# byte position and program, and reads each byte as two nibble reads and an add, which suits a
# GPU better; the counter describes the algorithm and the PE, not the GPU's instruction mix.)

TABLE_ENTRIES = 256
TABLE_BUILD_ADDS = 8 + 255


@dataclass(frozen=True)
class LutGemmOps:
    """Work and ideal traffic of one binary-coded GEMM (each operand moved once)."""

    M: int
    N: int
    K: int
    q: int
    group_size: int
    table_builds: int  # one per activation row and 8 columns
    table_writes: int  # entries written
    table_build_adds: int
    table_reads: int  # one per activation row, plane, output row and weight byte
    accumulate_adds: int  # each table read added into its group's partial sum
    scale_muls: int  # one per activation row, plane, output row and group (a shift if alpha = 2^e)
    scale_adds: int  # each scaled partial sum added into the output
    bytes_moved: int

    @property
    def adds(self) -> int:
        return self.table_build_adds + self.accumulate_adds + self.scale_adds

    @property
    def dense_equivalent_flops(self) -> int:
        """2 M N K: what the same layer costs as a dense GEMM, for throughput figures."""
        return 2 * self.M * self.N * self.K


def count_lut_ops(M: int, N: int, K: int, q: int, group_size: int, act_bytes: int = 1,
                  scale_bytes: int = 4, out_bytes: int = 4) -> LutGemmOps:
    """Operation and byte counts of y = x W^T (x M x K, W N x K binary-coded with q planes)."""
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
    G = K // group_size if K else 0
    builds = M * (K // 8)
    reads = M * q * N * (K // 8)
    return LutGemmOps(
        M=M, N=N, K=K, q=q, group_size=group_size,
        table_builds=builds,
        table_writes=TABLE_ENTRIES * builds,
        table_build_adds=TABLE_BUILD_ADDS * builds,
        table_reads=reads,
        accumulate_adds=reads,
        scale_muls=M * q * N * G,
        scale_adds=M * q * N * G,
        bytes_moved=M * K * act_bytes + q * N * (K // 8) + q * N * G * scale_bytes + M * N * out_bytes,
    )


# %%
# A quick self-check: ``python -m kernels.lut_gemm``.
if __name__ == "__main__":
    from kernels.bcq import bcq_quantize

    torch.manual_seed(0)
    device = "cpu" if TRITON_INTERPRET else "cuda"
    w = torch.randn(40, 64)
    bcq = bcq_quantize(w, 3, 32)
    x = torch.randint(-128, 128, (3, 64), dtype=torch.int8)
    scales = torch.randint(-8, 9, bcq.scales.shape, dtype=torch.int32)
    got = lut_gemm(x.to(device), bcq.packed.to(device), scales.to(device), 32)
    want = lut_gemm_reference(x, bcq.packed, scales, 32)
    print(f"lut_gemm int8 3x40x64 q=3 on {device}: {'matches' if torch.equal(got.cpu(), want) else 'DIFFERS FROM'} the reference")
