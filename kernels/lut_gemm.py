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
patterns. So the kernel builds the 256-entry table

    T[p] = sum_{t<8} (bit t of p ? +x_{8kb+t} : -x_{8kb+t})

once per 8 activations and then reads it q*N times, once per weight byte: the weight byte is the
table index. A group's g/8 table reads are summed, multiplied by that group's alpha, and added to
the output. No weight is ever multiplied by an activation.

How the table lives in Triton
-----------------------------
A program owns BLOCK_M activation rows x BLOCK_N output rows. Per byte position it builds the
tables of its BLOCK_M rows as one (BLOCK_M, 256) register tensor and looks them up with
``tl.gather`` along the entry axis, one gather per plane, indexed by that plane's weight bytes.
The table is built in two halves: T[p] = H[p >> 4] + L[p & 15], where L (16 entries) covers
x_0..x_3 and H covers x_4..x_7, each from four broadcast multiply-adds of an activation by a
+-1 pattern; one broadcast add of (BLOCK_M, 16, 1) and (BLOCK_M, 1, 16) and a reshape give all
256 entries for 2 * 64 + 256 operations instead of 8 * 256. Each plane keeps its own partial sum
for the current group (q <= 4 named accumulators, the unused ones compiled away), scaled by its
alpha when the group ends. This is a true table path: the weight bits are never unpacked into
+-1 values. (An earlier version gathered all planes at once from a (BLOCK_M, QP * BLOCK_N)
index and summed planes through a 3-D reshape; Triton 3.6's TritonGPUOptimizeThreadLocality
pass crashes on that reduction for BLOCK_M <= 2, i.e. exactly for decode batches.)

Exactness
---------
Integer path (int8 x, int32 scales): tables, partial sums and products are int32. An entry is at
most 8 * 128 = 1024 in magnitude, so |y| <= q * K * 128 * max|alpha|; the launcher rejects
inputs where that can exceed 2**31 - 1, and below it the kernel equals the reference bit for bit
(integer addition is associative, so the order of accumulation cannot matter).
Float path (fp16/fp32 x, fp16/fp32 scales): fp32 tables and accumulation, in an order (8-term
tables, per-group partial sums, scaled per plane) different from a dense matmul's, so the result
differs from the float64 reference by rounding only: at most about (K + 16) * 2**-24 *
(|x| @ |W|^T) elementwise (the classic gamma_n bound for n sequential fp32 additions, with n
covering the 8 table terms, the K/8 bytes, the planes and the groups); tests hold it to that.
"""

from dataclasses import dataclass

import torch

from kernels._triton_env import CPU_LAUNCH_OK, TRITON_INTERPRET, tl, triton
from kernels._validate import max_element_offset
from kernels.bcq import MAX_Q, bcq_dequantize, check_group_size

__all__ = [
    "LutGemmOps",
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
def _half_table(x_ptrs, kb, T0: tl.constexpr, stride_xk, m_mask,
                ACC_DTYPE: tl.constexpr, BLOCK_M: tl.constexpr):
    """(BLOCK_M, 16): entry l = sum_{u<4} (bit u of l ? +x : -x)[8*kb + T0 + u]."""
    lows = tl.arange(0, 16)
    half = tl.zeros((BLOCK_M, 16), dtype=ACC_DTYPE)
    for u in tl.static_range(4):
        xu = tl.load(x_ptrs + (kb * 8 + T0 + u) * stride_xk, mask=m_mask, other=0).to(ACC_DTYPE)
        sign = (((lows >> u) & 1) * 2 - 1).to(ACC_DTYPE)
        half += xu[:, None] * sign[None, :]
    return half


@triton.jit
def _lookup(table, plane_ptrs, kb, stride_pk, n_mask, BLOCK_M: tl.constexpr, BLOCK_N: tl.constexpr):
    """(BLOCK_M, BLOCK_N): T[m, packed[plane, n, kb]], the table read by one plane's weight bytes."""
    idx = tl.load(plane_ptrs + kb * stride_pk, mask=n_mask, other=0).to(tl.int32)
    return tl.gather(table, tl.broadcast_to(idx[None, :], (BLOCK_M, BLOCK_N)), axis=1)


@triton.jit
def _scale(part, plane_scale_ptrs, grp, stride_sg, n_mask, ACC_DTYPE: tl.constexpr):
    alpha = tl.load(plane_scale_ptrs + grp * stride_sg, mask=n_mask, other=0).to(ACC_DTYPE)
    return part * alpha[None, :]


@triton.jit
def lut_gemm_kernel(
    x_ptr, p_ptr, s_ptr, y_ptr,
    M, N, G, BYTES_PER_GROUP,
    stride_xm, stride_xk,
    stride_pq, stride_pn, stride_pk,
    stride_sq, stride_sn, stride_sg,
    stride_ym, stride_yn,
    Q: tl.constexpr, ACC_DTYPE: tl.constexpr,
    BLOCK_M: tl.constexpr, BLOCK_N: tl.constexpr,
):
    # ACC_DTYPE: tl.int32 (int8 x, exact) or tl.float32 (float x), for tables and accumulators
    pid_m = tl.program_id(axis=0)
    pid_n = tl.program_id(axis=1)
    offs_m = pid_m * BLOCK_M + tl.arange(0, BLOCK_M)
    offs_n = pid_n * BLOCK_N + tl.arange(0, BLOCK_N)
    m_mask = offs_m < M
    n_mask = offs_n < N  # rows past N read byte 0 and scale 0, and are not stored
    x_ptrs = x_ptr + offs_m * stride_xm
    p_ptrs = p_ptr + offs_n * stride_pn  # plane 0; plane i is + i * stride_pq
    s_ptrs = s_ptr + offs_n * stride_sn

    acc = tl.zeros((BLOCK_M, BLOCK_N), dtype=ACC_DTYPE)
    for grp in range(G):
        # One partial sum per plane: the planes share the table but not the scale. Planes past
        # Q are compile-time dead (Q is a constexpr), their zeros are never touched.
        part0 = tl.zeros((BLOCK_M, BLOCK_N), dtype=ACC_DTYPE)
        part1 = tl.zeros((BLOCK_M, BLOCK_N), dtype=ACC_DTYPE)
        part2 = tl.zeros((BLOCK_M, BLOCK_N), dtype=ACC_DTYPE)
        part3 = tl.zeros((BLOCK_M, BLOCK_N), dtype=ACC_DTYPE)
        for b in range(BYTES_PER_GROUP):
            kb = grp * BYTES_PER_GROUP + b
            # -- the BLOCK_M tables of this byte position: T[p] = H[p >> 4] + L[p & 15] ----------
            lo = _half_table(x_ptrs, kb, 0, stride_xk, m_mask, ACC_DTYPE, BLOCK_M)
            hi = _half_table(x_ptrs, kb, 4, stride_xk, m_mask, ACC_DTYPE, BLOCK_M)
            table = tl.reshape(hi[:, :, None] + lo[:, None, :], (BLOCK_M, 256))
            # -- each plane's weight bytes index it ------------------------------------------------
            part0 += _lookup(table, p_ptrs, kb, stride_pk, n_mask, BLOCK_M, BLOCK_N)
            if Q > 1:
                part1 += _lookup(table, p_ptrs + stride_pq, kb, stride_pk, n_mask, BLOCK_M, BLOCK_N)
            if Q > 2:
                part2 += _lookup(table, p_ptrs + 2 * stride_pq, kb, stride_pk, n_mask, BLOCK_M, BLOCK_N)
            if Q > 3:
                part3 += _lookup(table, p_ptrs + 3 * stride_pq, kb, stride_pk, n_mask, BLOCK_M, BLOCK_N)
        # -- the group's scales, once per plane and output row --------------------------------------
        acc += _scale(part0, s_ptrs, grp, stride_sg, n_mask, ACC_DTYPE)
        if Q > 1:
            acc += _scale(part1, s_ptrs + stride_sq, grp, stride_sg, n_mask, ACC_DTYPE)
        if Q > 2:
            acc += _scale(part2, s_ptrs + 2 * stride_sq, grp, stride_sg, n_mask, ACC_DTYPE)
        if Q > 3:
            acc += _scale(part3, s_ptrs + 3 * stride_sq, grp, stride_sg, n_mask, ACC_DTYPE)

    y_ptrs = y_ptr + offs_m[:, None] * stride_ym + offs_n[None, :] * stride_yn
    tl.store(y_ptrs, acc, mask=m_mask[:, None] & n_mask[None, :])


# %%
# Tuning
# ------
# Decode-sized batches (M = 1..16) are bound by streaming the packed weights, q/8 bytes per
# weight instead of bf16's 2. BLOCK_M follows M (a table row per activation row; building tables
# for padding rows is wasted work), BLOCK_N trades table reuse (more output rows per table)
# against programs in flight. Untuned beyond that: no GPU was at hand when this was written.


def _gpu_configs() -> list:
    return [
        triton.Config({"BLOCK_N": bn}, num_warps=w, num_stages=s)
        for bn in (64, 128, 256)
        for w, s in ((4, 2), (8, 3))
    ]


def _quick_bench(kernel_call, quantiles):
    from triton.testing import do_bench

    return do_bench(kernel_call, warmup=5, rep=25, quantiles=quantiles)


lut_gemm_kernel_autotuned = triton.autotune(
    configs=_gpu_configs(), key=["M", "N", "G", "BYTES_PER_GROUP", "BLOCK_M", "Q"], do_bench=_quick_bench,
)(lut_gemm_kernel)

# The interpreter runs each program in Python: a small fixed tile keeps it cheap while still
# crossing tile edges in M and N in the tests.
INTERPRETER_BLOCK_N = 16
MAX_BLOCK_M = 16


def _block_m(M: int) -> int:
    return min(MAX_BLOCK_M, 1 << max(0, (M - 1).bit_length()))


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
             check_range: bool = True) -> torch.Tensor:
    """y = x W^T for binary-coded W (kernels/bcq.py layout): int32 for int8 ``x``, fp32 otherwise.

    ``x`` (M, K) int8 / float16 / float32; ``packed`` (q, N, K/8) uint8; ``scales`` (q, N, K/g)
    int32 for int8 ``x`` and float16/float32 for float ``x``. ``check_range`` (integer path)
    reads max|scales| to prove the int32 bound; pass False in timing loops where it is known.
    """
    M, N, K, q, integer = check_lut_gemm_operands(x, packed, scales, group_size)
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
    y = torch.empty((M, N), dtype=torch.int32 if integer else torch.float32, device=x.device)
    for name, t in (("x", x), ("packed", packed), ("scales", scales), ("y", y)):
        if max_element_offset(t) > 2**31 - 1:
            raise ValueError(f"{name} spans more than 2**31-1 elements; lut_gemm indexes with int32 offsets")
    if M == 0 or N == 0:
        return y

    block_m = _block_m(M)
    args = (
        x, packed, scales, y, M, N, K // group_size, group_size // 8,
        x.stride(0), x.stride(1),
        packed.stride(0), packed.stride(1), packed.stride(2),
        scales.stride(0), scales.stride(1), scales.stride(2),
        y.stride(0), y.stride(1),
    )
    consts = {"Q": q, "ACC_DTYPE": tl.int32 if integer else tl.float32, "BLOCK_M": block_m}

    def grid(meta):
        return (triton.cdiv(M, meta["BLOCK_M"]), triton.cdiv(N, meta["BLOCK_N"]))

    if TRITON_INTERPRET:
        lut_gemm_kernel[grid](*args, **consts, BLOCK_N=INTERPRETER_BLOCK_N)
    else:
        with torch.cuda.device(x.device):
            lut_gemm_kernel_autotuned[grid](*args, **consts)
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
# +-2 x_t, one add each. (The Triton kernel builds two 16-entry halves and adds them, 2 * 64 + 256
# operations with no dependent chain, which suits a GPU better; the counter describes the
# algorithm and the PE, not the GPU's instruction mix.)

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
