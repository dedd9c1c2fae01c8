"""What every GPU benchmark in bench/ shares: datasheet peaks, CUDA-synchronised timing, and the
machine line each benchmark prints. Import-light (torch only): bench/gpu_check.py imports the
benchmarks on a GPU machine that has no RTL tools."""

from __future__ import annotations

import math
import platform
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
#: How every GPU benchmark is timed (printed by the GPU check and stored with each result).
TIMING_METHOD = ("CUDA events around each call, L2 flushed before each (a 256 MiB buffer zeroed, untimed, "
                 "which also keeps the GPU busy so launch gaps are hidden), {reps} calls after 3 warm-up calls "
                 "(compile, autotune), median per call; each implementation of a workload timed once per run")
FLUSH_BYTES = 256 * 2**20  # over the 50-60 MB L2 of an H100 / H200
TARGET_S = 0.05  # GPU time of the timed calls of one item
MIN_REPS, MAX_REPS = 10, 200

_flush_buffer = None
_SAMPLES: dict = {}  # timing key -> per-call seconds: an implementation is timed once per run


def _flush() -> None:
    global _flush_buffer
    if _flush_buffer is None:
        _flush_buffer = torch.empty(FLUSH_BYTES // 4, dtype=torch.int32, device="cuda")
    _flush_buffer.zero_()


def _event_times_s(fn, reps: int) -> list[float]:
    """Per-call GPU seconds of ``reps`` calls, each after an L2 flush; one synchronise at the end."""
    events = [(torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)) for _ in range(reps)]
    for start, end in events:
        _flush()
        start.record()
        fn()
        end.record()
    torch.cuda.synchronize()
    return [start.elapsed_time(end) / 1e3 for start, end in events]


def reps_for(fn) -> int:
    """Warm up (compile, autotune, cuBLAS heuristics: 3 calls), then size the timed calls to ~TARGET_S."""
    for _ in range(2):
        fn()
    per_call = sorted(_event_times_s(fn, 1) + _event_times_s(fn, 1))[0]
    return int(min(MAX_REPS, max(MIN_REPS, math.ceil(TARGET_S / max(per_call, 1e-7)))))


def sample_per_call_s(fn, key=None) -> list[float]:
    """Per-call seconds of ``fn`` (TIMING_METHOD); under a ``key`` measured once per run and reused."""
    if key is not None and key in _SAMPLES:
        return _SAMPLES[key]
    samples = _event_times_s(fn, reps_for(fn))
    if key is not None:
        _SAMPLES[key] = samples
    return samples


def median_time_per_call_s(fn, reps=None, key=None) -> float:
    """Median per-call seconds of ``fn`` (TIMING_METHOD; ``reps`` is sized by reps_for and ignored)."""
    samples = sorted(sample_per_call_s(fn, key))
    return samples[len(samples) // 2]


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
        """An implementation's time on a workload: measured once per run (its own benchmark item
        reuses it through ``benchmark_per_call_s(..., key=cache.timing_key(impl, key))``)."""
        if (impl, key) not in self.times:
            self.times[(impl, key)] = median_time_per_call_s(self.workload(key).fn(impl),
                                                             key=self.timing_key(impl, key))
        return self.times[(impl, key)]

    def timing_key(self, impl, key):
        return (id(self), impl, key)


def benchmark_per_call_s(benchmark, fn, key=None) -> tuple[float | None, int]:
    """Time ``fn`` for pytest-benchmark as TIMING_METHOD says; the benchmark's stats are the per-call
    samples (not a loop's time). Under a ``key`` an implementation already timed in this run (as
    another item's peer) is not timed again: its samples are reused. Returns (median seconds per call,
    calls timed); the time is None under --benchmark-disable, where the call ran once only."""
    samples: list[float] = []
    benchmark.pedantic(lambda: samples.extend(sample_per_call_s(fn, key)), rounds=1, iterations=1)
    if benchmark.stats is None:
        return None, 1
    benchmark.stats.stats.data[:] = samples  # per-call seconds, before any statistic is computed
    benchmark.extra_info["timing"] = TIMING_METHOD.format(reps=len(samples))
    ordered = sorted(samples)
    return ordered[len(ordered) // 2], len(samples)


def print_past_capture(request, lines) -> None:
    """Print a benchmark's header past pytest's output capture, so results are read with it."""
    import contextlib

    capture = request.config.pluginmanager.get_plugin("capturemanager")
    with capture.global_and_fixture_disabled() if capture else contextlib.nullcontext():
        print("\n" + "\n".join(lines), flush=True)
