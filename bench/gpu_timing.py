"""What every GPU benchmark in bench/ shares: datasheet peaks, CUDA-synchronised timing, and the
machine line each benchmark prints. Import-light (torch only): bench/gpu_check.py imports the
benchmarks on a GPU machine that has no RTL tools."""

from __future__ import annotations

import math
import platform
import time
from dataclasses import dataclass

import pytest
import torch

#: ``pytestmark = GPU_ONLY`` in a GPU benchmark module: marked gpu, skipped without CUDA
GPU_ONLY = [pytest.mark.gpu,
            pytest.mark.skipif(not torch.cuda.is_available(), reason="GPU benchmark: needs a CUDA device")]


# ---------------------------------------------------------------------------------- peaks
@dataclass(frozen=True)
class GpuPeak:
    """Datasheet peaks of one GPU model: dense (no 2:4 sparsity) tensor-core rates and HBM bandwidth."""

    model: str
    int8_dense_tops: float
    bf16_dense_tflops: float
    hbm_tb_per_s: float
    source: str


# NVIDIA's datasheets print tensor-core rates "with sparsity" (2:4 structured); dense is half.
# The rates are at boost clock; sustained clocks under full tensor-core load are lower, so 100%
# is not reachable in practice. Matched by substring of torch.cuda.get_device_name(), most
# specific first (the H100 SXM reports itself as "NVIDIA H100 80GB HBM3").
GPU_PEAKS = [
    GpuPeak("H200 NVL", 3341 / 2, 1671 / 2, 4.8,
            "NVIDIA H200 Tensor Core GPU datasheet (2024): INT8 3,341 TOPS / BF16 1,671 TFLOPS with sparsity, 4.8 TB/s"),
    GpuPeak("H200", 3958 / 2, 1979 / 2, 4.8,
            "NVIDIA H200 Tensor Core GPU datasheet (2024), SXM: INT8 3,958 TOPS / BF16 1,979 TFLOPS with sparsity, 4.8 TB/s"),
    GpuPeak("H100 NVL", 3341 / 2, 1671 / 2, 3.9,
            "NVIDIA H100 Tensor Core GPU datasheet (2023), NVL: INT8 3,341 TOPS / BF16 1,671 TFLOPS with sparsity, 3.9 TB/s"),
    GpuPeak("H100 PCIe", 3026 / 2, 1513 / 2, 2.0,
            "NVIDIA H100 Tensor Core GPU datasheet (2023), PCIe: INT8 3,026 TOPS / BF16 1,513 TFLOPS with sparsity, 2.0 TB/s"),
    GpuPeak("H100", 3958 / 2, 1979 / 2, 3.35,
            "NVIDIA H100 Tensor Core GPU datasheet (2023), SXM: INT8 3,958 TOPS / BF16 1,979 TFLOPS with sparsity, 3.35 TB/s"),
]


def gpu_peak(device_name: str) -> GpuPeak | None:
    for peak in GPU_PEAKS:
        if peak.model in device_name:
            return peak
    return None


# ---------------------------------------------------------------------------------- timing
ROUND_S = 0.025  # target length of one timed round
ROUNDS = 10


def one_round(fn, reps):
    for _ in range(reps):
        fn()
    torch.cuda.synchronize()


def reps_for(fn) -> int:
    """Warm up (compile, autotune, cuBLAS heuristics), then size a round to ~ROUND_S."""
    one_round(fn, 2)
    t0 = time.perf_counter()
    one_round(fn, 3)
    per_call = (time.perf_counter() - t0) / 3
    return max(1, math.ceil(ROUND_S / per_call))


def median_time_per_call_s(fn, reps) -> float:
    rounds = []
    for _ in range(ROUNDS):
        t0 = time.perf_counter()
        one_round(fn, reps)
        rounds.append(time.perf_counter() - t0)
    rounds.sort()
    return rounds[len(rounds) // 2] / reps



def machine_info() -> dict[str, str]:
    """GPU, compute capability and the software versions, for each benchmark's header line."""
    import triton

    return {"gpu": torch.cuda.get_device_name(), "capability": ".".join(map(str, torch.cuda.get_device_capability())),
            "python": platform.python_version(), "torch": torch.__version__, "cuda": str(torch.version.cuda),
            "triton": triton.__version__}


class WorkloadCache:
    """One workload on the GPU at a time (the big ones take GBs), with its measured times.

    ``make(key)`` builds a workload with ``.check()`` (correctness before timing) and ``.fn(impl)``
    (a zero-argument callable that runs one implementation).
    """

    def __init__(self, make):
        self.make, self.workloads, self.times = make, {}, {}

    def workload(self, key):
        if key not in self.workloads:
            self.workloads.clear()
            self.times.clear()
            torch.cuda.empty_cache()
            self.workloads[key] = self.make(key)
            self.workloads[key].check()
        return self.workloads[key]

    def time_s(self, impl, key) -> float:
        if (impl, key) not in self.times:
            fn = self.workload(key).fn(impl)
            self.times[(impl, key)] = median_time_per_call_s(fn, reps_for(fn))
        return self.times[(impl, key)]


def benchmark_per_call_s(benchmark, fn) -> tuple[float | None, int]:
    """Time ``fn`` with pytest-benchmark: ROUNDS rounds of ``reps`` back-to-back calls, each round
    ending in a device synchronise. Returns (median seconds per call, reps); the time is None under
    --benchmark-disable, where the call ran once only."""
    reps = reps_for(fn)
    benchmark.pedantic(one_round, args=(fn, reps), rounds=ROUNDS, warmup_rounds=1, iterations=1)
    if benchmark.stats is None:
        return None, reps
    return benchmark.stats.stats.median / reps, reps


def print_past_capture(request, lines) -> None:
    """Print a benchmark's header past pytest's output capture, so results are read with it."""
    import contextlib

    capture = request.config.pluginmanager.get_plugin("capturemanager")
    with capture.global_and_fixture_disabled() if capture else contextlib.nullcontext():
        print("\n" + "\n".join(lines), flush=True)
