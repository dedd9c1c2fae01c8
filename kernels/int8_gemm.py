"""
INT8 GEMM in Triton: C = A @ B with int8 operands and an int32 accumulator
===========================================================================

This file follows Triton's matrix-multiplication tutorial
(``python/tutorials/03-matrix-multiplication.py``) and reads top to bottom: why the kernel exists,
the kernel, how it is tuned, its launcher, the torch reference it is held to, and the operation
count the benchmark (``bench/test_bench_int8_gemm.py``) turns into TOPS.

Why an INT8 GEMM
----------------
Every bit-weight MAC engine in this project (systolic arrays, multiplier-adder trees, bit-serial
engines) computes the same thing: an int8 x int8 matrix product accumulated exactly in int32.
This kernel is the GPU's answer to the same question, and it is exact: integer products and
integer sums have no rounding, so the kernel, the torch reference, the cycle-level models in sim/
and the Verilog in rtl_models/ must agree bit for bit, not within a tolerance.

Exactness has one precondition. Each product is at most (-128) * (-128) = 2**14 in magnitude, so
K products can reach K * 2**14, and the int32 accumulator is only safe while that stays below
2**31 - 1, that is for K <= 131071. The launcher rejects larger K instead of wrapping silently.

Running it
----------
On a GPU machine the kernel is compiled and autotuned. On a CPU-only machine it runs in Triton's
interpreter (``TRITON_INTERPRET=1``) on CPU tensors; ``kernels._triton_env`` sets that variable
before ``triton`` is imported when no CUDA device exists, and leaves it alone otherwise.
"""

from dataclasses import dataclass

import contextlib

import torch

from kernels._triton_env import CPU_LAUNCH_OK, TRITON_INTERPRET, tl, triton
from kernels._validate import (
    INT32_SAFE_MAX_K,
    check_int8_gemm_operands,
    check_out,
    max_element_offset,
)

__all__ = [
    "INT32_SAFE_MAX_K",
    "GemmOps",
    "count_ops",
    "int8_gemm",
    "int8_gemm_reference",
]

# %%
# The compute kernel
# ------------------
# Each program instance computes one BLOCK_M x BLOCK_N tile of C. It walks along K in steps of
# BLOCK_K, loading a BLOCK_M x BLOCK_K tile of A and a BLOCK_K x BLOCK_N tile of B and adding
# their product into an int32 accumulator with ``tl.dot`` (tensor-core IMMA / wgmma on the GPU).
#
# Pointer arithmetic uses the operands' strides rather than assuming row-major layouts, so
# transposed views, slices with a step and broadcast (stride-0) matrices are read in place, with
# no hidden ``.contiguous()`` copy.


@triton.jit
def int8_gemm_kernel(
    a_ptr, b_ptr, c_ptr,
    M, N, K,
    stride_am, stride_ak,
    stride_bk, stride_bn,
    stride_cm, stride_cn,
    BLOCK_M: tl.constexpr, BLOCK_N: tl.constexpr, BLOCK_K: tl.constexpr,
    GROUP_M: tl.constexpr,
):
    # -- Which tile of C does this program own? --------------------------------------------
    # Launching tiles in plain row-major order makes consecutive programs sweep a whole row of
    # C tiles, each needing a different column panel of B: by the time the next row of tiles
    # starts, B's panels have been evicted from L2. Grouping GROUP_M rows of tiles together and
    # walking them column by column means the programs in flight at any moment share a few
    # panels of A *and* of B, so most tile loads hit in L2 (the tutorial's "L2 Cache
    # Optimizations" section reports more than 10% on an A100 for large square problems).
    pid = tl.program_id(axis=0)
    num_pid_m = tl.cdiv(M, BLOCK_M)
    num_pid_n = tl.cdiv(N, BLOCK_N)
    num_pid_in_group = GROUP_M * num_pid_n
    group_id = pid // num_pid_in_group
    first_pid_m = group_id * GROUP_M
    # The last group can be shorter when num_pid_m is not a multiple of GROUP_M.
    group_size_m = tl.minimum(num_pid_m - first_pid_m, GROUP_M)
    pid_m = first_pid_m + ((pid % num_pid_in_group) % group_size_m)
    pid_n = (pid % num_pid_in_group) // group_size_m

    # -- Pointers to the first K-block of A and B -------------------------------------------
    # Rows of A and columns of B past the matrix edge are wrapped back with `% M` / `% N`:
    # they load real (in-bounds) data whose results land in rows/columns of C that the final
    # masked store discards. That keeps the loads in the inner loop masked along K only.
    offs_am = (pid_m * BLOCK_M + tl.arange(0, BLOCK_M)) % M
    offs_bn = (pid_n * BLOCK_N + tl.arange(0, BLOCK_N)) % N
    offs_k = tl.arange(0, BLOCK_K)
    a_ptrs = a_ptr + (offs_am[:, None] * stride_am + offs_k[None, :] * stride_ak)
    b_ptrs = b_ptr + (offs_k[:, None] * stride_bk + offs_bn[None, :] * stride_bn)

    # -- March along K -----------------------------------------------------------------------
    # The accumulator is int32 from the start: int8 x int8 products summed in int32 are exact
    # (see the K bound in the module docstring), which is the whole point of an integer GEMM.
    acc = tl.zeros((BLOCK_M, BLOCK_N), dtype=tl.int32)
    for k in range(0, tl.cdiv(K, BLOCK_K)):
        # The last K-block may overhang K; out-of-range lanes load 0, and 0 adds nothing to a
        # dot product, so any K works (1, primes, non-multiples of BLOCK_K).
        k_remaining = K - k * BLOCK_K
        a = tl.load(a_ptrs, mask=offs_k[None, :] < k_remaining, other=0)
        b = tl.load(b_ptrs, mask=offs_k[:, None] < k_remaining, other=0)
        acc = tl.dot(a, b, acc, out_dtype=tl.int32)
        a_ptrs += BLOCK_K * stride_ak
        b_ptrs += BLOCK_K * stride_bk

    # -- Write the tile back, masking rows/columns that fall outside C ----------------------
    offs_cm = pid_m * BLOCK_M + tl.arange(0, BLOCK_M)
    offs_cn = pid_n * BLOCK_N + tl.arange(0, BLOCK_N)
    c_ptrs = c_ptr + stride_cm * offs_cm[:, None] + stride_cn * offs_cn[None, :]
    c_mask = (offs_cm[:, None] < M) & (offs_cn[None, :] < N)
    tl.store(c_ptrs, acc, mask=c_mask)


# %%
# Tuning
# ------
# On the GPU the best tile shape depends on the problem: large square GEMMs want big tiles
# (128x256) to maximise operand reuse per byte loaded, while skinny ones (M = 16 tokens of a
# decode step) are bound by streaming B and want small BLOCK_M and many programs in flight.
# The large configurations below are drawn from the tutorial's fp8 set (one-byte operands, like
# int8, let BLOCK_K be 128: a 128-byte row per load); two skinny ones are added. Sized for H100/H200
# (228 KB of shared memory per SM: 3 stages x (128x128 + 128x256) bytes = 144 KB fits).
# Hopper's wgmma wants BLOCK_M >= 64 per warp group; below that Triton uses mma.sync instead.


def _gpu_configs() -> list:
    def cfg(bm, bn, bk, stages, warps):
        return triton.Config(
            {"BLOCK_M": bm, "BLOCK_N": bn, "BLOCK_K": bk, "GROUP_M": 8},
            num_stages=stages, num_warps=warps,
        )

    return [
        cfg(128, 256, 128, 3, 8),
        cfg(256, 128, 128, 3, 8),
        cfg(128, 128, 128, 4, 8),
        cfg(128, 128, 128, 4, 4),
        cfg(64, 128, 128, 4, 4),
        cfg(64, 64, 256, 4, 4),
        # skinny M (decode-like): keep BLOCK_M small so no program computes mostly padding
        cfg(16, 64, 256, 4, 4),
        cfg(32, 128, 128, 4, 4),
    ]


def _prune_configs(configs, named_args, **kwargs):
    """Only time configurations that fit the problem: skip BLOCK_M far above M and vice versa."""
    M = named_args["M"]
    if M <= 32:
        kept = [c for c in configs if c.kwargs["BLOCK_M"] <= 64]
    else:
        kept = [c for c in configs if c.kwargs["BLOCK_M"] >= 64]
    return kept or configs


def _quick_bench(kernel_call, quantiles):
    # The autotuner's default timing (25 ms warm-up + 100 ms per config) adds seconds for every
    # new shape; 5 + 25 ms per config ranks these configs just as well.
    from triton.testing import do_bench

    return do_bench(kernel_call, warmup=5, rep=25, quantiles=quantiles)


# The interpreter executes every program instance in Python on NumPy arrays, so autotuning there
# would only measure the interpreter. It gets one modest fixed tile instead: 32 x 32 x 32 keeps
# each simulated program cheap while still exercising masks, K loops and grouped ordering.
INTERPRETER_CONFIG = {"BLOCK_M": 32, "BLOCK_N": 32, "BLOCK_K": 32, "GROUP_M": 4}

# Small problems on the GPU are bound by launch latency, not by the tile shape, and autotuning
# one costs ~8 compilations plus timings per new shape, far more than it could ever save (and it
# would dominate a test suite of many small odd shapes). Below this many MACs one fixed tile is used.
SMALL_PROBLEM_MACS = 2**24  # e.g. 256 x 256 x 256
SMALL_GPU_CONFIG = {"BLOCK_M": 64, "BLOCK_N": 64, "BLOCK_K": 64, "GROUP_M": 8, "num_warps": 4, "num_stages": 3}

int8_gemm_kernel_autotuned = triton.autotune(
    configs=_gpu_configs(),
    key=["M", "N", "K"],
    prune_configs_by={"early_config_prune": _prune_configs},
    do_bench=_quick_bench,
)(int8_gemm_kernel)


# %%
# The launcher
# ------------
# Everything that can be wrong with the input is checked here, before launch, with a message
# that names the argument: a kernel launched on a wrong dtype or device fails later and far less
# clearly, or worse, returns garbage.


def _check_device(a: torch.Tensor) -> None:
    kind = a.device.type
    if kind == "cpu" and not CPU_LAUNCH_OK:
        raise RuntimeError(
            "a and b are on cpu but TRITON_INTERPRET=1 is not set: the compiled Triton kernel "
            "needs CUDA tensors; move them to CUDA, or set TRITON_INTERPRET=1 before triton is "
            "imported to run the kernel in Triton's interpreter"
        )
    if kind not in ("cuda", "cpu"):
        raise ValueError(
            f"a and b are on {a.device}; int8_gemm runs on cuda (or on cpu under TRITON_INTERPRET=1)"
        )


def int8_gemm(a: torch.Tensor, b: torch.Tensor, *, out: torch.Tensor | None = None) -> torch.Tensor:
    """C = A @ B for int8 ``a`` (M x K) and ``b`` (K x N), returned as int32 (M x N), exactly.

    Inputs may have any strides (transposed, sliced, broadcast views are read in place). ``out``,
    if given, must be an int32 (M, N) tensor on the same device; it may be a strided view and
    is returned. Raises TypeError/ValueError for bad operands and RuntimeError for CPU tensors
    when Triton is not in interpreter mode.
    """
    M, N, K = check_int8_gemm_operands(a, b)
    _check_device(a)
    if out is None:
        out = torch.empty((M, N), dtype=torch.int32, device=a.device)
    else:
        check_out(out, M, N, a.device)
    # The kernel forms element offsets in int32 (pointer + index); a view reaching further than
    # 2**31 - 1 elements from its start would wrap.
    for name, x in (("a", a), ("b", b), ("out", out)):
        if max_element_offset(x) > 2**31 - 1:
            raise ValueError(
                f"{name} spans more than 2**31-1 elements from its first one "
                f"(shape {tuple(x.shape)}, strides {x.stride()}); int8_gemm indexes with int32 offsets"
            )
    if M == 0 or N == 0:
        return out  # nothing to compute; a zero-sized grid is not a valid launch

    args = (
        a, b, out, M, N, K,
        a.stride(0), a.stride(1), b.stride(0), b.stride(1), out.stride(0), out.stride(1),
    )

    # 1-D launch grid: the kernel maps program ids to (pid_m, pid_n) itself (grouped order).
    def grid(meta):
        return (triton.cdiv(M, meta["BLOCK_M"]) * triton.cdiv(N, meta["BLOCK_N"]),)

    if TRITON_INTERPRET:
        int8_gemm_kernel[grid](*args, **INTERPRETER_CONFIG)
    else:
        with torch.cuda.device(a.device) if a.is_cuda else contextlib.nullcontext():  # CPU: compile-only
            if M * N * K <= SMALL_PROBLEM_MACS:
                int8_gemm_kernel[grid](*args, **SMALL_GPU_CONFIG)
            else:
                int8_gemm_kernel_autotuned[grid](*args)
    return out


# %%
# The reference
# -------------
# Plain torch, and exact. On CPU torch multiplies int64 matrices directly. On CUDA, torch has no
# int64 matmul; ``torch._int_mm`` (cuBLASLt IMMA) is exact where its shape rules allow it
# (M > 16, K and N positive multiples of 8); elsewhere float64 is exact too, because every
# product (|p| <= 2**14) and every partial sum (|s| <= K * 2**14 < 2**31) is an integer far
# below 2**53, so no rounding happens in any order of summation.


def _int_mm_accepts(M: int, N: int, K: int) -> bool:
    """torch._int_mm's shape rules on CUDA (aten/src/ATen/native/cuda/Blas.cpp, _int_mm_out_cuda)."""
    return M > 16 and K > 0 and K % 8 == 0 and N > 0 and N % 8 == 0


def int8_gemm_reference(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """Exact int32 C = A @ B in plain torch, on the operands' device; the kernels are held to it."""
    M, N, K = check_int8_gemm_operands(a, b)
    if a.device.type == "cuda":
        if _int_mm_accepts(M, N, K):
            return torch._int_mm(a.contiguous(), b.contiguous())
        return (a.to(torch.float64) @ b.to(torch.float64)).to(torch.int32)
    return (a.to(torch.int64) @ b.to(torch.int64)).to(torch.int32)


# %%
# Operation count
# ---------------
# What the benchmark divides by time. One MAC is two operations (a multiply and an add), the
# convention behind vendors' TOPS figures. Bytes moved is the ideal: A and B read once, C written
# once, which no tiled kernel beats, so bytes / time is a lower bound on achieved bandwidth.


@dataclass(frozen=True)
class GemmOps:
    """Ideal work and traffic of one M x N x K INT8 GEMM with an int32 output."""

    M: int
    N: int
    K: int
    macs: int
    bytes_moved: int

    @property
    def ops(self) -> int:
        return 2 * self.macs

    @property
    def arithmetic_intensity(self) -> float:
        """Operations per byte moved (ops/byte), for a roofline."""
        return self.ops / self.bytes_moved if self.bytes_moved else float("inf")


def count_ops(M: int, N: int, K: int) -> GemmOps:
    """MACs and ideal bytes moved (int8 A and B read once, int32 C written once)."""
    for name, v in (("M", M), ("N", N), ("K", K)):
        if not isinstance(v, int) or v < 0:
            raise ValueError(f"{name} must be a non-negative int, got {v!r}")
    return GemmOps(M=M, N=N, K=K, macs=M * N * K, bytes_moved=M * K + K * N + 4 * M * N)


# %%
# A quick self-check, as in the tutorial: ``python -m kernels.int8_gemm``.
if __name__ == "__main__":
    torch.manual_seed(0)
    device = "cpu" if TRITON_INTERPRET else "cuda"
    a = torch.randint(-128, 128, (67, 131), dtype=torch.int8, device=device)
    b = torch.randint(-128, 128, (131, 45), dtype=torch.int8, device=device)
    got, want = int8_gemm(a, b), int8_gemm_reference(a, b)
    print(f"int8_gemm 67x45x131 on {device} (interpreter={TRITON_INTERPRET}): "
          f"{'matches' if torch.equal(got, want) else 'DIFFERS FROM'} the torch reference")
