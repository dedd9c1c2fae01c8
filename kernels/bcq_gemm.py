"""
One entry point for a binary-coded GEMM: pick the table path or the tensor-core path by batch size
==================================================================================================

Three kernels compute y = x W^T for the same binary-coded weight (kernels/bcq.py layout):

* ``"lut"``  kernels.lut_gemm.lut_gemm: Triton, 256-entry tables in registers, ``tl.gather``;
  int8 (exact) or fp16/fp32 activations. Work per weight byte grows with the batch.
* ``"cupy"`` kernels.lut_gemm_cupy.lut_gemm_cupy: the same tables in shared memory, raw CUDA;
  fp16/bf16/fp32 activations; GPU only.
* ``"tc"``   kernels.bcq_tc_gemm.bcq_tc_gemm: the bits unpacked to +-1 and fed to ``tl.dot``;
  int8 (exact, group_size % 16 == 0) or fp16/bf16/fp32 activations. Costs about a dense GEMM.

At decode batches every path is bound by streaming the packed weights and the tables need the
least work per byte; as the batch grows the table reads grow with it while the tensor cores stay
nearly free until the GEMM turns compute bound. ``path="auto"`` takes a table path below
:data:`TC_CROSSOVER_BATCH` rows of x and the tensor cores from there on.

TC_CROSSOVER_BATCH is a documented guess, to be tuned on a GPU: bench/test_bench_bcq_paths.py
measures every path at batch 1, 4, 16, 64, 256, 1024 on an 8192 x 28672 layer and records the
smallest batch at which the tensor-core path beats both table paths as ``crossover_batch``; set
the constant to that. The guess, 8: the tensor-core path unpacks every weight bit once per
16-row tile whatever M <= 16 is, i.e. it is as memory bound at M = 8 as at M = 1, while the table
kernels do M table reads per weight byte, so by M ~ 8 they read shared memory/registers 8 times
per byte they stream.

Below the crossover "auto" takes "lut" when it accepts the operands (int8, fp16, fp32 x; no bf16
scales), else "cupy" for bf16 on a GPU with CuPy, else "tc"; at or above it "tc", unless the group size is
not a multiple of 16 on the int8 path (plane dots need a 16-column step inside one group), where
"lut" is the only exact kernel. Every choice is one of the three kernels, never torch.
"""

from __future__ import annotations

import torch

from kernels.bcq_tc_gemm import MIN_DOT_K, bcq_tc_gemm, check_bcq_tc_operands
from kernels.lut_gemm import lut_gemm, lut_gemm_reference

__all__ = ["PATHS", "TC_CROSSOVER_BATCH", "bcq_gemm", "bcq_gemm_reference", "choose_path"]

#: smallest batch (rows of x) for which "auto" takes the tensor cores; tune with the benchmark
TC_CROSSOVER_BATCH = 8
PATHS = ("auto", "lut", "tc", "cupy")
LUT_ACTIVATIONS = (torch.int8, torch.float16, torch.float32)


def _cupy_available() -> bool:
    try:
        import cupy  # noqa: F401
    except ImportError:
        return False
    return True


def choose_path(M: int, x_dtype: torch.dtype, scale_dtype: torch.dtype, group_size: int, device_type: str,
                crossover: int = TC_CROSSOVER_BATCH) -> str:
    """The kernel "auto" runs for a batch of M rows (module docstring)."""
    integer = x_dtype == torch.int8
    if integer and group_size % MIN_DOT_K:
        return "lut"
    if M >= crossover:
        return "tc"
    if x_dtype in LUT_ACTIVATIONS and scale_dtype != torch.bfloat16:
        return "lut"
    if device_type == "cuda" and _cupy_available():
        return "cupy"
    return "tc"


def bcq_gemm(x: torch.Tensor, packed: torch.Tensor, scales: torch.Tensor, group_size: int,
             path: str = "auto") -> torch.Tensor:
    """y = x W^T for binary-coded W: int32 for int8 ``x`` (exact), fp32 for float ``x``.

    ``path`` is "auto" (by batch size, module docstring), "lut", "tc" or "cupy". Operands as in
    kernels.bcq_tc_gemm.bcq_tc_gemm; each path raises on the dtypes it does not take.
    """
    if not isinstance(path, str) or path not in PATHS:
        raise ValueError(f"path must be one of {', '.join(repr(p) for p in PATHS)}, got {path!r}")
    M, _, _, _, _ = check_bcq_tc_operands(x, packed, scales, group_size, tensor_cores=False)
    if path == "auto":
        path = choose_path(M, x.dtype, scales.dtype, group_size, x.device.type)
    if path == "lut":
        return lut_gemm(x, packed, scales, group_size)
    if path == "tc":
        return bcq_tc_gemm(x, packed, scales, group_size)
    from kernels.lut_gemm_cupy import lut_gemm_cupy  # CuPy itself is imported on call

    return lut_gemm_cupy(x, packed, scales, group_size)


def bcq_gemm_reference(x: torch.Tensor, packed: torch.Tensor, scales: torch.Tensor, group_size: int) -> torch.Tensor:
    """kernels.lut_gemm.lut_gemm_reference, also for bf16 operands (widened to fp32: exact)."""
    check_bcq_tc_operands(x, packed, scales, group_size, tensor_cores=False)
    if x.dtype == torch.bfloat16:
        x = x.to(torch.float32)
    if scales.dtype == torch.bfloat16:
        scales = scales.to(torch.float32)
    return lut_gemm_reference(x, packed, scales, group_size)
