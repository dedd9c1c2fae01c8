"""
One entry point for a binary-coded GEMM: pick the table path or the tensor-core path by batch size
==================================================================================================

Three kernels compute y = x W^T for the same binary-coded weight (kernels/bcq.py layout):

* ``"lut"``  kernels.lut_gemm.lut_gemm: Triton, 16-entry nibble tables in registers read with
  ``tl.gather`` (warp shuffles), split-K at decode batches; int8 (exact) or fp16/fp32 activations.
  Work per weight byte grows with the batch.
* ``"cupy"`` kernels.lut_gemm_cupy.lut_gemm_cupy: 256-entry tables in shared memory, raw CUDA;
  fp16/bf16/fp32 activations; GPU only.
* ``"tc"``   kernels.bcq_tc_gemm.bcq_tc_gemm: the bits unpacked to +-alpha and fed to ``tl.dot``;
  int8 (exact, group_size % 16 == 0) or fp16/bf16/fp32 activations.

Which wins on an H200, and why
------------------------------
Worked for the benchmark's layer (bench/test_bench_bcq_paths.py): N = 28672, K = 8192, q = 3 planes,
fp16 scales per 128 columns, fp16 activations. The instruction counts are those of the loops as
compiled for sm_90 (SASS, ``python -m bench.sm90`` builds them), the rates the H200's: 132 SMs at
~1.98 GHz issuing 4 warp-instructions per clock (1.05 T warp-instructions/s), integer ALUs at 64
lanes and shuffles at 32 lanes per SM and clock; HBM 4,243 GB/s (measured copy), bf16 dense
matmul 697 TFLOP/s (measured). Estimates, not measurements: the benchmark times them.

* Bytes moved per weight are the same for both paths: q/8 bytes of signs plus q fp16 scales per
  128 weights, 0.42 B (bf16: 2 B). 99 MB for the layer, 23 us at 4,243 GB/s (bf16: 470 MB,
  111 us; its measured GEMV takes 123 us). Neither path is bound by them; the work per byte decides.
* Table path: per weight byte and batch row, two 16-entry table reads (shuffles), ~6 integer
  operations (nibble shifts and masks, the shuffle's lane) and 2 adds; the tables (64 operations
  per 4 activations) are built once per program step and shared by its 128 (row, plane) pairs,
  ~2 instructions per byte. ~14 instructions per byte and row: q N K / 8 = 88 M bytes take ~38 us
  at batch 1 (issue bound; the integer ALUs need ~32 us, the shuffles ~25 us). Every further batch
  row repeats all of it: a tile of BLOCK_M rows (rows rounded up to a power of two) costs ~31 us
  per row at 2-8 rows (11-12 instructions per byte and row), ~42 us per row at 16.
* Tensor-core path: every weight is unpacked once per 16-row tile into sum_i (bit ? +alpha_i :
  -alpha_i): q bit tests, selects and adds, the conversion to fp16 and the shared-memory staging
  for the MMA, 22 instructions per weight (13 of them integer) at q = 3: 235 M weights take
  ~157 us of issue and ~187 us of integer ALU, whatever the batch up to 16 rows. The tensor cores
  are nearly idle: the padded 16-row product is 7.5 GFLOP, 11 us at 697 TFLOP/s.

**Batch 1: the table path wins**, ~38 us against ~160-190 us (and bf16's 123 us): for 8 weights
the table path spends ~3 x 14 = 42 instructions (one byte per plane), the tensor-core path
~8 x 22 = 176, and both move the same bytes.
**Batch 16: the tensor-core path wins**, ~160-190 us against ~670 us: the table reads have grown 16
times (16 rows, table building now ~25% of the loop with 32 pairs per program), the unpacking
is shared by the 16 rows of one tile and the MMA is still cheap.

Crossover: the table path costs ~BLOCK_M x 31 us from 2 rows, the tensor-core path ~160-190 us
flat up to 16 rows: tables up to 4 rows (a 4-row tile, ~124 us), tensor cores from 5 (a table
tile of 8 rows, ~250 us). ``path="auto"`` therefore takes a table path below
:data:`TC_CROSSOVER_BATCH` = 5 rows of x and the tensor cores from there on. The benchmark measures
every path at batch 1, 4, 16, 64, 256, 1024 and records the measured ``crossover_batch``: set the
constant to it once a GPU has run it.

Below the crossover "auto" takes "lut" when it accepts the operands (int8, fp16, fp32 x; no bf16
scales), else "cupy" for bf16 on a GPU with CuPy and a working runtime compiler, else "tc"; at or
above it "tc", unless the group size is not a multiple of 16 on the int8 path (plane dots need a
16-column step inside one group), where "lut" is the only exact kernel. Every choice is one of the
three kernels, never torch.
"""

from __future__ import annotations

import torch

from kernels.bcq_tc_gemm import MIN_DOT_K, bcq_tc_gemm, check_bcq_tc_operands
from kernels.lut_gemm import lut_gemm, lut_gemm_reference

__all__ = ["PATHS", "TC_CROSSOVER_BATCH", "bcq_gemm", "bcq_gemm_reference", "choose_path"]

#: smallest batch (rows of x) for which "auto" takes the tensor cores (module docstring); the
#: benchmark's measured crossover_batch replaces it once a GPU has run it
TC_CROSSOVER_BATCH = 5
PATHS = ("auto", "lut", "tc", "cupy")
LUT_ACTIVATIONS = (torch.int8, torch.float16, torch.float32)


def _cupy_available() -> bool:
    """CuPy, a GPU it reaches and a working runtime compiler (kernels.lut_gemm_cupy's probe)."""
    from kernels.lut_gemm_cupy import cupy_unavailable_reason

    return cupy_unavailable_reason() is None


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
